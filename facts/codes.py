"""Codes used as keys: 计划代码, 组合代码, 机构代码, 产品线代码 and 年金账户号 (issue 9, item 5).

Every code goes through ONE normalisation, :func:`normalised_code`, before any rule reads it:
NFKC (full-width ``Ｘ１００`` → ``X100``), then without format characters (Unicode category Cf:
zero-width spaces and joiners, U+2060, U+FEFF, bidi controls) and without any whitespace. Without
it one plan typed three ways becomes three reference rows. Plan codes are then upper-cased, as
the business always has; every other code keeps its case, because warehouses hold
case-sensitive portfolio codes (``Fund123``).

:class:`CodeSpellings` collects the spellings a run saw, for two warnings: several raw values
read as one code, and two codes that differ only in case. Pure: no database, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from facts.cells import PLACEHOLDERS, CellProblem, clean_text, fit

DEFAULT_PLAN_CODE = {"集合计划": "AN001", "单一计划": "AN002"}
OCCUPATIONAL_BUSINESS_TYPES = frozenset({"职年受托", "职年投资"})  # portfolio QTAN003 whatever the plan type
OCCUPATIONAL_PORTFOLIO_CODE = "QTAN003"
HEAD_OFFICE_BRANCH_CODE = "G00"
CASE_INSENSITIVE = frozenset({"计划代码"})  # upper-cased by rule; other codes keep their case
_F_PREFIXED = re.compile(r"F[0-9A-Z]+")


def normalised_code(text: str) -> str:
    """``text`` in NFKC, without format characters (Cf) and whitespace."""
    if text.isascii() and text.isprintable() and " " not in text:  # nearly every code: nothing to do
        return text
    return "".join(char for char in unicodedata.normalize("NFKC", text) if not _invisible(char))


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf"


def code_text(value: Any) -> str | None:
    """A code cell as normalised text; None when blank or a placeholder (also once normalised:
    ``ＮＵＬＬ``, a lone zero-width space). A date or time cell is refused: Excel turns a code
    typed as ``3-1`` or ``2026-02`` into a date, and the date's text is not the code. So is a
    control character (category Cc) left once whitespace is gone (``F7224\\x011``)."""
    if isinstance(value, date | time):
        raise CellProblem(
            f"a date/time cell ({value.isoformat()}) is not a code; Excel may have turned the code into a date: "
            "format the column as text and type the code again"
        )
    text = clean_text(value)
    code = normalised_code(text) if text else None
    if code and not code.isprintable():
        _reject_controls(code)
    return None if code is None or code in PLACEHOLDERS else code


def _reject_controls(code: str) -> None:
    """CellProblem naming the first control character (C0, DEL, C1) left in ``code``, escaped:
    kept, ``F7224\\x011`` would be a new key of its own and escape the code rules."""
    controls = [char for char in code if unicodedata.category(char) == "Cc"]
    if controls:
        raise CellProblem(
            f"contains the control character {ascii(controls[0])[1:-1]}, which no code holds: remove it from the cell"
        )


def clean_plan_code(value: Any, *, plan_type: str | None, corrections: Mapping[str, str]) -> str:
    """计划代码: normalised, corrected (also when typed in lower case), upper-case; blank → by 计划类型."""
    text = code_text(value)
    if text:
        corrected = corrections.get(text) or corrections.get(text.upper())
        return fit(_upper(normalised_code(corrected) if corrected else text), "计划代码")
    default = DEFAULT_PLAN_CODE.get(plan_type or "")
    if default is None:
        raise CellProblem(f"计划代码 is empty and 计划类型 {plan_type!r} has no default plan code")
    return default


def clean_portfolio_code(value: Any) -> str | None:
    """组合代码, normalised, case kept; ``F`` + digits/capitals loses the F (``F9003`` → ``9003``,
    ``Fund123`` stays)."""
    text = code_text(value)
    return fit(text[1:] if _F_PREFIXED.fullmatch(text) else text, "组合代码") if text else None


def default_portfolio_code(business_type: str | None, plan_type: str | None, defaults: Mapping[str, str]) -> str | None:
    """The 组合代码 of a row whose cell is blank: QTAN003 for 职年受托/职年投资, else by 计划类型."""
    if business_type in OCCUPATIONAL_BUSINESS_TYPES:
        return OCCUPATIONAL_PORTFOLIO_CODE
    default = defaults.get(plan_type or "")
    return fit(normalised_code(default), "组合代码") if default else None


def branch_code(
    name: str | None, own_code: Any, *, overrides: Mapping[str, str], branch_codes: Mapping[str, str]
) -> str:
    """机构代码: the shipped override of 机构名称, then 组织架构, then the sheet's code, else G00;
    normalised wherever it comes from."""
    code = (overrides.get(name) or branch_codes.get(name)) if name else None
    return fit((normalised_code(code) if code else None) or code_text(own_code) or HEAD_OFFICE_BRANCH_CODE, "机构代码")


def product_line_code(business_type: str | None, mapping: Mapping[str, str]) -> str | None:
    """产品线代码 of 业务类型, normalised (None when the type is not mapped)."""
    code = mapping.get(business_type) if business_type else None
    return fit(normalised_code(code), "产品线代码") if code else None


def account_number(value: Any) -> str | None:
    """年金账户号: 集团企业客户号, normalised, without its leading ``C``."""
    text = code_text(value)
    return fit(text[1:] if text and text[0] == "C" else text, "年金账户号") or None


@dataclass
class CodeSpellings:
    """The distinct spellings of each code column's cells in one run (one instance per batch).

    ``seen[column][code]`` holds each spelling read as ``code`` (the normalised cell text, before
    corrections and the F rule, which are deliberate and documented) with its first stripped cell
    text: a dict spelling → text, or — nearly every code, spelled one way only, as its cell text —
    that one text itself (no dict per code: a run of 1,000,000 rows sees 300,000 codes). In
    :data:`CASE_INSENSITIVE` columns both the code and the spelling are upper-cased: ``x100`` is
    X100 by rule, not a second spelling."""

    seen: dict[str, dict[str, str | dict[str, str]]] = field(default_factory=dict)

    def record(self, column: str, cell: Any) -> None:
        """Remember the spelling of ``cell``, a cell of code column ``column``."""
        try:
            text = clean_text(cell)
        except CellProblem:  # a cell the rule did not need (机构代码 when 机构名称 gives the code)
            return
        code = normalised_code(text) if text else ""
        if not (text and code and code not in PLACEHOLDERS):
            return
        spelling = text
        if column in CASE_INSENSITIVE:  # x100 is X100 by rule; an upper-case text is kept as it is
            code, spelling = _upper(code), _upper(text)
        self._add(column, code, spelling, text)

    def merge(self, other: CodeSpellings) -> None:
        """Add what ``other`` saw after what this one saw, as if its cells had been recorded here
        in their order (facts/cleansing_worker.py: the second part of a sheet, read elsewhere)."""
        for column, codes in other.seen.items():
            for code, held in codes.items():
                for spelling, text in ((held, held),) if isinstance(held, str) else held.items():
                    self._add(column, code, spelling, text)

    def _add(self, column: str, code: str, spelling: str, text: str) -> None:
        codes = self.seen.get(column)
        if codes is None:
            codes = self.seen[column] = {}
        held = codes.get(code)
        if held is None:
            codes[code] = text if spelling == text else {spelling: text}
        elif isinstance(held, str):  # one spelling so far, the text itself
            if spelling != held:
                codes[code] = {held: held, spelling: text}
        else:
            held.setdefault(spelling, text)

    def recording(self, column: str, compute: Callable[[Any], Any], cell: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``compute``, recording the spelling of ``cell(key)`` of each key it accepts."""

        def compute_and_record(key: Any) -> Any:
            value = compute(key)
            self.record(column, cell(key))
            return value

        return compute_and_record

    def warnings(self) -> list[str]:
        """One warning per code spelled several ways, and per group of codes equal but for case."""
        found: list[str] = []
        for column, codes in self.seen.items():
            found += [
                _collapsed(column, code, list(texts.values()))
                for code, texts in codes.items()
                if isinstance(texts, dict) and len(texts) > 1
            ]
            found += [_case_only(column, group) for group in _case_groups(codes) if len(group) > 1]
        return found


def _upper(text: str) -> str:
    """``text`` upper-cased: ``text`` itself when it is already (no second copy kept)."""
    upper = text.upper()
    return text if upper == text else upper


def _collapsed(column: str, code: str, spellings: list[str]) -> str:
    shown = ", ".join(map(repr, spellings))  # repr: a zero-width character shows as \u200b
    return f"{column}: {len(spellings)} spellings ({shown}) are read as one code, {code}; check the source data"


def _case_groups(codes: Mapping[str, Any]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for code in codes:
        groups.setdefault(code.casefold(), []).append(code)
    return list(groups.values())


def _case_only(column: str, codes: list[str]) -> str:
    return (
        f"{column}: {', '.join(codes)} differ only in case and stay {len(codes)} separate codes "
        "(codes are case-sensitive); check which spelling is right"
    )
