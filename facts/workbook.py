"""A workbook's package opened within the reader's limits, its sheet chosen, pre-scanned and
parsed: the sheet's cells as calamine gives them, with the error cells calamine cannot tell.

:func:`load_sheet` is what :func:`facts.excel.read_sheet` reads from. :func:`check_workbooks` is
the check an execute run makes before it takes the advisory lock; it scans every workbook once,
and what it found is kept for the read that follows, so that the read does not scan again: the
far cells, the error marks and the pieces' plan of each workbook (unless it has more than
:data:`KEPT_MARKS` marks), and the parsed cells of the first one, which calamine parses while
the scan's worker is still at work (facts/scan_worker.py); each workbook's check begins while
the one before is still being scanned there. A kept result is used only for the
same file and sheet, unchanged (device, inode, size, modification and change times), and only
once; the next check of a sheet drops what an earlier one left of it, and a run drops all it
kept as it ends (a run that stopped between its check and its read).
Reads files only (and writes temporary files: a big sheet's pieces, facts/sheet_pieces.py; a
copy without far cells).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook, PasswordError

from facts.duplicates import FileState, file_state
from facts.package import PackageRefusal, check_calamine_parts, check_directory, copy_with_part, sheet_part
from facts.scan_worker import ScanBegun, scan_split
from facts.sheet_choice import sheet_choice
from facts.sheet_form import ScanRefusal
from facts.sheet_pieces import PiecedSheet, PiecePlan, plan_pieces
from facts.sheet_scan import Mark, SheetScan, copy_without
from facts.xls_scan import XlsRefusal, xls_error_cells
from wdh.errors import InputError

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_OOXML_SUFFIXES = (".xlsx", ".xlsm")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")  # stream of an encrypted OOXML package

SCANS_BESIDE = 1  # workbooks checked ahead while an earlier one's marks pass runs (a worker each)
KEPT_MARKS = 10_000  # error cells of one workbook the check keeps for its read; beyond: scanned again
UNCALCULATED = "formula was never calculated (open and save the workbook in Excel)"


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


ErrorCells = dict[int, dict[int, CellError]]  # Excel row number -> 0-based column -> error


SheetCells = CalamineSheet | PiecedSheet  # a big sheet is read in pieces (facts/sheet_pieces.py)


@dataclass
class LoadedSheet:
    name: str  # the real sheet name
    cells: SheetCells
    marks: ErrorCells = field(default_factory=dict)  # sheet row → sheet column → error
    dropped: list[tuple[int, int]] = field(default_factory=list)  # far cells calamine did not see
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Checked:
    """What :func:`check_workbooks` found in one workbook, for :func:`load_sheet`."""

    identity: FileState | None
    name: str
    part: str
    far: list[tuple[int, int]]
    marks: ErrorCells
    warnings: list[str]
    plan: PiecePlan | None  # where a big sheet is cut (facts/sheet_pieces.py)
    cells: SheetCells | None  # parsed during the check (the first workbook only)


# by file and sheet as asked for: a run of two domains checks two sheets of each workbook
_checked: dict[tuple[Path, str | int], _Checked] = {}


def checks_forget() -> None:
    """Drop what the checks (:func:`check_workbooks`) kept for the reading (parsed sheets among it):
    a run that ends before it reads (the lock was held, a signal) must not leave it to the process."""
    _checked.clear()


def check_kept(path: Path, sheet: str | int) -> bool:
    """Whether a :func:`check_workbooks` kept what it found in ``sheet`` of ``path`` for its read."""
    return (path, sheet) in _checked


def check_workbooks(paths: Sequence[Path], sheet: str | int, *, sheet_key: str = "the configured sheet") -> None:
    """:func:`check_workbook` for each of ``paths``, in the order they will be read; the first
    one's sheet is parsed too. Keeps what it found for :func:`load_sheet` (module docstring).

    The check of each workbook begins — its package opened, its sheet found, its worker forked —
    while the workers of the :data:`SCANS_BESIDE` before it may still run: after the first (whose
    extent pass runs here, for calamine's parse meanwhile), each worker runs both passes as one,
    so that two workers keep both cores busy while this process waits. The
    failure raised is still the first workbook's: a workbook whose check cannot begin waits for
    those before it to end theirs. What an earlier check kept of other sheets (another domain's)
    stays; :func:`checks_forget` drops it all."""
    for path in paths:
        _checked.pop((path, sheet), None)
    begun: collections.deque[_CheckBegun] = collections.deque()
    try:
        for index, path in enumerate(paths):
            if len(begun) > SCANS_BESIDE:
                begun.popleft().finish()
            try:
                check = _CheckBegun.of(path, sheet, sheet_key, parse=index == 0)
            except Exception:
                while begun:  # an earlier workbook's failure comes first
                    begun.popleft().finish()
                raise
            if check is not None:
                begun.append(check)
        while begun:
            begun.popleft().finish()
    except BaseException:
        for check in begun:
            check.abandon()
        _checked.clear()
        raise


def check_workbook(
    path: Path, sheet: str | int, *, sheet_key: str = "the configured sheet", parse: bool = False
) -> None:
    """Check, reading the file only, that ``path`` can be read within the reader's limits: a
    readable workbook; no part of its package decompressing to more than ``WDH_MAX_PART_MB``
    or holding a text longer than any Excel cell; ``sheet`` exists; its XML has no tag or cell
    beyond the scan's bounds. Raises :class:`~wdh.errors.InputError` naming the file.
    Execute runs call it before taking the advisory lock; :func:`load_sheet` checks the same, or
    takes what this found (with ``parse``, the sheet's cells too, parsed while the scan runs)."""
    check = _CheckBegun.of(path, sheet, sheet_key, parse=parse)
    if check is not None:
        check.finish()


@dataclass
class _CheckBegun:
    """One workbook's check whose sheet's marks pass may still be under way (facts/scan_worker.py)."""

    path: Path
    identity: FileState | None
    sheet: str | int  # as asked for
    name: str
    part: str
    warnings: list[str]
    scan: ScanBegun
    cells: SheetCells | None  # the sheet parsed meanwhile (asked for the first workbook only)

    @classmethod
    def of(cls, path: Path, sheet: str | int, sheet_key: str, *, parse: bool) -> _CheckBegun | None:
        """The check of ``path`` begun (everything but waiting for the marks pass); ``None`` when
        it is done already: an .xls, or a package without the sheet's part. Raises InputError."""
        check_file(path)
        identity = file_state(path)
        with _guarded(path), _opened(path) as (workbook, archive):
            name, warnings = sheet_choice(path, workbook.sheets_metadata, sheet, sheet_key)
            part = sheet_part(archive, name) if archive else None
            if not (archive and part):
                return None
            scan = ScanBegun(path, part, here=parse)  # the extent here only for the parse meanwhile
            sheet_part_name = part

            def parsed(extent: SheetScan) -> SheetCells | None:
                return _parsed_or_none(workbook, path, name, sheet_part_name, extent, identity)

            cells = scan.meanwhile(parsed if parse else None)
        return cls(path, identity, sheet, name, part, warnings, scan, cells)

    def finish(self) -> None:
        """Wait for the marks pass; raise the check's failure, or keep what it found for :func:`load_sheet`."""
        with _guarded(self.path):
            scan = self.scan.finished()
        if len(scan.marks) <= KEPT_MARKS:
            plan, far, cells = plan_pieces(scan), sorted(scan.far), self.cells
            if isinstance(cells, PiecedSheet) and plan is None:
                cells = None  # the marks pass found rows that cannot be cut: the read parses the sheet whole
            marks = _marks_by_row(scan.marks)
            _checked[self.path, self.sheet] = _Checked(
                self.identity, self.name, self.part, far, marks, self.warnings, plan, cells
            )
        self.cells = None

    def abandon(self) -> None:
        """End the marks pass's worker: the check stops (another workbook failed, or a signal)."""
        self.scan.abandon()
        self.cells = None


def _parsed_or_none(
    workbook: CalamineWorkbook, path: Path, name: str, part: str, scan: SheetScan, identity: FileState | None
) -> SheetCells | None:
    """The sheet's cells when it has no far cells; ``None`` when calamine fails: the read parses
    again and reports the failure as the read's (an execute run's check says what plan-only says)."""
    if scan.far:
        return None
    try:
        return _cells(workbook, path, name, part, plan_pieces(scan), identity)
    except Exception:  # reported by the read, which meets it again
        return None


def load_sheet(path: Path, sheet: str | int, sheet_key: str) -> LoadedSheet:
    """The sheet's cells (only this sheet is read), with its error marks and far cells.

    An .xlsx/.xlsm is checked as :func:`check_workbook` does, unless that check was made on the
    same file and kept; when its sheet has value cells from column AA on or in rows from
    1,000,000 on, calamine reads a copy without them (its dense range would otherwise reach
    them). The marks pass runs in a worker process while this one parses (facts/scan_worker.py).
    """
    checked = _checked.pop((path, sheet), None)
    if checked is not None and checked.identity != file_state(path):
        checked = None
    if checked is not None and checked.cells is not None:
        return LoadedSheet(checked.name, checked.cells, checked.marks, checked.far, checked.warnings)
    with _guarded(path), _opened(path) as (workbook, archive):
        if checked is not None:
            plan, identity = checked.plan, checked.identity
            cells = _far_free_cells(workbook, path, checked.name, checked.part, checked.far, plan, identity)
            return LoadedSheet(checked.name, cells, checked.marks, checked.far, checked.warnings)
        name, warnings = sheet_choice(path, workbook.sheets_metadata, sheet, sheet_key)
        part = sheet_part(archive, name) if archive else None
        if archive is None:  # .xls: calamine reads its error cells as empty text
            return LoadedSheet(name, workbook.get_sheet_by_name(name), _xls_marks(path, name), warnings=warnings)
        if part is None:
            return LoadedSheet(name, workbook.get_sheet_by_name(name), warnings=warnings)
        sheet_part_name, identity = part, file_state(path)
        split = scan_split(
            path,
            part,
            lambda scan: _far_free_cells(workbook, path, name, sheet_part_name, scan.far, plan_pieces(scan), identity),
        )
        if isinstance(split.meanwhile, PiecedSheet) and plan_pieces(split.scan) is None:
            split = dataclasses.replace(split, meanwhile=None)  # rows that cannot be cut: the piece let go
            split = dataclasses.replace(split, meanwhile=workbook.get_sheet_by_name(name))
        assert split.meanwhile is not None
        return LoadedSheet(name, split.meanwhile, _marks_by_row(split.scan.marks), sorted(split.scan.far), warnings)


def _cells(
    workbook: CalamineWorkbook, path: Path, name: str, part: str, plan: PiecePlan | None, identity: FileState | None
) -> SheetCells:
    """The sheet's cells: in pieces by ``plan`` (facts/sheet_pieces.py, made from the file as it
    was at ``identity``), else whole."""
    if plan is None:
        return workbook.get_sheet_by_name(name)
    return PiecedSheet(path, name, part, plan, identity)


def _far_free_cells(
    workbook: CalamineWorkbook,
    path: Path,
    name: str,
    part: str,
    far: list[tuple[int, int]],
    plan: PiecePlan | None,
    identity: FileState | None,
) -> SheetCells:
    """The sheet's cells; calamine reads a copy without the ``far`` cells (whole) when it has any."""
    if not far:
        return _cells(workbook, path, name, part, plan, identity)
    positions = set(far)
    rewrite = copy_with_part(path, part, lambda source, out: copy_without(source, out, positions))
    with rewrite as copy, CalamineWorkbook.from_path(copy) as sanitised:
        return sanitised.get_sheet_by_name(name)


def _marks_by_row(found: list[Mark]) -> ErrorCells:
    marks: ErrorCells = {}
    for mark in found:
        marks.setdefault(mark.row, {})[mark.column] = _cell_error(mark)
    return marks


def _xls_marks(path: Path, sheet: str) -> ErrorCells:
    marks: ErrorCells = {}
    for row, column, code in xls_error_cells(path, sheet):
        marks.setdefault(row, {})[column] = CellError("=…", uncalculated=True) if code is None else CellError(code)
    return marks


def _cell_error(mark: Mark) -> CellError:
    if mark.error is not None:
        return CellError(mark.error)
    return CellError(f"={mark.formula}", uncalculated=True)


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


def check_file(path: Path) -> None:
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
