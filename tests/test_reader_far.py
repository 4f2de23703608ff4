"""The pre-scan's far-cell search (facts/sheet_scan.py ``_FAR``) is written for speed; these
tests hold it to the plain form it replaced, position for position and in the whole scan's
findings (far cells, refusals, row places, marks), over hostile cells Excel never writes,
blocks cut at odd places and seeded random sheets. A far cell it missed would let calamine's
dense range grow to gigabytes; one it found in excess would only cost a closer look, but it
must find neither.
"""

from __future__ import annotations

import io
import random
import re
from itertools import product
from typing import Any

import pytest

from facts import sheet_scan
from facts.sheet_scan import ScanStop, scan_pass

# The far-cell search as first written: clear, and the specification of the fast one.
PLAIN = re.compile(rb'<c(?=[\s>])(?! r="[A-Z][1-9][0-9]{0,5}")')
FAST = sheet_scan._FAR
WHITESPACE = (b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c")  # \s of a bytes pattern

HOSTILE = [
    b'<c r="B7"><v>1</v></c>',
    b"<c><v>1</v></c>",
    b'<c\tr="B7"><v>1</v></c>',
    b'<c\nr="B7"><v>1</v></c>',
    b'<c\r\nr="B7"><v>1</v></c>',
    b'<c\x0br="B7"><v>1</v></c>',
    b'<c\x0cr="B7"><v>1</v></c>',
    b'<c  r="B7"><v>1</v></c>',
    b'<c s="1" r="B7"><v>1</v></c>',
    b'<c r="AA1"><v>1</v></c>',
    b'<c r="XFD1048576"><v>1</v></c>',
    b'<c r="A999999"><v>1</v></c>',
    b'<c r="A1000000"><v>1</v></c>',
    b'<c r="A1234567"><v>1</v></c>',
    b'<c r="B07"><v>1</v></c>',
    b'<c r="B0"><v>1</v></c>',
    b'<c r="B0000007"><v>1</v></c>',
    b'<c r="AB07" s="2"/>',
    b'<c r="a1"><v>1</v></c>',
    b'<c r="A1x"><v>1</v></c>',
    b'<c r="A"><v>1</v></c>',
    b'<c r=""><v>1</v></c>',
    b"<c r='B7'><v>1</v></c>",
    b'<c r = "B7"><v>1</v></c>',
    b'<c r="B7" t="e"><v>#N/A</v></c>',
    b'<c r="B7"><f>1+1</f></c>',
    b'<c r="AB7" s="2"/>',
    b'<c r="B7"/>',
    b"<c/>",
    b'<cols><col min="1" max="3" width="9"/></cols>',
    b'<c r="B7" t="inlineStr"><is><r><rPr><color rgb="FF0000"/></rPr><t>&lt;c r="AA1"&gt;</t></r></is></c>',
    b'<conditionalFormatting sqref="A1"><cfRule type="expression" priority="1"><formula>1</formula></cfRule>',
    b'<c r="B7"><v>1</v></c><c',
    b"<c",
    b"<c ",
    b'<c r="B',
    b'<c r="B7',
    b'<c r="B7"',
]


def _row(number: int, cells: bytes) -> bytes:
    return b'<row r="%d">' % number + cells + b"</row>"


def _sheet(rows: bytes) -> bytes:
    return b'<?xml version="1.0"?>\n<worksheet><sheetData>' + rows + b"</sheetData></worksheet>"


def _far_starts(pattern: re.Pattern[bytes], data: bytes) -> list[int]:
    return [match.start() for match in pattern.finditer(data)]


def _cell_heads() -> list[bytes]:
    """Every start of a cell tag the search weighs: each separator, after it ``r="``, a letter or
    none, zero to eight digits, and each way the reference may go on."""
    separators = (*WHITESPACE, b"  ", b" \t", b">", b"x", b"/", b"")
    letters = (b"A", b"Z", b"a", b"@", b"[", b"AA", b"")
    ends = (b'"', b"0", b"x", b">", b" ", b"'", b"")
    heads = []
    for separator, letter, digits, end in product(separators, letters, range(9), ends):
        heads.append(b"<c" + separator + b'r="' + letter + b"7" * digits + end)
        heads.append(b"<c" + separator + b"r=" + letter + b"1" * digits + end)
    return heads


def _random_sheet(rng: random.Random) -> bytes:
    """A sheet of near-miss cells: mostly Excel's own, near and far, some bent at a byte or two."""
    pieces = [b"<c", b" ", b"\t", b"\n", b">", b'r="', b"r=", b'"', b"A", b"Z", b"AA", b"a", b"/>", b"7",
              b"1234567", b"<v>1</v>", b"</c>", b"<col", b"<color/>", b"<cfRule", b's="1" ', b"<f>1</f>"]  # fmt: skip
    bent = rng.choice((0.0, 0.02, 0.1))
    rows = []
    for number in range(1, rng.randint(2, 12)):
        cells = []
        row = str(number if rng.random() < 0.9 else rng.choice((999_999, 1_000_000, 1_048_577))).encode()
        for column in sorted(rng.sample((b"A", b"B", b"Z", b"AA", b"XFD"), rng.randint(0, 5))):
            if rng.random() < bent:
                cells.append(b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 10))) + b"</c>")
            else:
                rest = rng.choice((b"><v>1</v></c>", b"/>", b' t="e"><v>#N/A</v></c>', b' s="1"><f>1</f></c>'))
                cells.append(b'<c r="' + column + row + b'"' + rest)
        rows.append(_row(number, b"".join(cells)))
    return _sheet(b"".join(rows))


def _findings(data: bytes, monkeypatch: pytest.MonkeyPatch, pattern: re.Pattern[bytes]) -> Any:
    """What one pass over ``data`` with both checks finds with ``pattern`` as the far-cell search."""
    monkeypatch.setattr(sheet_scan, "_FAR", pattern)
    monkeypatch.setattr(sheet_scan, "CHUNK", 64)  # many blocks, cut after cells wherever they fall
    try:
        scan = scan_pass(io.BytesIO(data), extent=True, marks=True, size=len(data))
    except ScanStop as stop:
        return stop.position, type(stop.error).__name__, str(stop.error)
    places = scan.places
    return scan.far, scan.marks, list(places.offsets), list(places.numbers), places.cuttable, places.tail


def test_the_fast_search_matches_where_the_plain_one_does_in_hostile_cells_cut_anywhere() -> None:
    samples = [*HOSTILE, b"".join(HOSTILE), _sheet(_row(7, b"".join(HOSTILE)))]
    for sample in samples:
        for cut in range(len(sample) + 1):
            for data in (sample[:cut], sample[cut:]):
                assert _far_starts(FAST, data) == _far_starts(PLAIN, data), data


def test_the_fast_search_matches_where_the_plain_one_does_at_every_cell_head() -> None:
    heads = _cell_heads()
    for head in heads:
        for data in (head, head + b"><v>1</v></c>", head + b'"', b"<v>1</v>" + head + b" " + head):
            assert _far_starts(FAST, data) == _far_starts(PLAIN, data), data
    assert sum(bool(PLAIN.search(head)) for head in heads) > len(heads) // 2  # far and near ones both


def test_the_fast_search_matches_where_the_plain_one_does_in_random_bytes() -> None:
    rng = random.Random(20261206)
    alphabet = b'<c r="AZaz09>/\t\n '
    for _ in range(20_000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert _far_starts(FAST, data) == _far_starts(PLAIN, data), data


def test_a_scan_finds_what_the_plain_search_finds_in_hostile_sheets(monkeypatch: pytest.MonkeyPatch) -> None:
    for cell in HOSTILE:
        row7 = _row(7, b'<c r="A7"><v>1</v></c>' + cell + b'<c r="C7"><v>1</v></c>')
        data = _sheet(row7 + _row(8, cell.replace(b"7", b"8")))
        assert _findings(data, monkeypatch, FAST) == _findings(data, monkeypatch, PLAIN), cell


def test_a_scan_finds_what_the_plain_search_finds_in_random_sheets(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(6122026)
    outcomes = set()
    for _ in range(400):
        data = _random_sheet(rng)
        fast = _findings(data, monkeypatch, FAST)
        assert fast == _findings(data, monkeypatch, PLAIN), data
        outcomes.add(fast[2] if isinstance(fast[0], tuple) else "far" if fast[0] else "near")
    assert {"near", "far"} <= outcomes and len(outcomes) > 3  # clean sheets, far cells and refusals of several kinds
