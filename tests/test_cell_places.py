"""The pre-scan's check of where cells lie (facts/sheet_form.py): a cell whose reference names
another row than the ``<row>`` that holds it, a row written twice and a cell written twice are
refused, however far apart in the sheet — calamine reads a cell where its reference says and
keeps the last of two. Random sheets, cut into many small blocks, against a plain statement of
the rule; the rows Excel writes (``<row r="7"``) and the rows written otherwise (``r`` not first,
or none: the row after the one before) go two ways through the check, which must agree.
No database.
"""

from __future__ import annotations

import io
import random

import pytest

from facts import sheet_scan
from facts.sheet_scan import ScanStop, scan_pass

COLUMNS = ("A", "B", "J", "Z", "AA")


def _sheet(rows: list[tuple[int | None, list[str]]], *, excel_rows: bool) -> bytes:
    """``rows``: (number or None for a row without ``r``, its cells' references)."""
    written = []
    for number, references in rows:
        if number is None:
            tag = b"<row>"
        else:
            tag = b'<row r="%d">' % number if excel_rows else b'<row spans="1:5" r="%d">' % number
        cells = b"".join(b'<c r="%s"><v>1</v></c>' % reference.encode() for reference in references)
        written.append(tag + cells + b"</row>")
    return b"<worksheet><sheetData>" + b"".join(written) + b"</sheetData></worksheet>"


def _breaks_the_rule(rows: list[tuple[int | None, list[str]]]) -> bool:
    """The rule, plainly: each row's number (a row without one is the one after the row before)
    once; each cell's reference naming its row, written as Excel writes it, and once."""
    numbers: set[int] = set()
    references: set[str] = set()
    last = 0
    for number, cells in rows:
        last = last + 1 if number is None else number
        if last in numbers:
            return True
        numbers.add(last)
        for reference in cells:
            if reference.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != str(last) or reference in references:
                return True
            references.add(reference)
    return False


def _random_rows(rng: random.Random) -> list[tuple[int | None, list[str]]]:
    rows: list[tuple[int | None, list[str]]] = []
    number = 0
    for _ in range(rng.randint(1, 14)):
        step = rng.choice((1,) * 30 + (2, 2, 0, -3))  # mostly the next row; sometimes again or back
        number = max(1, number + step)
        unnumbered = rng.random() < 0.1
        row_number = number if not unnumbered else None
        cells = []
        for column in sorted(rng.sample(COLUMNS, rng.randint(0, 4))):
            named = number
            if rng.random() < 0.03:
                named = max(1, number + rng.choice((-2, -1, 1, 2)))  # a cell in another row's element
            digits = str(named) if rng.random() > 0.01 else "0" + str(named)
            cells.append(column + digits)
            if rng.random() < 0.02:
                cells.append(column + digits)  # the same cell again
        rows.append((row_number, cells))
    return rows


def _refused(data: bytes, monkeypatch: pytest.MonkeyPatch, chunk: int) -> str | None:
    monkeypatch.setattr(sheet_scan, "CHUNK", chunk)  # many blocks, cut after cells wherever they fall
    try:
        scan_pass(io.BytesIO(data), extent=False, marks=True)
    except ScanStop as stop:
        return str(stop.error)
    return None


def test_random_sheets_are_refused_exactly_when_they_break_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261206)
    refusals = {True: 0, False: 0}
    for _ in range(1500):
        rows = _random_rows(rng)
        expected = _breaks_the_rule(rows)
        chunk = rng.choice((32, 64, 200, 1 << 20))
        for excel_rows in (True, False):
            data = _sheet(rows, excel_rows=excel_rows)
            refusal = _refused(data, monkeypatch, chunk)
            assert (refusal is not None) == expected, (rows, excel_rows, chunk, refusal)
        refusals[expected] += 1
    assert min(refusals.values()) > 300  # both kinds of sheet, many of each


@pytest.mark.parametrize("excel_rows", [True, False])
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([(2, ["A2"]), (3, ["J2"])], "writes cell J2 inside row 3"),
        ([(2, ["A2", "J02"])], "writes cell J2 as J02"),
        ([(2, ["A2"]), (3, ["A3"]), (2, ["B2"])], "writes row 2 twice"),
        ([(2, ["A2", "B2", "A2"])], "writes cell A2 twice"),
        ([(2, ["A2"]), (None, ["A3"]), (3, ["B3"])], "writes row 3 twice"),
        ([(2, ["A2"]), (None, ["A4"])], "writes cell A4 inside row 3"),
    ],
)
def test_each_break_is_named(
    monkeypatch: pytest.MonkeyPatch, rows: list[tuple[int | None, list[str]]], message: str, excel_rows: bool
) -> None:
    refusal = _refused(_sheet(rows, excel_rows=excel_rows), monkeypatch, 1 << 20)
    assert refusal is not None and message in refusal and "save it again" in refusal


def test_a_row_without_its_number_is_the_one_after_the_row_before(monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[tuple[int | None, list[str]]] = [(2, ["A2"]), (None, ["A3", "B3"]), (None, ["A4"]), (7, ["A7"])]
    for excel_rows in (True, False):
        assert _refused(_sheet(rows, excel_rows=excel_rows), monkeypatch, 40) is None
