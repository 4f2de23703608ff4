"""Cleaning 客户名称 (ANNUITY_PERFORMANCE.md §3): a pure function of one text, no I/O.

The steps run in the order the spec gives them:

1. remove all whitespace (and zero-width characters, which are invisible whitespace in practice);
2. remove ``及下属子企业``;
3. remove ONE trailing ``(团托)``, ``-<letters>``, ``-<digits>``, ``-养老`` or ``-福利``;
4. remove a status word (longest first) at the start and at the end, each only when it stands
   apart: bracketed (``（已转出）戊公司``, ``戊公司(保留)``) or separated by a dash or another
   non-Chinese character (``已转出-戊公司``, ``戊公司-已转出``). Glued to Chinese text it stays
   (``原平市煤业有限公司``, ``集合计划客户``). Separator punctuation next to the removed word goes
   with it; a letter or digit next to it is part of the name and stays (``原ABC公司`` → ``ABC公司``);
5. remove trailing dashes and unmatched trailing brackets (a balanced ``（北京）`` stays);
6. full-width ASCII → half-width;
7. ASCII ``()`` → ``（）``.

Both bracket forms, ``()`` and ``（）``, count as brackets in steps 3–5 because step 6 has not run
yet and real files mix them.
"""

from __future__ import annotations

import functools
import re

STATUS_WORDS: tuple[str, ...] = (
    "已转出", "待转出", "终止", "转出", "转移终止", "已作废", "已终止", "保留", "保留账户", "存量",
    "已转移终止", "本部", "未使用", "集合", "原",
)  # fmt: skip

_OPEN = "(（"
_CLOSE = ")）"
_DASHES = "-－—–―‐"
# Punctuation that separates a status word from the name and is removed with it.
_SEPARATORS = _DASHES + "_＿:：/／\\·.．,，、;；|"
_CHINESE = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))

_WORDS = "|".join(re.escape(word) for word in sorted(STATUS_WORDS, key=len, reverse=True))
_DASH = f"[{re.escape(_DASHES)}]"
_SEPARATOR = f"[{re.escape(_SEPARATORS)}]"
_NOT_CHINESE = f"[^{_CHINESE}]"

_TRAILING_SUFFIX = re.compile(rf"(?:[(（]团托[)）]|{_DASH}(?:[A-Za-zＡ-Ｚａ-ｚ]+|[0-9０-９]+|养老|福利))$")
_STATUS_AT_START = re.compile(rf"^(?:[(（](?:{_WORDS})[)）]|(?:{_WORDS})(?={_NOT_CHINESE}){_SEPARATOR}*)")
_STATUS_AT_END = re.compile(rf"(?:[(（](?:{_WORDS})[)）]|{_SEPARATOR}*(?<={_NOT_CHINESE})(?:{_WORDS}))$")
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH_BRACKETS = str.maketrans({"(": "（", ")": "）"})


@functools.lru_cache(maxsize=1 << 16)
def clean_customer_name(text: str | None) -> str | None:
    """The cleaned 客户名称 of ``text`` (already stripped of placeholders); None when nothing is left."""
    if not text:
        return None
    name = "".join(text.translate(_ZERO_WIDTH).split())
    name = name.replace("及下属子企业", "")
    name = _TRAILING_SUFFIX.sub("", name, count=1)
    name = _STATUS_AT_START.sub("", name, count=1)
    name = _STATUS_AT_END.sub("", name, count=1)
    name = _strip_trailing_marks(name)
    name = name.translate(_HALF_WIDTH).translate(_FULL_WIDTH_BRACKETS)
    return name or None


def _strip_trailing_marks(name: str) -> str:
    """Remove trailing dashes and trailing brackets that close nothing or open nothing."""
    while name:
        last = name[-1]
        if last in _DASHES or last in _OPEN or (last in _CLOSE and not _closes_something(name)):
            name = name[:-1]
        else:
            break
    return name


def _closes_something(name: str) -> bool:
    """Whether the closing bracket ending ``name`` matches an opening bracket before it."""
    depth = 0
    for char in name[:-1]:
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE and depth:
            depth -= 1
    return depth > 0
