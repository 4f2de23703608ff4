"""Amounts and return rates of fact rows (ANNUITY_PERFORMANCE.md §3): numbers as Excel and people
type them, rounded half-up to the fact columns' numeric(p, s). Which columns hold them is the
sheet type's (its row cleaner lists its :class:`FastFloat` columns).

Pure. Each parse function raises :class:`~facts.cells.CellProblem` for a value it cannot accept.
:class:`FastFloat` describes how the sheet cleanser rounds a float cell without Decimal text
(800,000 cells per 100,000 rows), agreeing with the parse functions exactly.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, NamedTuple

from facts.cells import CellProblem, clean_text, reject_special, shown_value

# The warehouse's types: amounts numeric(18,4), rates numeric(10,6) (each domain's tests check
# that its model's amount and rate columns are declared so).
AMOUNT_PLACES, AMOUNT_DIGITS = 4, 18
RATE_PLACES, RATE_DIGITS = 6, 10
RATE_MIN, RATE_MAX = Decimal(-1), Decimal(10)

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_AMOUNT_NOISE = re.compile(r"[¥$￥€£\s]")
_DECIMAL = Context(prec=60, rounding=ROUND_HALF_UP)


def parse_amount(value: Any, places: int = AMOUNT_PLACES, digits: int = AMOUNT_DIGITS) -> Decimal | None:
    """An amount: Decimal rounded half-up to ``places`` that fits numeric(``digits``, ``places``).

    A float rounds as its text (``str(31982648287.809898)`` → ``31982648287.8099``), never as its
    binary expansion.
    """
    number = _exact_number(value)
    return None if number is None else _rounded(number, places, digits)


def parse_return_rate(value: Any) -> Decimal | None:
    """当期收益率: ``%`` text ÷ 100; a number above 1 in magnitude is a percentage ÷ 100; −1 … 10."""
    text = clean_text(value) if isinstance(value, str) else None
    percent = text is not None and text[-1] in "%％"
    number = _exact_number(text[:-1] if text is not None and percent else value)
    if number is None:
        if percent:
            raise CellProblem(f"{shown_value(value)!r} is not a number")
        return None
    if percent or abs(number) > 1:
        number = number.scaleb(-2)
    rate = _rounded(number, RATE_PLACES, RATE_DIGITS)
    if not RATE_MIN <= rate <= RATE_MAX:
        raise CellProblem(f"return rate {rate} is outside −1 … 10")
    return rate


def _exact_number(value: Any) -> Decimal | None:
    """The unrounded Decimal of a cell; None when empty."""
    if value is None:
        return None
    reject_special(value, "a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem(f"{value} is not a number")
        return Decimal(str(value))
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise CellProblem(f"a {type(value).__name__} cell is not a number")
    text = _AMOUNT_NOISE.sub("", unicodedata.normalize("NFKC", value))
    if clean_text(text) is None:
        return None
    if "," in text:
        if not _THOUSANDS.fullmatch(text):
            raise CellProblem(f"{shown_value(value)!r}: commas are allowed only as thousands separators")
        text = text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        raise CellProblem(f"{shown_value(value)!r} is not a number")
    return Decimal(text)


def _rounded(number: Decimal, places: int, digits: int) -> Decimal:
    limit = Decimal(10) ** (digits - places)
    if abs(number) < limit:
        number = number.quantize(Decimal(1).scaleb(-places), context=_DECIMAL)
        if abs(number) < limit:
            return number if number else abs(number)  # no negative zero
    raise CellProblem(f"{number:E} does not fit numeric({digits},{places})")


TIE_MARGIN = 2.0**-51
_EXACT_FLOAT = 2.0**52  # below this, a float holds every integer and half-integer exactly


class FastFloat(NamedTuple):
    """A float cell of one column rounded without Decimal text, as the parse function would.

    ``value * scale`` lies within ``|value * scale| * 2**-52`` of the exactly scaled ``str(value)``
    (half an ulp from that text to the float, half an ulp in the product), so unless it is that
    close (with a margin of two) to a tie its nearest integer is the half-up rounding of the text.
    Ties, NaN, infinities and values outside ± ``bound`` go to ``parse``.
    """

    column: str
    low: float
    high: float
    scale: float
    unit: Decimal
    zero: Decimal
    parse: Callable[[Any], Decimal | None]

    @classmethod
    def of(cls, column: str, places: int, parse: Callable[[Any], Decimal | None], bound: float = 0) -> FastFloat:
        bound = bound or _EXACT_FLOAT / 10.0**places
        unit = Decimal(1).scaleb(-places)
        return cls(column, -bound, bound, 10.0**places, unit, unit * 0, parse)
