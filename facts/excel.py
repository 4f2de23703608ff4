"""Reading one sheet of a monthly workbook: its normalised header and its non-blank rows.

Reads files only (python-calamine for ``.xlsx``, ``.xlsm`` and ``.xls``); never touches the
database. Cells keep the Python types calamine gives them, with two exceptions: an empty cell is
``None`` (calamine says ``""``) and a formula error value is a :class:`CellError`. What the
cleansing step must know about those types:

- every number is a ``float``: ``202602`` reads as ``202602.0`` and ``9078`` as ``9078.0``;
- date cells (also custom formats such as ``yyyy"年"m"月"``) are ``date``, or ``datetime`` when
  they carry a time; time and duration cells are ``time`` / ``timedelta``;
- text is ``str`` exactly as written (not stripped); booleans are ``bool``;
- a formula gives its cached value; a formula never calculated (no cached value, as some
  generated files have) is a :class:`CellError` with ``uncalculated`` set, in every column read;
- a merged area gives its value in the top-left cell and ``None`` in the others.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook, PasswordError

from facts.package import PackageRefusal, check_calamine_parts, check_directory, copy_with_part, sheet_part
from facts.sheet_choice import sheet_choice
from facts.sheet_form import ScanRefusal
from facts.sheet_header import (
    cell_text,
    check_dropped,
    check_storable,
    check_unique,
    column_letter,
    find_header_row,
    header_columns,
    is_blank,
)
from facts.sheet_scan import Mark, copy_without, scan_extent, scan_marks
from facts.xls_scan import XlsRefusal, xls_error_cells
from wdh.errors import InputError

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_OOXML_SUFFIXES = (".xlsx", ".xlsm")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")  # stream of an encrypted OOXML package

UNCALCULATED = "formula was never calculated (open and save the workbook in Excel)"
NAMED_OUTSIDE = 5  # cells outside the table named in warnings; the rest are counted


@dataclass(frozen=True)
class CellError:
    """A cell the reader cannot give a value for: a formula error value (``#N/A``, ``#DIV/0!``,
    ``#REF!``…) or, with ``uncalculated``, a formula without a cached value (``code`` is then
    the formula, ``=`` first)."""

    code: str
    uncalculated: bool = False

    def __str__(self) -> str:
        return self.code

    @property
    def problem(self) -> str:
        """The row error's message."""
        return UNCALCULATED if self.uncalculated else f"formula error {self.code}"


_ErrorCells = dict[int, dict[int, CellError]]  # Excel row number -> 0-based column -> error


@dataclass(frozen=True)
class SheetData:
    """One sheet: its header and a one-pass stream of its non-blank rows below the header.

    ``header[i]``, ``raw_header[i]`` and ``column_letters[i]`` describe the ``i``-th value of
    every row. Cells outside the header's columns (no name to the left of the first or right of
    the last header cell) are not read; each non-blank one below the header row is named in
    ``warnings`` (the first few; then a count), filled as the rows stream.
    """

    path: Path
    sheet: str  # the real sheet name
    header: tuple[str, ...]  # normalised names, in column order ("" for a column with no name)
    raw_header: tuple[str, ...]  # as written in the file
    column_letters: tuple[str, ...]  # Excel's letters of each header column ("A", "B", …)
    header_row: int  # Excel row number of the header row
    _stream: _RowStream = field(repr=False, compare=False)
    warnings: list[str] = field(default_factory=list, compare=False)
    renames: Mapping[str, str] = field(default_factory=dict, compare=False)  # the header renames applied

    def iter_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """``(Excel row number, values aligned to header)`` for each non-blank row; once only.

        A blank row (every cell empty or whitespace) is skipped and counted in ``blank_rows``.
        """
        return self._stream.take()

    @property
    def blank_rows(self) -> int:
        """Blank rows below the header skipped so far (all of them once iteration is done)."""
        return self._stream.blank_rows


class _RowStream:
    """calamine's row iterator below the header, cut to the header's columns."""

    def __init__(
        self,
        rows: Iterator[tuple[int, list[Any]]],
        columns: slice,
        errors: _ErrorCells,
        *,
        offset: int,
        letters: tuple[str, ...],
        warnings: list[str],
    ) -> None:
        self._rows = rows
        self._letters = letters  # of the header's columns, for the warnings
        self._warnings = warnings  # the SheetData's, extended once the rows are done
        self._columns = columns
        self._errors = errors
        self._offset = offset  # sheet column of calamine's first column
        self._taken = False
        self.blank_rows = 0
        self.outside: list[str] = []  # references of non-blank cells outside the header's columns

    def take(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        if self._taken:
            raise RuntimeError("the rows of a SheetData can be iterated only once; call read_sheet() again")
        self._taken = True
        return self._generate()

    def _generate(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        columns, errors = self._columns, self._errors
        width = columns.stop - columns.start
        for number, row in self._rows:
            if len(row) > width:
                self._note_outside(number, row)
            values = [None if value == "" else value for value in row[columns]]
            if len(values) < width:
                values.extend([None] * (width - len(values)))
            if number in errors:
                for position, error in errors[number].items():
                    values[position] = error
            if is_blank(values):
                self.blank_rows += 1
                continue
            yield number, tuple(values)
        self._warnings.extend(_outside_warnings(self.outside, self._letters))

    def _note_outside(self, number: int, row: list[Any]) -> None:
        start, stop = self._columns.start, self._columns.stop
        for index in (*range(start), *range(stop, len(row))):
            if not is_blank([row[index]]):
                self.outside.append(f"{column_letter(self._offset + index)}{number}")


def _outside_warnings(cells: list[str], letters: tuple[str, ...]) -> list[str]:
    if not cells:
        return []
    table = f"{letters[0]}–{letters[-1]}"
    named = [f"cell {cell} lies outside the table {table} and was ignored" for cell in cells[:NAMED_OUTSIDE]]
    if len(cells) > NAMED_OUTSIDE:
        named.append(f"{len(cells) - NAMED_OUTSIDE} more non-blank cell(s) outside the table {table} were ignored")
    return named


def read_sheet(
    path: Path,
    sheet: str | int,
    *,
    sheet_key: str = "the configured sheet",
    renames: Mapping[str, str] | None = None,
) -> SheetData:
    """Open ``path`` and read the header of ``sheet`` (a name, or a 0-based index); ``sheet_key``
    is the configuration key a missing sheet's message tells to set; ``renames`` are the sheet
    type's header renames (:func:`facts.sheet_header.normalise_header`).

    Reads the file only. The header row is the first non-blank row; the data rows stream from
    :meth:`SheetData.iter_rows`. Raises :class:`~wdh.errors.InputError` naming the file (and
    sheet) when the file is missing, unreadable, not a workbook, damaged, password-protected or
    beyond the reader's limits (:func:`check_workbook`), when the sheet does not exist or has
    no header row, when a header cell holds a NUL, and when two header cells have the same
    normalised name.
    """
    _check_file(path)
    loaded = _load_sheet(path, sheet, sheet_key)
    name, calamine_sheet = loaded.name, loaded.cells
    rows = enumerate(calamine_sheet.iter_rows(), start=1)  # calamine pads the rows above its data
    header_row, cells = find_header_row(rows, path, name)
    offset = calamine_sheet.start[1] if calamine_sheet.start else 0  # column of calamine's first cell
    check_storable(path, name, cells, offset)
    columns, header = header_columns(cells, path, name, renames)
    raw_header = tuple(cell_text(cell) for cell in cells[columns])
    letters = tuple(column_letter(offset + index) for index in range(columns.start, columns.stop))
    check_unique(path, name, header, raw_header, letters)
    first = offset + columns.start
    check_dropped(path, name, loaded.dropped, first=first, stop=offset + columns.stop)
    positions = _error_positions(loaded.marks, first=first, width=len(header))
    stream = _RowStream(rows, columns, positions, offset=offset, letters=letters, warnings=loaded.warnings)
    stream.outside.extend(f"{column_letter(column)}{row}" for row, column in loaded.dropped)
    return SheetData(path, name, header, raw_header, letters, header_row, stream, loaded.warnings, dict(renames or {}))


def check_workbook(path: Path, sheet: str | int, *, sheet_key: str = "the configured sheet") -> None:
    """Check, reading the file only, that ``path`` can be read within the reader's limits: a
    readable workbook; no part of its package decompressing to more than ``WDH_MAX_PART_MB``
    or holding a text longer than any Excel cell; ``sheet`` exists; its XML has no tag or cell
    beyond the scan's bounds. Raises :class:`~wdh.errors.InputError` naming the file.
    Execute runs call it before taking the advisory lock; :func:`read_sheet` checks the same."""
    _check_file(path)
    with _guarded(path), _opened(path) as (workbook, archive):
        name, _ = sheet_choice(path, workbook.sheets_metadata, sheet, sheet_key)
        part = sheet_part(archive, name) if archive else None
        if archive and part:
            with archive.open(part) as stream:
                scan_extent(stream, marks=True)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[tuple[CalamineWorkbook, zipfile.ZipFile | None]]:
    """calamine's workbook and, for .xlsx/.xlsm, the zip package, its limits checked first:
    calamine reads the shared strings as it opens the workbook."""
    with contextlib.ExitStack() as stack:
        archive = None
        if path.suffix.lower() in _OOXML_SUFFIXES:
            archive = stack.enter_context(zipfile.ZipFile(path))
            check_directory(archive)
            check_calamine_parts(archive)
        yield stack.enter_context(CalamineWorkbook.from_path(path)), archive


def _check_file(path: Path) -> None:
    """Fail unless ``path`` is a readable file whose first bytes match its Excel suffix."""
    if not path.exists():
        raise InputError(f"{path}: file not found; check the path and the file name")
    if not path.is_file():
        raise InputError(f"{path}: not a file; name the workbook itself, not a folder")
    suffix = path.suffix.lower()
    if suffix not in EXCEL_SUFFIXES:
        raise InputError(f"{path}: not an Excel workbook (expected .xlsx, .xlsm or .xls, got {suffix or 'no suffix'})")
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_OLE_MAGIC))
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); give the user running wdh read access") from None
    if not magic:
        raise InputError(f"{path}: the file is empty (0 bytes); copy the workbook again")
    if suffix in _OOXML_SUFFIXES and magic == _OLE_MAGIC:
        raise _ole_instead_of_ooxml(path)
    expected = _OLE_MAGIC if suffix == ".xls" else _ZIP_MAGIC
    if not magic.startswith(expected):
        raise InputError(
            f"{path}: not an Excel workbook (its content is not {suffix} data, despite the name); "
            "open it in Excel and save it as .xlsx"
        )


def _ole_instead_of_ooxml(path: Path) -> InputError:
    """An .xlsx/.xlsm that is an OLE container: Excel encrypts with a password this way."""
    if _ENCRYPTION_STREAM in path.read_bytes():
        return InputError(
            f"{path}: the workbook is password-protected (encrypted); remove the password in Excel "
            "(File › Info › Protect Workbook › Encrypt with Password) and save it again"
        )
    return InputError(
        f"{path}: an old-format (Excel 97-2003) file with a {path.suffix} name; rename it to .xls "
        "or open it in Excel and save it as .xlsx"
    )


@dataclass
class _Loaded:
    name: str  # the real sheet name
    cells: CalamineSheet
    marks: _ErrorCells = field(default_factory=dict)  # sheet row → sheet column → error
    dropped: list[tuple[int, int]] = field(default_factory=list)  # far cells calamine did not see
    warnings: list[str] = field(default_factory=list)


def _load_sheet(path: Path, sheet: str | int, sheet_key: str) -> _Loaded:
    """The sheet's cells (only this sheet is read), with its error marks and far cells.

    An .xlsx/.xlsm is checked as :func:`check_workbook` does; when its sheet has value cells
    from column AA on or in rows from 1,000,000 on, calamine reads a copy without them (its
    dense range would otherwise reach them). The mark scan runs on a second thread: calamine
    releases the GIL while it parses, so the scan costs no wall-clock time.
    """
    with _guarded(path), _opened(path) as (workbook, archive), ThreadPoolExecutor(max_workers=1) as pool:
        name, warnings = sheet_choice(path, workbook.sheets_metadata, sheet, sheet_key)
        part = sheet_part(archive, name) if archive else None
        if archive is None:  # .xls: calamine reads its error cells as empty text
            return _Loaded(name, workbook.get_sheet_by_name(name), _xls_marks(path, name), warnings=warnings)
        if part is None:
            return _Loaded(name, workbook.get_sheet_by_name(name), warnings=warnings)
        with archive.open(part) as stream:
            far = scan_extent(stream).far
        marks = pool.submit(_marks, path, part)
        cells = _far_free_cells(workbook, path, name, part, far)
        return _Loaded(name, cells, marks.result(), sorted(far), warnings)


def _far_free_cells(
    workbook: CalamineWorkbook, path: Path, name: str, part: str, far: list[tuple[int, int]]
) -> CalamineSheet:
    if not far:
        return workbook.get_sheet_by_name(name)
    positions = set(far)
    rewrite = copy_with_part(path, part, lambda source, out: copy_without(source, out, positions))
    with rewrite as copy, CalamineWorkbook.from_path(copy) as sanitised:
        return sanitised.get_sheet_by_name(name)


def _marks(path: Path, part: str) -> _ErrorCells:
    with zipfile.ZipFile(path) as archive, archive.open(part) as stream:
        found = scan_marks(stream)
    marks: _ErrorCells = {}
    for mark in found:
        marks.setdefault(mark.row, {})[mark.column] = _cell_error(mark)
    return marks


def _xls_marks(path: Path, sheet: str) -> _ErrorCells:
    marks: _ErrorCells = {}
    for row, column, code in xls_error_cells(path, sheet):
        marks.setdefault(row, {})[column] = CellError(code)
    return marks


def _cell_error(mark: Mark) -> CellError:
    if mark.error is not None:
        return CellError(mark.error)
    return CellError(f"={mark.formula}", uncalculated=True)


@contextlib.contextmanager
def _guarded(path: Path) -> Iterator[None]:
    """Every failure to read the package as an InputError naming the file."""
    try:
        yield
    except PasswordError:
        raise InputError(
            f"{path}: the workbook is password-protected; remove the password in Excel and save it again"
        ) from None
    except (PackageRefusal, ScanRefusal, XlsRefusal) as exc:
        raise InputError(f"{path}: {exc}") from None
    except MemoryError:
        raise InputError(f"{path}: reading the workbook ran out of memory; check that this is the right file") from None
    except (CalamineError, zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise _damaged(path, exc) from None


def _damaged(path: Path, exc: Exception) -> InputError:
    return InputError(
        f"{path}: cannot be read as an Excel workbook ({exc}); the file may be damaged or truncated — "
        "copy it again, or open it in Excel and save it again"
    )


def _error_positions(errors: _ErrorCells, *, first: int, width: int) -> _ErrorCells:
    """Error cells keyed by position in the header instead of sheet column."""
    positions: _ErrorCells = {}
    for number, cells in errors.items():
        inside = {column - first: error for column, error in cells.items() if 0 <= column - first < width}
        if inside:
            positions[number] = inside
    return positions
