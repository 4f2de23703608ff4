"""A big sheet of an .xlsx/.xlsm read in pieces of at most :data:`PIECE_ROWS` rows, exactly as it reads whole.

python-calamine parses a whole sheet into memory before it gives the first row (about 1.35 kB a
row for a monthly workbook's layout, 1.6 GB for a million rows), from the sheet's first row to its
last. A sheet whose rows reach further down than :data:`WHOLE_PIECES` × :data:`PIECE_ROWS` is cut
instead, at ``<row`` tags, into as few pieces as it takes for each to span at most
:data:`PIECE_ROWS` rows, all about the same size; each piece is a small package (zip, stored, in
a temporary file that calamine reads from disk and that is removed once the piece is parsed)
built from the original's parts as they are — workbook, relationships, content types, styles,
shared strings — with the sheet's XML cut to its head (without ``<dimension>``, which calamine
only sizes its buffer by), the piece's ``<row>`` elements and its tail (``</sheetData>`` and what
follows, as it is). calamine reads one piece at a time, so the reader holds one piece, not the
sheet. A shorter sheet is read whole: each piece costs its shared strings' parse and its package,
and two pieces of a sheet just over :data:`PIECE_ROWS` rows save less memory than that is worth —
except for time: a sheet from :data:`SHARED_ROWS` rows on is cut in two, where the work of a
worker process that parses and cleanses the second piece evens out this process's, which
cleanses the first and hands all rows on — weighed by the sheet's bytes and its cells with
content (facts/sheet_rows.py counts them) — (facts/cleansing_worker.py; :attr:`PiecePlan.worker_from`).
The second piece's package is then written as soon as the first is parsed (while the pre-scan's
worker still runs), so that the worker parses it as it starts.

Where to cut comes from the pre-scan's extent pass (facts/sheet_rows.py), which places rows on
its way: there is no pass of its own. The rows come out as :meth:`CalamineSheet.iter_rows` gives
them for the whole sheet, numbered as there (calamine pads every piece's rows above its first
value cell; those already given are skipped), except that each row starts at column A
(:attr:`PiecedSheet.start` says column 0): cells left of the table are blank, and facts/excel.py
reads columns by their sheet position.

A sheet is cut only when that is safe (:attr:`facts.sheet_rows.RowPlaces.cuttable` and
:class:`facts.sheet_form.RowOrder`): every ``<row`` in its ``<sheetData>`` carries ``r="…"``, the
row numbers increase, and the sheet is unprefixed. Otherwise (and for .xls) it is read whole. A
cell whose reference names a row outside its piece's rows (no workbook Excel writes has one)
stops the read with an :class:`~wdh.errors.InputError`: the pieces would not be the whole.
"""

from __future__ import annotations

import bisect
import itertools
import math
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from python_calamine import CalamineError, CalamineWorkbook

from facts.duplicates import FileState, file_state
from facts.sheet_rows import RowPlaces
from facts.sheet_scan import CHUNK, SheetScan
from wdh.errors import InputError
from wdh.temp_folder import temp_folder

PIECE_ROWS = 100_000  # most rows of one piece; tests set it small
WHOLE_PIECES = 1.5  # a sheet whose last row is no further down than so many times PIECE_ROWS is read whole
SHARED_ROWS = 20_000  # … or, from so many rows on, in two pieces, the second by a worker process; tests set it small
# What a shared sheet's reading costs each process, in ns (measured on the benchmark's 2-vCPU machine;
# only their ratios matter): the worker parses its piece's XML, every byte of it, formatted empty
# cells too, and cleanses its cells with content; this process cleanses its own and hands them on
# (candidate folds, staging text), then hands on the worker's, which stay columns (facts/column_rows.py).
# The cut evens the two out.
WORKER_BYTE, WORKER_CELL = 27, 1_700
OWN_CELL, HANDED_CELL = 1_600, 600

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
    worker_from: int | None = None  # a sheet shared with a worker: the first row of its piece, the second


def plan_pieces(scan: SheetScan, piece_rows: int | None = None) -> PiecePlan | None:
    """The pieces of the sheet the pre-scan ``scan`` looked at, cut only at the row places its
    extent pass kept: as few as it takes for each to span at most ``piece_rows``
    (:data:`PIECE_ROWS`) row numbers, about the same size; ``None`` when the sheet's last row is no
    further down than :data:`WHOLE_PIECES` × that, or it cannot be cut (module docstring; before
    the marks pass has answered, its rows are taken to be in order). A piece spans more only where
    two places lie further apart (a sheet of more than 16,384 pieces). A sheet that would be read
    whole is cut in two for a worker when it has :data:`SHARED_ROWS` rows or more."""
    size, places = piece_rows or PIECE_ROWS, scan.places
    if not (places.cuttable and scan.order.kept and places.stop is not None and places.numbers):
        return None
    if places.last <= WHOLE_PIECES * size:
        return _shared(places)
    numbers = places.numbers
    first, end = numbers[0], places.last + 1  # the rows to cut: first … end - 1
    # A cut aimed at a row lands on the place at or before it: at most ``short`` rows before it.
    short = max(b - a for a, b in itertools.pairwise(itertools.chain(numbers, [end]))) - 1
    cuts = _even_cuts(numbers, first, end, -(-(end - first) // size))
    if _widest(numbers, cuts, end) > size and (size - short) * 2 >= size:  # aimed ``size - short`` apart
        cuts = _even_cuts(numbers, first, end, -(-(end - first) // (size - short)))
    if _widest(numbers, cuts, end) > size:  # places far apart: each piece as far as a place allows
        cuts = [0]
        while end - numbers[cuts[-1]] > size and cuts[-1] + 1 < len(numbers):
            cuts.append(max(cuts[-1] + 1, bisect.bisect_right(numbers, numbers[cuts[-1]] + size) - 1))
    stops = [places.offsets[cut] for cut in cuts[1:]] + [places.stop]
    bounds = [numbers[cut] for cut in cuts[1:]] + [end]
    pieces = (
        Piece(places.offsets[cut], stop, numbers[cut], following - 1)
        for cut, stop, following in zip(cuts, stops, bounds, strict=True)
    )
    return PiecePlan(places.head, places.tail, tuple(pieces))


def _shared(places: RowPlaces) -> PiecePlan | None:
    """Two pieces, the second for a worker (facts/cleansing_worker.py), cut at the row place where
    the two processes' work is nearest even (:func:`_work_apart`); ``None`` (read whole) for a sheet
    of fewer than :data:`SHARED_ROWS` rows, or one whose cut would leave a piece without rows."""
    numbers = places.numbers
    if places.stop is None or places.last - numbers[0] < SHARED_ROWS or len(numbers) < 2:
        return None
    low, high = 1, len(numbers) - 1  # the first place where this process's work is the more
    while low < high:
        middle = (low + high) // 2
        if _work_apart(places, middle) >= 0:
            high = middle
        else:
            low = middle + 1
    cut = min((low - 1, low), key=lambda at: abs(_work_apart(places, at)) if at else math.inf)
    if not cut:
        return None
    pieces = (
        Piece(places.offsets[0], places.offsets[cut], numbers[0], numbers[cut] - 1),
        Piece(places.offsets[cut], places.stop, numbers[cut], places.last),
    )
    return PiecePlan(places.head, places.tail, pieces, worker_from=numbers[cut])


def _work_apart(places: RowPlaces, cut: int) -> int:
    """This process's work in the reading minus the worker's, the sheet cut at place ``cut``
    (:data:`WORKER_BYTE` and the other weights): it grows with ``cut``."""
    assert places.stop is not None
    before, after = places.cells[cut], places.content - places.cells[cut]
    worker = WORKER_BYTE * (places.stop - places.offsets[cut]) + WORKER_CELL * after
    return OWN_CELL * before + HANDED_CELL * after - worker


def _even_cuts(numbers: Sequence[int], first: int, end: int, count: int) -> list[int]:
    """The places (indexes) at or before the rows that cut ``first`` … ``end - 1`` into ``count`` equal spans."""
    aims = (first + index * (end - first) // count for index in range(count))
    return sorted({bisect.bisect_right(numbers, aim) - 1 for aim in aims})


def _widest(numbers: Sequence[int], cuts: list[int], end: int) -> int:
    """The most rows one of the pieces starting at places ``cuts`` spans."""
    bounds = [numbers[cut] for cut in cuts] + [end]
    return max(b - a for a, b in itertools.pairwise(bounds))


class PiecedSheet:
    """A sheet read piece by piece: what facts/excel.py uses of a :class:`CalamineSheet`."""

    def __init__(self, path: Path, name: str, part: str, plan: PiecePlan, identity: FileState | None) -> None:
        """``identity``: :func:`~facts.duplicates.file_state` of the file when the plan was made from it."""
        self.path, self.name, self.part, self.plan = path, name, part, plan
        self._parsed = _parsed_pieces(path, name, part, plan, identity)  # holds no reference to this sheet
        self._first: tuple[Piece, Any] | None = next(self._parsed)  # parsed now, while the pre-scan's worker runs
        self.pieces_read = 1  # for the tests: how many pieces calamine parsed
        end = self._first[1].end
        self.first_end = end[0] + 1 if end is not None else 0  # the last row the first piece gives (Excel number)

    @property
    def start(self) -> tuple[int, int]:
        """Every row starts at column A (the row of the start does not matter to the reader)."""
        return 0, 0

    def iter_rows(self) -> Iterator[list[Any]]:
        """The sheet's rows from row 1, as calamine gives them whole, but from column A."""
        return itertools.chain.from_iterable(self._runs())

    def close(self) -> None:
        """Let go of the piece being read and remove the pieces' temporary files now, in the
        caller's own code: left to the garbage collector, that clean-up ran where Python ignores
        exceptions — the run's RunInterrupted, a signal landing then, was lost (the run went on to
        its end; wdh/interruption.py caught it only before the commit)."""
        self._first = None
        self._parsed.close()

    def rows_and_rest(self) -> tuple[Iterator[list[Any]], Callable[[], Iterator[list[Any]]]]:
        """:meth:`iter_rows`, and what gives its rows after those of the piece being read: from
        the row after the last that piece gave (:attr:`first_end`, for the first), with those of
        the following pieces — the rest of its rows not asked of calamine (a worker reads the
        second piece so). Neither is kept here: a sheet that held the pieces' generator, which
        holds the sheet, would be a reference cycle, freed only by the cycle collector, which a
        run turns off — each file's first piece stayed in memory to the run's end."""
        runs = self._runs()
        return itertools.chain.from_iterable(runs), lambda: itertools.chain.from_iterable(runs)

    def _runs(self) -> Iterator[Iterator[list[Any]]]:
        """Each piece's rows not given yet (the rows themselves pass in C, one piece after another)."""
        given = 0  # rows given so far: the Excel number of the last
        pieces = itertools.chain([self._first] if self._first else [], self._counted())
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

    def _counted(self) -> Iterator[tuple[Piece, Any]]:
        for parsed in self._parsed:
            self.pieces_read += 1
            yield parsed


def _parsed_pieces(
    path: Path, name: str, part: str, plan: PiecePlan, identity: FileState | None
) -> Generator[tuple[Piece, Any], None, None]:
    """Each piece with calamine's cells of it, parsed when asked for (the previous one let go); its
    temporary files are removed as soon as the generator ends or is dropped. A sheet shared with
    a worker has the next piece's package written before a piece is given (the first is parsed
    while the pre-scan's worker runs: the cleansing worker then parses the second as it forks)."""
    try:
        with (
            zipfile.ZipFile(path) as archive,
            archive.open(part) as stream,
            temp_folder("pieces") as folder,
        ):
            if file_state(path) != identity:
                raise InputError(f"{path}: the file changed while it was being read; run again")
            others, package = Path(folder) / "others.zip", Path(folder) / f"piece{path.suffix.lower()}"
            _write_others(archive, part, others)
            stream.read(plan.pieces[0].start)  # the head, then the gap before the first row
            ahead = plan.worker_from is not None
            for index, piece in enumerate(plan.pieces):
                if not (ahead and index):  # else written as the one before was parsed
                    write_piece(others, part, plan, stream, piece.stop - piece.start, package)
                cells = _parse(path, name, package)
                package.unlink()
                if ahead and index + 1 < len(plan.pieces):
                    following = plan.pieces[index + 1]
                    write_piece(others, part, plan, stream, following.stop - following.start, package)
                yield piece, cells
                del cells
    except (zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: cannot be read as an Excel workbook ({exc}); copy it again") from None
    except OSError as exc:
        raise InputError(
            f"{path}: reading its sheet in pieces failed ({exc}); check that the file can be read and that "
            f"the temporary folder ({tempfile.gettempdir()}) can be written and has room, then run again"
        ) from None


def _parse(path: Path, name: str, package: Path) -> Any:
    try:
        with CalamineWorkbook.from_path(package) as workbook:
            return workbook.get_sheet_by_name(name)
    except (CalamineError, ValueError) as exc:
        raise InputError(
            f"{path}: cannot be read as an Excel workbook ({exc}); the file may be damaged or truncated — "
            "copy it again, or open it in Excel and save it again"
        ) from None


def _write_others(archive: zipfile.ZipFile, part: str, out: Path) -> None:
    """A package, stored, of every part but the sheet's, as it is; other worksheets as empty ones
    (calamine does not read them for this sheet). Each piece's package is a copy of it."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as package:
        for info in archive.infolist():
            if info.filename == part or info.is_dir():
                continue
            if info.filename.startswith(_WORKSHEETS) and info.filename.endswith(".xml"):
                package.writestr(info.filename, _EMPTY_SHEET)
                continue
            with archive.open(info) as source, package.open(info.filename, "w", force_zip64=True) as target:
                shutil.copyfileobj(source, target, CHUNK)


def write_piece(others: Path, part: str, plan: PiecePlan, rows: IO[bytes], size: int, out: Path) -> None:
    """At ``out``, a copy of the package ``others`` with ``part`` added, stored: ``plan``'s head,
    the next ``size`` bytes of ``rows`` and ``plan``'s tail, copied in blocks."""
    shutil.copyfile(others, out)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_STORED) as package, package.open(part, "w", force_zip64=True) as sheet:
        sheet.write(plan.head)
        while size > 0:
            block = rows.read(min(size, CHUNK))
            if not block:
                raise zipfile.BadZipFile("the sheet part ended before its planned end")
            sheet.write(block)
            size -= len(block)
        sheet.write(plan.tail)
