"""The pre-scan of one sheet's XML: what calamine cannot tell, found before calamine reads.

Reads one sheet part of an .xlsx/.xlsm package as a stream, in chunks cut after a cell or row,
so that no pass ever holds more than a chunk and one cell. Every pass is linear in the size of
the part: the regular expressions below have no nested or overlapping repetition, and each cell
the scan looks at closely is bounded by :data:`TAG_LIMIT` / :data:`CELL_LIMIT`, beyond which the
sheet is refused.

It finds:

- formula error values (python-calamine 0.9 reads ``#N/A`` as ``""``, its issue #105);
- formulas never calculated — no cached value, which calamine reads as an empty cell, so that a
  defaulted column would quietly take its default;
- value cells far to the right or far down (calamine makes one dense range from A1 to the last
  value cell, so one note in ``XFD1048576`` asks for 512 GiB);
- markup it would read otherwise than calamine, shared-string indexes that are not numbers, rows
  and cells written twice, cells inside another row's element (facts/sheet_form.py), cells
  whose reference is written otherwise than Excel writes it and rows outside the first
  ``<sheetData>`` (calamine leaves them out): refusals;
- where the rows lie, for cutting a big sheet into pieces (facts/sheet_rows.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from facts.sheet_form import SAVE_AGAIN, RowOrder, ScanRefusal, check_form, check_one_value, check_values, row_bits
from facts.sheet_rows import PLACES_KEPT, RowPlaces

CHUNK = 1 << 20
TAG_LIMIT = 8 << 10  # bytes of one start tag; Excel's longest (a cell with every attribute) is < 200
CELL_LIMIT = 4 << 20  # bytes of one cell's XML; Excel's 32,767 characters, escaped, are < 1.2 MiB
EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384

_CELL_END = re.compile(rb"</c>|</row>|<c\b[^<>]*/>")
_ERROR_MARK = b't="e"'
_UNCALCULATED = re.compile(rb"(?:</f\s*>|<f\b[^<>]*/>)(?!\s*<v\b[^<>]*>[^<])")  # </f > is well-formed too
_ATTRIBUTE = re.compile(rb'([\w:]+)\s*=\s*"([^"]*)"')
_VALUE_AFTER_TAG = re.compile(rb"\s*(?:<f\b[^<>]*/>|<f\b[^<>]*>([^<]*)</f\s*>)?\s*(?:<v\b[^<>]*>([^<]*)</v\s*>)?")
_REFERENCE = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")
# Every cell but the usual ``<c r="B7"`` (one letter, fewer than seven digits, the first not 0):
# the cells from column AA on or in rows from 1,000,000 on, and those written unusually (``r`` not
# first or after other white space than one blank, a number with leading zeros, no ``r``: Excel
# writes none of these) — the rare cells the scan looks at one by one. A table within A–Z and
# rows below 1,000,000 makes a dense range of at most 26 × 1,000,000 cells.
# It is tried at every "<c" of the sheet (a third of the extent pass), so it is written for speed:
# the usual cell fails the look-ahead at once, and the digits, possessive, are never given back
# (after at most six digits only '"' may follow, never a digit). It matches where
# rb'<c(?=[\s>])(?! r="[A-Z][1-9][0-9]{0,5}")' does, no more, no less (tests/test_reader_far.py).
_FAR = re.compile(rb'<c(?! r="[A-Z][1-9][0-9]{0,5}+")[\s>]')
FAR_COLUMN, FAR_ROW = 26, 1_000_000
_ROWS_START, _ROWS_END = b"<sheetData", b"</sheetData>"
_ROW_OR_CELL = re.compile(rb"<(?:sheetData|row|c)[\s/>]")  # not <rowBreaks>, <col>, <cfRule>
_HAS_VALUE = re.compile(rb"\s*(?:<f\b|<v\b[^<>]*>[^<]|<is\b)")


@dataclass(frozen=True)
class Mark:
    """What the scan found in one cell: a formula error code, or the formula of an uncalculated cell."""

    row: int  # Excel row number
    column: int  # 0-based column
    error: str | None  # "#N/A" …; None for an uncalculated formula
    formula: str = ""


@dataclass
class SheetScan:
    """The scan's findings: marks, the value cells from column AA on or in rows ≥ 1,000,000, and
    (extent pass) where the rows lie."""

    marks: list[Mark] = field(default_factory=list)
    far: list[tuple[int, int]] = field(default_factory=list)  # (Excel row, 0-based column)
    places: RowPlaces = field(default_factory=RowPlaces)  # extent pass: where the rows lie
    order: RowOrder = field(default_factory=RowOrder)  # marks pass: whether they can be cut there
    rows: bytearray = field(default_factory=row_bits, repr=False)  # the rows seen, for check_values
    row_cells: set[bytes] = field(default_factory=set, repr=False)  # the last row's cells, for check_values
    rows_begun: bool = False  # extent pass: <sheetData> seen
    rows_ended: bool = False  # extent pass: the first </sheetData> seen


def column_index(letters: str) -> int:
    """0-based index of Excel's column letters: ``A`` → 0, ``AA`` → 26."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1


READING, EXTENT, MARKS = 0, 1, 2  # the steps of a pass over one block, in order (ScanStop.step)


class ScanStop(Exception):
    """A pass stopped at block ``block`` (0-based) in ``step`` (:data:`READING` the block,
    :data:`EXTENT` its form and far cells, :data:`MARKS` its values and marks) by ``error``.
    A single pass that does both stops where two passes, one each, stop first: at the least
    ``(block, step)``."""

    def __init__(self, block: int, step: int, error: Exception) -> None:
        super().__init__(block, step, error)
        self.block, self.step, self.error = block, step, error

    @property
    def position(self) -> tuple[int, int]:
        return self.block, self.step


def scan_pass(stream: IO[bytes], *, extent: bool, marks: bool, size: int = 0) -> SheetScan:
    """One pass over the sheet XML in ``stream``: with ``extent``, the form checks, the far
    cells (:func:`scan_extent`) and the rows' places; with ``marks``, the value checks and the marks
    (:func:`scan_marks`). Raises :class:`ScanStop` wrapping the first failure (a
    :class:`ScanRefusal`, or the package's own error while decompressing). ``size``: the part's
    size, when it is known, so that the rows' places start as far apart as they end."""
    scan = SheetScan(places=RowPlaces(step=max(1, size // PLACES_KEPT)))
    blocks = _placed_blocks(stream)
    index = 0
    while True:
        step = READING
        try:
            placed = next(blocks, None)
            if placed is None:
                return scan
            offset, block = placed
            if extent:
                step = EXTENT
                check_form(block)
                check_one_value(block)
                _check_after_rows(block, scan)
                for start in (match.start() for match in _FAR.finditer(block)):
                    _far(block, start, scan)
                scan.places.add(offset, block)
            if marks:
                step = MARKS
                _mark(block, scan)
        except Exception as exc:  # re-raised by the caller as it was, once its position is weighed
            raise ScanStop(index, step, exc) from exc
        index += 1


def scan_extent(stream: IO[bytes], *, marks: bool = False) -> SheetScan:
    """The value cells of the sheet XML in ``stream`` from column AA on or in rows from 1,000,000
    on (:attr:`SheetScan.far`): the cells that can make calamine's dense range huge; with
    ``marks``, the marks too (:func:`scan_marks`) in the same pass. Runs before calamine reads;
    raises :class:`ScanRefusal`."""
    try:
        return scan_pass(stream, extent=True, marks=marks)
    except ScanStop as stop:
        raise stop.error from None


def scan_marks(stream: IO[bytes]) -> list[Mark]:
    """Formula errors and uncalculated formulas of the sheet XML in ``stream`` (it can run while
    calamine reads, in another process: facts/scan_worker.py). Raises :class:`ScanRefusal`."""
    try:
        return scan_pass(stream, extent=False, marks=True).marks
    except ScanStop as stop:
        raise stop.error from None


def _mark(block: bytes, scan: SheetScan) -> None:
    check_values(block, scan.rows, scan.row_cells, scan.order)
    if _ERROR_MARK in block:
        _errors(block, scan)
    if b"f" in block and b"<f" in block:  # one byte first, at memchr's speed: no formula, often no "f"
        _uncalculated(block, scan)


def copy_without(stream: IO[bytes], out: IO[bytes], far: set[tuple[int, int]]) -> None:
    """Copy the sheet XML from ``stream`` to ``out`` without the cells at the ``far`` positions."""
    for block in _blocks(stream):
        position = 0
        for start in (match.start() for match in _FAR.finditer(block)):
            attributes, end = _cell_at(block, start)
            reference = _REFERENCE.fullmatch(attributes.get(b"r", b"").decode("ascii", "replace"))
            if reference and (int(reference[2]), column_index(reference[1])) in far:
                out.write(block[position:start])
                position = end if block[end - 2 : end] == b"/>" else block.index(b"</c>", end) + 4
        out.write(block[position:])


def _blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """The part in blocks that end after a cell or a row; what follows the last one is carried."""
    return (block for _, block in _placed_blocks(stream))


def _placed_blocks(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """:func:`_blocks`, each with its offset in the part."""
    carry = b""
    offset = 0  # of carry's first byte
    while chunk := stream.read(CHUNK):
        block = carry + chunk
        end = _last_cell_end(block)
        if end:
            yield offset, block[:end]
            block = block[end:]
            offset += end
        if b"<" in block:
            carry = block
        else:  # text between rows (whitespace) is nothing to carry
            carry, offset = b"", offset + len(block)
        if len(carry) > CELL_LIMIT:
            raise ScanRefusal(
                f"the sheet XML runs for more than {CELL_LIMIT >> 20} MiB without a cell ending "
                "(a cell, a tag or a gap that long; no workbook Excel writes has one)"
            )
    if carry:
        yield offset, carry


def _last_cell_end(block: bytes) -> int:
    """The end of the last ``</c>``, ``</row>`` or empty cell in ``block`` (0 if there is none).

    Searches back from the end in growing windows, so a block is looked at about once."""
    size = 4096
    while True:
        start = max(0, len(block) - size)
        ends = [match.end() for match in _CELL_END.finditer(block, start)]
        if ends:
            return ends[-1]
        if not start:
            return 0
        size *= 4


def _cell_at(block: bytes, start: int) -> tuple[dict[bytes, bytes], int]:
    """The attributes of the cell tag starting at ``start`` and the end of the tag."""
    end = block.find(b">", start, start + TAG_LIMIT)
    if end < 0:
        raise ScanRefusal(f"the sheet XML holds a tag longer than {TAG_LIMIT >> 10} KiB")
    return dict(_ATTRIBUTE.findall(block, start, end)), end + 1


def _place(attributes: dict[bytes, bytes], what: str) -> tuple[int, int]:
    written = attributes.get(b"r")
    reference = _REFERENCE.fullmatch("" if written is None else written.decode("ascii", "replace"))
    if reference is None:
        if written is None:
            raise ScanRefusal(
                f'a cell holding {what} has no cell reference (r="B7"), which Excel always writes; {SAVE_AGAIN}'
            )
        raise ScanRefusal(
            f"a cell holding {what} gives {written.decode('utf-8', 'replace')!r} as its reference, "
            f"not one Excel writes (B7); {SAVE_AGAIN}"
        )
    row, column = int(reference[2]), column_index(reference[1])
    if not (1 <= row <= EXCEL_ROWS and column < EXCEL_COLUMNS):
        raise ScanRefusal(f"cell {reference[0]} lies outside the largest sheet Excel allows (A1:XFD1048576)")
    return row, column


def _errors(block: bytes, scan: SheetScan) -> None:
    position = 0
    while (found := block.find(_ERROR_MARK, position)) >= 0:
        start = block.rfind(b"<", max(0, found - TAG_LIMIT), found)
        if start < 0:
            raise ScanRefusal(f"the sheet XML holds a tag longer than {TAG_LIMIT >> 10} KiB")
        attributes, end = _cell_at(block, start)
        position = max(end, found + len(_ERROR_MARK))  # a mark in text after the tag: on past it
        if block.startswith(b"<c", start) and attributes.get(b"t") == b"e":
            match = _VALUE_AFTER_TAG.match(block, end)
            if match and match[2] is not None:
                row, column = _place(attributes, "a formula error")
                scan.marks.append(Mark(row, column, html.unescape(match[2].decode("utf-8", "replace"))))
            elif match and block.startswith(b"<is", match.end()):  # calamine reads the text, not an error
                _place(attributes, "a formula error")
                raise ScanRefusal(
                    f"the sheet XML gives error cell {attributes[b'r'].decode()} inline text (<is>) for its value, "
                    f"which Excel never does; {SAVE_AGAIN}"
                )


def _uncalculated(block: bytes, scan: SheetScan) -> None:
    for match in _UNCALCULATED.finditer(block):
        start = block.rfind(b"<c", max(0, match.start() - CELL_LIMIT), match.start())
        if start < 0:
            raise ScanRefusal("the sheet XML holds a formula outside any cell")
        attributes, end = _cell_at(block, start)
        value = _VALUE_AFTER_TAG.match(block, end)
        if attributes.get(b"t") == b"str" and value and value[2] is not None:
            continue  # <v></v> of a text formula: Excel's cached empty text, a calculated value
        row, column = _place(attributes, "a formula")
        formula = html.unescape(value[1].decode("utf-8", "replace")) if value and value[1] else ""
        scan.marks.append(Mark(row, column, None, formula))


def _far(block: bytes, start: int, scan: SheetScan) -> None:
    attributes, end = _cell_at(block, start)
    if block[end - 2 : end] == b"/>":
        return  # a formatted empty cell: calamine skips it, and so does the table
    row, column = _place(attributes, "content")
    _check_written(block, start, attributes[b"r"].rstrip(b"0123456789") + b"%d" % row)
    if (column >= FAR_COLUMN or row >= FAR_ROW) and _HAS_VALUE.match(block, end):
        scan.far.append((row, column))


def _check_written(block: bytes, start: int, reference: bytes) -> None:
    """Refuse a cell with content whose ``reference`` is written otherwise than Excel writes it
    (``<c r="B7"``: ``r`` first after one blank, no leading zeros): calamine reads it where it
    names all the same, but the check of cells written twice (facts/sheet_form.py) would not
    know it for that cell."""
    if not block.startswith(b'<c r="' + reference + b'"', start):
        tag = block[start : block.find(b">", start) + 1].decode("utf-8", "replace")
        raise ScanRefusal(f"the sheet XML writes cell {reference.decode()} unlike Excel ({tag!r}); {SAVE_AGAIN}")


def _check_after_rows(block: bytes, scan: SheetScan) -> None:
    """Refuse rows or cells before ``<sheetData>`` or after the first ``</sheetData>`` (a second
    ``<sheetData>``, or a row outside it): calamine reads none of them (openpyxl reads them all),
    and a sheet read in pieces would read those that a piece's cut puts inside its ``<sheetData>``."""
    start = 0
    if not scan.rows_begun:
        begin = block.find(_ROWS_START)
        if (found := _ROW_OR_CELL.search(block, 0, len(block) if begin < 0 else begin)) is not None:
            _refuse_outside(block, found.start())
        if begin < 0:
            return
        scan.rows_begun, start = True, begin + len(_ROWS_START)
    if not scan.rows_ended:
        start = block.find(_ROWS_END, start) if b"h" in block else -1  # one byte first: rows seldom hold an "h"
        if start < 0:
            return
        scan.rows_ended = True
    if found := _ROW_OR_CELL.search(block, start):
        _refuse_outside(block, found.start())


def _refuse_outside(block: bytes, start: int) -> None:
    tag = block[start : block.find(b">", start) + 1].decode("utf-8", "replace")
    raise ScanRefusal(
        f"the sheet XML writes rows outside its rows' element, <sheetData> ({tag}), which calamine would "
        f"leave out; {SAVE_AGAIN}"
    )
