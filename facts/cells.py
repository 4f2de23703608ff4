"""One cell of a sheet as text, and the widths of the fact columns (ANNUITY_PERFORMANCE.md §3).

Pure. The rules of :mod:`facts.cleansing` and :mod:`facts.codes` build on these: a rule raises
:class:`CellProblem` for a value it cannot accept, and the sheet cleanser turns that into a row
error naming the cell.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, overload

from facts.excel import CellError

PLACEHOLDERS = frozenset({"", "-", "N/A", "无", "暂无", "null", "NULL", "None"})
# The text fact columns' widths, of every installed sheet type (facts.domain.domain_register): a
# column name means one width in every fact table, so a code rule checks the same limit anywhere.
_WIDTHS: dict[str, int] = {}
MAX_LENGTH: Mapping[str, int] = _WIDTHS
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # PostgreSQL text holds neither NUL nor a lone surrogate


def column_widths_register(widths: Mapping[str, int]) -> None:
    """Add a fact table's text column widths; ValueError when a column already has another."""
    for column, width in widths.items():
        if _WIDTHS.setdefault(column, width) != width:
            raise ValueError(f"fact column {column} is {width} characters wide, elsewhere {_WIDTHS[column]}")


class CellProblem(ValueError):
    """A cell value a rule cannot accept; the message says why."""


def clean_text(value: Any) -> str | None:
    """A cell as text: stripped, placeholders → None, integral numbers without ``.0``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if _UNSTORABLE.search(text):
            raise CellProblem(_unstorable(text))
        return None if text in PLACEHOLDERS else text
    reject_special(value, "text")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem(f"{value} is not text")
        return str(int(value)) if value.is_integer() else repr(value)
    return value.isoformat() if isinstance(value, date) else str(value)


def _unstorable(text: str) -> str:
    char = _UNSTORABLE.findall(text)[0]
    what = "a NUL character" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"
    return f"contains {what}, which PostgreSQL cannot store as text"


def reject_special(value: Any, expected: str) -> None:
    """Raise CellProblem for a formula error or a TRUE/FALSE cell, which are never ``expected``."""
    if isinstance(value, CellError):
        raise CellProblem(value.problem)
    if isinstance(value, bool):
        raise CellProblem(f"a TRUE/FALSE cell is not {expected}")


@overload
def fit(text: str, column: str) -> str: ...
@overload
def fit(text: str | None, column: str) -> str | None: ...
def fit(text: str | None, column: str) -> str | None:
    """``text``, unless it is longer than the fact column ``column`` holds."""
    limit = MAX_LENGTH[column]
    if text is not None and len(text) > limit:
        raise CellProblem(f"{column} would be {len(text)} characters; the column holds at most {limit}")
    return text


VALUE_SHOWN = 300  # characters of a refused value a row error keeps; RowError.source has the whole cell


def shown_value(value: Any) -> Any:
    """``value`` as a row error keeps it: a text longer than :data:`VALUE_SHOWN` is cut there
    and says how long it was (a 30,000-character cell is not copied into every report)."""
    if isinstance(value, str) and len(value) > VALUE_SHOWN:
        return f"{value[:VALUE_SHOWN]}… ({len(value):,} characters in all)"
    return value
