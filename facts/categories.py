"""The category columns 业务类型 and 计划类型: part of every fact table's delete scope
(月度, 业务类型, 计划类型) and read by the code rules (产品线代码, default 计划代码 and 组合代码).

A category cell goes through the codes' normalisation (:func:`facts.codes.code_text`: NFKC, no
format characters, no whitespace; a control character is a row error) before any rule or scope
reads it: ``企年受托\\u200b``, ``\\ufeff企年受托``, ``企年 受托`` and ``企年受托`` in full-width
forms are all 企年受托, and the spellings warning says so. Then:

- an empty cell is a row error: a delete scope with an empty 业务类型 or 计划类型 would be a
  scope of its own, which no corrected rerun replaces;
- 计划类型 must be one the rules know (the keys of ``mappings.default_portfolio_code``:
  集合计划, 单一计划, 职业年金); another value is a row error naming the cell, because a typo
  would silently create a delete scope of its own;
- an 业务类型 that ``mappings.business_type_code`` does not map is kept with 产品线代码 empty,
  counted and reported (:class:`UnmappedBusinessTypes`).

Pure: no database, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from facts.cells import CellProblem, fit
from facts.codes import code_text

SCOPE = "月度, 业务类型, 计划类型"


def category(value: Any, column: str) -> str:
    """A 业务类型 or 计划类型 cell, normalised; CellProblem when it is empty."""
    text = code_text(value)
    if text is None:
        raise CellProblem(f"{column} is empty; it is part of the delete scope ({SCOPE}): fill the cell")
    return fit(text, column)


def business_type(value: Any) -> str:
    """业务类型, normalised; never empty."""
    return category(value, "业务类型")


def plan_type(value: Any, *, known: Collection[str]) -> str:
    """计划类型, normalised; CellProblem unless it is one of ``known``."""
    text = category(value, "计划类型")
    if text not in known:
        raise CellProblem(
            f"计划类型 {text!r} is not one of {', '.join(known)} (the keys of mappings.default_portfolio_code); "
            "correct the cell"
        )
    return text


@dataclass
class UnmappedBusinessTypes:
    """The kept rows whose 业务类型 has no 产品线代码, counted per 业务类型."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, name: str) -> None:
        self.counts[name] += 1

    def warnings(self) -> list[str]:
        """One warning naming each unmapped 业务类型 and its row count; none when all are mapped."""
        if not self.counts:
            return []
        counted = ", ".join(f"{name}: {count} rows" for name, count in self.counts.most_common())
        return [
            f"{self.counts.total()} row(s) have an 业务类型 that mappings.business_type_code does not map "
            f"({counted}); their 产品线代码 is left empty — add the 业务类型 to the mapping file and run again"
        ]
