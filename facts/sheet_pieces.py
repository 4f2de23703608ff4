"""A big sheet of an .xlsx/.xlsm read in pieces of :data:`PIECE_ROWS` rows, exactly as it reads whole.

python-calamine parses a whole sheet into memory before it gives the first row (about 1.35 kB a
row for a monthly workbook's layout, 1.6 GB for a million rows). A sheet with more rows than
:data:`PIECE_ROWS` is cut instead, at ``<row`` tags, into pieces; each piece is a small package
built in memory (zip, stored) from the original's parts as they are — workbook, relationships,
content types, styles, shared strings — with the sheet's XML cut to its head (without
``<dimension>``, which calamine only sizes its buffer by), the piece's ``<row>`` elements and its
tail (``</sheetData>`` and what follows, as it is). calamine reads one piece at a time, so the
reader holds one piece, not the sheet.

The rows come out as :meth:`CalamineSheet.iter_rows` gives them for the whole sheet, numbered as
there (calamine pads every piece's rows above its first value cell; those already given are
skipped), except that each row starts at column A (:attr:`PiecedSheet.start` says column 0):
cells left of the table are blank, and facts/excel.py reads columns by their sheet position.

A sheet is cut only when that is safe: every ``<row`` in its ``<sheetData>`` carries ``r="…"``,
the row numbers increase, and the sheet is unprefixed. Otherwise (and for .xls) it is read whole.
A cell whose reference names a row outside its piece's rows (no workbook Excel writes has one)
stops the read with an :class:`~wdh.errors.InputError`: the pieces would not be the whole.
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from python_calamine import CalamineError, CalamineWorkbook

from facts.sheet_scan import CELL_LIMIT, CHUNK
from wdh.errors import InputError

PIECE_ROWS = 100_000  # rows of one piece; tests set it small
HEAD_LIMIT = 16 << 20  # bytes of sheet XML before <sheetData> beyond which the sheet is read whole

_SHEET_DATA = re.compile(rb"<sheetData\b[^<>]*>")
_DIMENSION = re.compile(rb"<dimension\b[^<>]*/>")
_ROW_TAG = re.compile(rb"<row[\s/>]")
_NUMBERED = re.compile(rb'<row\b[^<>]*?\sr="([0-9]{1,7})"[^<>]*>')
_END = b"</sheetData>"
_WORKSHEETS = "xl/worksheets/"
_EMPTY_SHEET = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>'
)


@dataclass(frozen=True)
class Piece:
    """Rows ``first``–``last`` (Excel numbers), from byte ``start`` of the sheet XML to ``stop``."""

    start: int
    stop: int
    first: int
    last: int


@dataclass(frozen=True)
class PiecePlan:
    """Where a sheet is cut: its XML's head and tail, and its pieces in order."""

    head: bytes  # up to and with the <sheetData …> tag, <dimension …/> left out
    tail: bytes  # from </sheetData> to the end
    pieces: tuple[Piece, ...]


def plan_pieces(archive: zipfile.ZipFile, part: str, piece_rows: int | None = None) -> PiecePlan | None:
    """The pieces of sheet part ``part``, or ``None`` when it has no more than ``piece_rows``
    (:data:`PIECE_ROWS`) rows or cannot be cut safely (module docstring). One pass over the
    part, in blocks; holds one block, the head and the tail."""
    size = piece_rows or PIECE_ROWS
    with archive.open(part) as stream:
        head, body_start, carry = _head(stream)
        if head is None:
            return None
        cuts: list[tuple[int, int]] = []  # (byte offset, row number) of each piece's first row
        previous = 0
        count = 0
        position = body_start  # offset of carry[0] in the part
        tail = b""
        while True:
            chunk = stream.read(CHUNK)
            block = carry + chunk
            end = block.find(_END)
            cut = end if end >= 0 else (block.rfind(b"<") if chunk else len(block))
            if cut < 0:
                cut = 0
            for match in _ROW_TAG.finditer(block, 0, cut):
                numbered = _NUMBERED.match(block, match.start())
                if numbered is None or int(numbered[1]) <= previous:
                    return None  # a row without its number, or out of order: read whole
                previous = int(numbered[1])
                if count % size == 0:
                    cuts.append((position + match.start(), previous))
                count += 1
            if end >= 0:
                tail = block[end:] + stream.read()
                stop = position + end
                break
            if not chunk:
                return None  # no </sheetData>: not a sheet to cut
            carry = block[cut:]
            position += cut
            if len(carry) > CELL_LIMIT:
                return None
    if count <= size:
        return None
    pieces = []
    for index, (start, first) in enumerate(cuts):
        following = cuts[index + 1] if index + 1 < len(cuts) else None
        pieces.append(Piece(start, following[0] if following else stop, first, 0))
    return PiecePlan(head, tail, tuple(_with_last(pieces, previous)))


def _with_last(pieces: list[Piece], last_row: int) -> Iterator[Piece]:
    """The pieces with their last row: the row before the next piece's first (or the sheet's last)."""
    for index, piece in enumerate(pieces):
        following = pieces[index + 1].first - 1 if index + 1 < len(pieces) else last_row
        yield Piece(piece.start, piece.stop, piece.first, following)


def _head(stream: Any) -> tuple[bytes | None, int, bytes]:
    """The head (``None`` when there is no unprefixed ``<sheetData>`` to cut within
    :data:`HEAD_LIMIT`), the offset after it, and what was read beyond it."""
    read = b""
    while len(read) <= HEAD_LIMIT:
        chunk = stream.read(CHUNK)
        read += chunk
        match = _SHEET_DATA.search(read)
        if match and not match[0].endswith(b"/>"):
            return _DIMENSION.sub(b"", read[: match.end()]), match.end(), read[match.end() :]
        if match or not chunk:
            return None, 0, b""
    return None, 0, b""


class PiecedSheet:
    """A sheet read piece by piece: what facts/excel.py uses of a :class:`CalamineSheet`."""

    def __init__(self, path: Path, name: str, part: str, plan: PiecePlan) -> None:
        self.path, self.name, self.part, self.plan = path, name, part, plan
        self._identity = _identity(path)  # of the file the plan was made from
        self.pieces_read = 0  # for the tests: how many pieces calamine parsed
        self._parsed = self._pieces()
        self._first: tuple[Piece, Any] | None = next(self._parsed)  # parsed now, while the pre-scan's worker runs

    @property
    def start(self) -> tuple[int, int]:
        """Every row starts at column A (the row of the start does not matter to the reader)."""
        return 0, 0

    def iter_rows(self) -> Iterator[list[Any]]:
        """The sheet's rows from row 1, as calamine gives them whole, but from column A."""
        return itertools.chain.from_iterable(self._runs())

    def _runs(self) -> Iterator[Iterator[list[Any]]]:
        """Each piece's rows not given yet (the rows themselves pass in C, one piece after another)."""
        given = 0  # rows given so far: the Excel number of the last
        pieces = itertools.chain([self._first] if self._first else [], self._parsed)
        self._first = None  # let go of the first piece once it is read
        for piece, cells in pieces:
            if cells.start is None:
                continue  # no value cell: the next piece's padding gives its blank rows
            if cells.start[0] + 1 < piece.first or cells.end is None or cells.end[0] + 1 > piece.last:
                raise InputError(
                    f"{self.path}, sheet {self.name!r}: a cell's reference names a row outside the "
                    f"<row> element that holds it (near rows {piece.first}–{piece.last}); "
                    "open the workbook in Excel and save it again"
                )
            pad = [""] * cells.start[1]
            rows = itertools.islice(cells.iter_rows(), given, None)
            yield map(pad.__add__, rows) if pad else rows
            given = cells.end[0] + 1
            del cells, rows

    def _pieces(self) -> Iterator[tuple[Piece, Any]]:
        """Each piece with calamine's cells of it, parsed when asked for (the previous one let go)."""
        with zipfile.ZipFile(self.path) as archive, archive.open(self.part) as stream:
            if _identity(self.path) != self._identity:
                raise InputError(f"{self.path}: the file changed while it was being read; run again")
            others = _other_parts(archive, self.part)
            stream.read(self.plan.pieces[0].start)  # the head, then the gap before the first row
            for piece in self.plan.pieces:
                try:
                    package = piece_package(others, self.part, self.plan, stream, piece.stop - piece.start)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise InputError(
                        f"{self.path}: cannot be read as an Excel workbook ({exc}); copy it again"
                    ) from None
                self.pieces_read += 1
                yield piece, self._parse(package)

    def _parse(self, package: IO[bytes]) -> Any:
        try:
            with CalamineWorkbook.from_filelike(package) as workbook:
                return workbook.get_sheet_by_name(self.name)
        except (CalamineError, ValueError) as exc:
            raise InputError(
                f"{self.path}: cannot be read as an Excel workbook ({exc}); the file may be damaged — "
                "copy it again, or open it in Excel and save it again"
            ) from None


def _identity(path: Path) -> tuple[int, ...]:
    state = path.stat()
    return state.st_dev, state.st_ino, state.st_size, state.st_mtime_ns, state.st_ctime_ns


def _other_parts(archive: zipfile.ZipFile, part: str) -> dict[str, bytes]:
    """Every part but the sheet's, as it is; other worksheets as empty ones (calamine does not
    read them for this sheet)."""
    parts: dict[str, bytes] = {}
    for info in archive.infolist():
        if info.filename == part or info.is_dir():
            continue
        is_sheet = info.filename.startswith(_WORKSHEETS) and info.filename.endswith(".xml")
        parts[info.filename] = _EMPTY_SHEET if is_sheet else archive.read(info)
    return parts


def piece_package(others: dict[str, bytes], part: str, plan: PiecePlan, rows: IO[bytes], size: int) -> IO[bytes]:
    """A package, stored (not compressed), of ``others`` and ``part``: ``plan``'s head, the next
    ``size`` bytes of ``rows`` and ``plan``'s tail, copied in blocks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as package:
        for name, content in others.items():
            package.writestr(name, content)
        with package.open(part, "w", force_zip64=True) as sheet:
            sheet.write(plan.head)
            while size > 0:
                block = rows.read(min(size, CHUNK))
                if not block:
                    raise zipfile.BadZipFile("the sheet part ended before its planned end")
                sheet.write(block)
                size -= len(block)
            sheet.write(plan.tail)
    buffer.seek(0)
    return buffer
