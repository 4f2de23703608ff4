"""The form of a sheet's XML that the pre-scan reads as python-calamine does.

The scan (facts/sheet_scan.py) looks for cells the way Excel writes them: unprefixed elements,
attributes in double quotes with nothing around ``=``, no comments or CDATA. calamine reads any
well-formed XML, so a cell written otherwise — ``t='e'``, ``t = "e"``, ``t="&#101;"``, a comment
before its ``<v>``, ``<x:c>`` — was a formula error the scan missed and calamine read as an empty
cell, or a far cell the scan missed and calamine's dense range made gigabytes of. Such markup is
refused here, before calamine reads the sheet. What calamine reads without a word is refused
too: a shared-string index that is not a number (calamine takes it as 0, the first shared text),
a row or a cell written twice (the second overwrites the first), a cell tag with two references
(calamine reads the last) and a cell inside another row's ``<row>`` than the one its reference
names (calamine puts it where the reference says, over a cell there however far away). A cell
with content whose reference is written otherwise than ``<c r="B7"`` is the extent pass's
refusal (facts/sheet_scan.py), so that every such cell is one this check knows by its reference.

Every check is one linear pass over a block of :func:`facts.sheet_scan._blocks` (cut after a cell,
so no tag straddles two blocks), with searches that have a literal start; matches in text, which
may hold any of these characters, cost one look back to the last ``<``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

SAVE_AGAIN = "open the workbook in Excel and save it again"
_CELL_TAGS = frozenset((b"c", b"row", b"v", b"f", b"is", b"t"))
_FOREIGN = re.compile(rb"<!|<\?(?!xml[\s?])")  # comment, CDATA, DOCTYPE, processing instruction
_PREFIXED = re.compile(rb":(?:worksheet|sheetData|row|c|v|f|is)[\s/>]")
_NAME = re.compile(rb"/?[A-Za-z_][\w.\-]*")
_ODD_EQUALS = re.compile(rb'=(?:(?!")|(?<=\s=))')  # single quotes, a space before or after =
_REFERENCE_START = re.compile(rb"&")  # a character or entity reference
_TAG_NAME = re.compile(rb"<([\w.\-:]+)")
_SHARED = re.compile(rb't="s"(?:\s[^<>]*)?>(?!<v>[0-9]{1,10}</v>)')
_SHARED_VALUE = re.compile(rb"\s*(?:<f\b[^<>]*/>|<f\b[^<>]*>[^<]*</f\s*>)?\s*(?:<v\b[^<>]*>([^<]*)</v\s*>)?")
_REFERENCE = re.compile(rb'\sr="([A-Z]{1,3}[0-9]{1,7})"')
_ROW = re.compile(rb'<row\b(?:[^<>]*?\sr="([0-9]{1,7})")?')  # the number is None when the row has none
_CELL = re.compile(rb'<c r="([A-Z]{1,3}[0-9]{1,7})"')
# The block's rows and cells in order, each row as ``r="7`` (written as Excel writes it: ``r``
# first, its number without leading zeros), each cell as its reference (``B7``); then the numbers
# of its rows, and a row's cells up to the first that names another row, in the line they make.
_PLACED = re.compile(rb'<(?:row |c r=")(r="[1-9][0-9]{0,6}|[A-Z]{1,3}[0-9]{1,7})"')
_NUMBER = re.compile(rb'r="([0-9]+)')
_ASTRAY = re.compile(rb'r="([0-9]+)(?: [A-Z]{1,3}\1(?= |$))*+ ([A-Z]{1,3}[0-9]+)')
_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# A cell or row tag with two references (<c r="J3" r="J2">, not well-formed XML): calamine reads
# the cell at the last, the checks here at the first. Searched only in a block with more ``r="``
# than its rows and cells written as Excel writes them (a count: no pass of the matcher).
_TWO_REFERENCES = re.compile(rb'<(?:c|row)\b[^<]*?\sr="[^<]*\sr="')
# A value element (<v>, <is>) not closing its cell (its end tag perhaps written ``</v >``), and a
# second one after it, past text and formulas (calamine reads <v>1</v><f>…</f><v>2</v> as 2); an
# inline text cell whose content is not its text (<is>): calamine reads the last value, or empty.
_AFTER_VALUE = re.compile(rb"</v(?!></c>)")  # each pattern with a long literal start: searched fast
_AFTER_TEXT = re.compile(rb"</is(?!></c>)")
_SECOND_VALUE = re.compile(rb"\s*>[^<]*(?:<f\b[^<>]*/>[^<]*|<f\b[^<>]*>[^<]*</f\s*>[^<]*)*<(?:v|is)\b")
_INLINE_OTHERWISE = re.compile(rb't="inlineStr"(?:\s[^<>]*)?(?<!/)>(?!\s*(?:<is\b|</c>))')  # white space: indented XML
ROW_LIMIT = 1_048_576


class ScanRefusal(ValueError):
    """The sheet's XML cannot be read safely; the message says why (the caller names the file)."""


def check_form(block: bytes) -> None:
    """Refuse markup in ``block`` that would hide a far cell from the scan: comments, CDATA, a
    DOCTYPE, processing instructions and prefixed elements. Runs before calamine reads."""
    # One-byte searches first: "<" is in every tag, so searching for "<!" and "<?" takes longer
    # than for "!" and "?", which are rare (and must be there for either to be).
    rare = b"!" in block or b"?" in block
    if rare and (b"<!" in block or b"<?" in block) and (match := _FOREIGN.search(block)):
        kinds = ((b"<!--", "a comment"), (b"<![CDATA[", "a CDATA section"), (b"<!DOCTYPE", "a DOCTYPE"))
        what = next(
            (kind for start, kind in kinds if block.startswith(start, match.start())),
            "a processing instruction" if match[0] == b"<?" else "markup",
        )
        raise ScanRefusal(f"the sheet XML holds {what}, which Excel never writes there; {SAVE_AGAIN}")
    if b":" not in block:  # one more one-byte search: rows without spans="1:5" or x14ac:dyDescent have none
        return
    cells_end: int | None = None  # where </sheetData> is: the last block holds all that follows the cells
    for match in _PREFIXED.finditer(block):
        start = block.rfind(b"<", 0, match.start())
        if start < 0 or not _NAME.fullmatch(block, start + 1, match.start()):
            continue  # text, not an element
        if match[0][1:2] in b"vfi":
            cells_end = block.find(b"</sheetData>") if cells_end is None else cells_end
            if 0 <= cells_end < start:
                continue  # Excel's own <xm:f> of a data validation or conditional format, after the cells
        raise ScanRefusal(
            "the sheet XML writes its cells with a namespace prefix "
            f"({block[start : match.end() - 1].decode('ascii', 'replace')}…), which Excel never does; {SAVE_AGAIN}"
        )


def _in_cell_tags(pattern: re.Pattern[bytes], block: bytes) -> None:
    """Refuse a match of ``pattern`` inside a cell-level tag; matches in text or other tags pass.
    After a match the search goes on from the next ``<`` or past the tag: linear in the block."""
    position = 0
    while match := pattern.search(block, position):
        start = block.rfind(b"<", 0, match.start())
        if start > block.rfind(b">", 0, match.start()):  # inside the tag that starts at ``start``
            name = _TAG_NAME.match(block, start)
            if name and name[1] in _CELL_TAGS:
                tag = block[start : block.find(b">", start, start + 200) + 1 or start + 80]
                raise ScanRefusal(
                    f"the sheet XML writes a cell's attributes unlike Excel ({tag.decode('utf-8', 'replace')}); "
                    f"{SAVE_AGAIN}"
                )
            position = block.find(b">", match.end()) + 1  # the rest of this other tag is no cell's
            if not position:
                return
            continue
        position = block.find(b"<", match.end())
        if position < 0:
            return


@dataclass
class RowOrder:
    """Whether every row so far carries its number (``r="…"``), each above the one before: what a
    big sheet's pieces need (facts/sheet_pieces.py), found by :func:`check_values` on its way; and
    the number of the last row so far (a row without ``r`` is the one after the row before it),
    whose cells the next block may go on with."""

    last: int = 0
    kept: bool = True


def check_values(block: bytes, rows: bytearray, row_cells: set[bytes], order: RowOrder) -> None:
    """Refuse a cell's attributes written unlike Excel (single quotes, spaces around ``=``, a
    character reference: the scan's marks would miss its ``t="e"``), a shared-string cell whose
    index is not a number, a cell or row tag with two references, a row number seen before, a cell
    whose reference names another row than the one that holds it and a cell reference seen before.
    ``rows`` (one bit per Excel row), ``row_cells`` (the references of the row the previous block
    ended in) and ``order`` are kept by the caller across blocks. Runs beside calamine, before its cells are used."""
    _in_cell_tags(_ODD_EQUALS, block)
    if b"&" in block:
        _in_cell_tags(_REFERENCE_START, block)
    for match in _SHARED.finditer(block):
        end = match.end()
        if block[end - 2 : end] == b"/>":
            continue  # an empty, formatted cell
        value = _SHARED_VALUE.match(block, end)
        index = value[1] if value else None
        if index is not None and not (index.isdigit() and len(index) <= 10):
            start = block.rfind(b"<", 0, match.start())
            reference = _REFERENCE.search(block, start, match.start())
            where = f"cell {reference[1].decode()}" if reference else "a cell"
            raise ScanRefusal(
                f"{where} gives {index.decode('utf-8', 'replace')!r} as the index of its shared text, which is "
                f"not a number (the file is damaged); {SAVE_AGAIN}"
            )
    placed = _PLACED.findall(block)
    if block.count(b'r="') != len(placed) and (twice := _TWO_REFERENCES.search(block)):
        tag = block[twice.start() : block.find(b">", twice.end()) + 1].decode("utf-8", "replace")
        raise ScanRefusal(
            f"the sheet XML gives a cell or row two references ({tag}), which calamine reads at the last; {SAVE_AGAIN}"
        )
    line = b" ".join(placed)
    numbers = _NUMBER.findall(line)
    if len(numbers) == block.count(b"<row"):  # every row written as Excel writes it: <row r="7"
        _check_places(line, order.last)
        _count_rows(map(int, numbers), rows, order)
        _check_cells(placed, line, row_cells)
    else:
        _check_rows_one_by_one(block, rows, row_cells, order)


def check_one_value(block: bytes) -> None:
    """Refuse a cell with two values (``<v>2</v><v>7</v>``: calamine reads the last) and an inline
    text cell whose content is not its ``<is>`` (a ``<v>``: calamine reads it as empty). Runs
    before calamine reads, with :func:`check_form` (the extent pass: the value pass is the longer)."""
    # Plain searches first, each behind a one-byte search (memchr's speed) for a letter Excel's
    # cell and row tags do not hold: most blocks have no inline text at all.
    after_text = _AFTER_TEXT.finditer(block) if b"i" in block and b"</is" in block else ()
    for match in itertools.chain(_AFTER_VALUE.finditer(block), after_text):
        if _SECOND_VALUE.match(block, match.end()):
            raise ScanRefusal(f"the sheet XML gives {_cell_named(block, match.start())} two values; {SAVE_AGAIN}")
    if b"l" not in block or b"inlineStr" not in block:
        return
    for match in _INLINE_OTHERWISE.finditer(block):
        start = block.rfind(b"<", 0, match.start())
        if block.startswith(b"<c", start) and block.rfind(b">", start, match.start()) < 0:
            raise ScanRefusal(
                f"the sheet XML writes {_cell_named(block, start)} as inline text whose content is not its text "
                f"(<is>) alone, which Excel never writes (calamine reads a <v> there as empty); {SAVE_AGAIN}"
            )


def _cell_named(block: bytes, position: int) -> str:
    """ "cell B7" for the cell at or before ``position``, or "a cell"."""
    start = block.rfind(b"<c ", 0, position + 3)
    reference = _REFERENCE.search(block, start, block.find(b">", start)) if start >= 0 else None
    return f"cell {reference[1].decode()}" if reference else "a cell"


def _count_rows(numbers: Iterable[int], rows: bytearray, order: RowOrder) -> None:
    """Mark each of ``numbers`` in ``rows``, refusing one marked before, and follow their order."""
    for number in numbers:
        if number <= order.last:
            order.kept = False
        order.last = number
        if not 1 <= number <= ROW_LIMIT:
            continue  # outside any sheet: the scan's other checks name it
        byte, bit = divmod(number, 8)
        if rows[byte] & (1 << bit):
            raise ScanRefusal(
                f"the sheet XML writes row {number} twice (Excel writes each row once; the second would "
                f"overwrite the first); {SAVE_AGAIN}"
            )
        rows[byte] |= 1 << bit


def _check_places(line: bytes, carried: int) -> None:
    """Refuse a cell whose reference names another row than the one that holds it. ``line``: the
    block's rows (``r="7``) and cells (``B7``) in order, a space between; ``carried``: the number
    of the row the block begins in (0 before the first)."""
    astray = _ASTRAY.search(b'r="%d %s' % (carried, line))
    if astray:
        raise ScanRefusal(_astray(astray[2], int(astray[1])))


def _astray(reference: bytes, row: int) -> str:
    """Why a cell whose reference does not name ``row``, the row that holds it, is refused: in
    calamine it would overwrite the cell its reference names, wherever that lies."""
    text = reference.decode()
    digits = text.lstrip(_LETTERS.decode())
    if row and digits.startswith("0") and int(digits) == row:
        return f"the sheet XML writes cell {text[: -len(digits)]}{row} as {text}, which Excel never does; {SAVE_AGAIN}"
    where = f"inside row {row}" if row else "before its first row"
    return (
        f"the sheet XML writes cell {text} {where} (Excel writes each cell in the row its reference "
        f"names; read as written it could overwrite another cell); {SAVE_AGAIN}"
    )


def _check_rows_one_by_one(block: bytes, rows: bytearray, row_cells: set[bytes], order: RowOrder) -> None:
    """:func:`check_values`' rows and cells for a block with a row written otherwise than Excel
    does (``r`` not first, or none: such a row is the one after the row before it)."""
    tags = list(_ROW.finditer(block))
    bounds = [tag.start() for tag in tags] + [len(block)]
    references = _CELL.findall(block, 0, bounds[0])
    _in_row(references, order.last)
    last_row: list[bytes] = []
    for tag, end in zip(tags, bounds[1:], strict=True):
        if tag[1] is None:
            order.kept = False
        _count_rows((order.last + 1 if tag[1] is None else int(tag[1]),), rows, order)
        last_row = _CELL.findall(block, tag.start(), end)
        _in_row(last_row, order.last)
        references += last_row
    _check_repeats(references, row_cells)
    _carry(row_cells, last_row if tags else None, references)


def _in_row(references: list[bytes], row: int) -> None:
    digits = b"%d" % row
    for reference in references:
        if reference.lstrip(_LETTERS) != digits:
            raise ScanRefusal(_astray(reference, row))


def _check_cells(placed: list[bytes], line: bytes, row_cells: set[bytes]) -> None:
    """Refuse a cell reference written twice (calamine keeps the second). Every cell lies in the
    row its reference names (:func:`_check_places`) and no row is written twice, so a repeat is
    one within a row: in this block, or across its start, in the row the previous block ended in,
    whose references ``row_cells`` carries. ``placed``: the block's rows and cells (``line``
    joined)."""
    seen = set(placed)
    if len(seen) != len(placed) or not row_cells.isdisjoint(seen):
        _check_repeats([place for place in placed if not place.startswith(b"r")], row_cells)
    last_row = line.rfind(b'r="')
    _carry(row_cells, line[last_row:].split(b" ")[1:] if last_row >= 0 else None, seen)


def _carry(row_cells: set[bytes], last_row: list[bytes] | None, references: Iterable[bytes]) -> None:
    """Keep in ``row_cells`` the references of the row a block ended in: ``last_row``, the cells
    of the last row begun in it, or, where no row began in the block (None), its ``references``
    added to those of the row it went on with."""
    if last_row is None:
        row_cells.update(references)
    else:
        row_cells.clear()
        row_cells.update(last_row)


def _check_repeats(references: list[bytes], row_cells: set[bytes]) -> None:
    earlier = set(row_cells)
    for reference in references:
        if reference in earlier:
            raise ScanRefusal(
                f"the sheet XML writes cell {reference.decode()} twice (Excel writes each cell once; "
                f"the second would overwrite the first); {SAVE_AGAIN}"
            )
        earlier.add(reference)


def row_bits() -> bytearray:
    """The ``rows`` argument of :func:`check_values`: no row seen yet (128 KiB)."""
    return bytearray(ROW_LIMIT // 8 + 1)
