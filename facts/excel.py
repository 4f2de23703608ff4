"""Reading one sheet of a monthly workbook: its normalised header and its non-blank rows.

Reads files only (python-calamine for ``.xlsx``, ``.xlsm`` and ``.xls``); never touches the
database. Cells keep the Python types calamine gives them, with two exceptions: an empty cell is
``None`` (calamine says ``""``) and a formula error value is a :class:`CellError`. What the
cleansing step must know about those types:

- every number is a ``float``: ``202602`` reads as ``202602.0`` and ``9078`` as ``9078.0``;
- date cells (also custom formats such as ``yyyy"年"m"月"``) are ``date``, or ``datetime`` when
  they carry a time; time and duration cells are ``time`` / ``timedelta``;
- text is ``str`` exactly as written (not stripped); booleans are ``bool``;
- a formula gives its cached value; a formula never calculated (some generated files) is ``None``;
- a merged area gives its value in the top-left cell and ``None`` in the others.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook, PasswordError

from wdh.errors import InputError

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_OOXML_SUFFIXES = (".xlsx", ".xlsm")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")  # stream of an encrypted OOXML package

_HEADER_RENAMES = {"机构": "机构名称", "计划号": "计划代码"}  # ANNUITY_PERFORMANCE.md §3


def header_spellings(column: str) -> tuple[str, ...]:
    """The header texts read as ``column``: itself and its older names (``计划号`` for ``计划代码``)."""
    return (column, *(old for old, new in _HEADER_RENAMES.items() if new == column))


_BRACKETED = re.compile(r"\(([^()]*)\)")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))

_CHUNK = 1 << 20
_ERROR_MARK = b't="e"'
_ERROR_CELL = re.compile(
    rb'<c\s([^>]*?\bt="e"[^>]*)>(?:<f\b[^>]*/>|<f\b[^>]*>[^<]*</f>)?<v>([^<]*)</v>',
)
_CELL_REF = re.compile(rb'\br="([A-Z]+)([0-9]+)"')


@dataclass(frozen=True)
class CellError:
    """A formula error value in a cell: ``#N/A``, ``#DIV/0!``, ``#REF!``, ``#VALUE!``…"""

    code: str

    def __str__(self) -> str:
        return self.code


_ErrorCells = dict[int, dict[int, CellError]]  # Excel row number -> 0-based column -> error


@dataclass(frozen=True)
class SheetData:
    """One sheet: its header and a one-pass stream of its non-blank rows below the header.

    ``header[i]``, ``raw_header[i]`` and ``column_letters[i]`` describe the ``i``-th value of
    every row. Columns outside the header (no name to the left of the first or right of the
    last header cell) are not read.
    """

    path: Path
    sheet: str  # the real sheet name
    header: tuple[str, ...]  # normalised names, in column order ("" for a column with no name)
    raw_header: tuple[str, ...]  # as written in the file
    column_letters: tuple[str, ...]  # Excel's letters of each header column ("A", "B", …)
    header_row: int  # Excel row number of the header row
    _stream: _RowStream = field(repr=False, compare=False)

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
    ) -> None:
        self._rows = rows
        self._columns = columns
        self._errors = errors
        self._taken = False
        self.blank_rows = 0

    def take(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        if self._taken:
            raise RuntimeError("the rows of a SheetData can be iterated only once; call read_sheet() again")
        self._taken = True
        return self._generate()

    def _generate(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        columns, errors = self._columns, self._errors
        width = columns.stop - columns.start
        for number, row in self._rows:
            values = [None if value == "" else value for value in row[columns]]
            if len(values) < width:
                values.extend([None] * (width - len(values)))
            if number in errors:
                for position, error in errors[number].items():
                    values[position] = error
            if _is_blank(values):
                self.blank_rows += 1
                continue
            yield number, tuple(values)


def normalise_header(name: object) -> str:
    """A header cell as the pipeline names it (ANNUITY_PERFORMANCE.md §3).

    No whitespace at all (line breaks and stray spaces are typing accidents), NFKC (full-width
    to half-width), ``机构`` → ``机构名称``, ``计划号`` → ``计划代码``, then ``X(Y)`` → ``X_Y``
    (``流失（含待遇支付）`` → ``流失_含待遇支付``).
    """
    text = unicodedata.normalize("NFKC", _cell_text(name)).translate(_INVISIBLE)
    # Normalised again once spaces are gone: NFKC turns "¯" into a space and a combining mark,
    # which composes with the letter before it when the space goes ("U¯" → "Ū").
    text = unicodedata.normalize("NFKC", "".join(text.split()))
    text = _HEADER_RENAMES.get(text, text)
    while True:  # innermost brackets first: "A(B(C))" → "A(B_C)" → "A_B_C"
        text, replaced = _BRACKETED.subn(r"_\1", text)
        if not replaced:
            return text


def read_sheet(path: Path, sheet: str | int, *, sheet_key: str = "the configured sheet") -> SheetData:
    """Open ``path`` and read the header of ``sheet`` (a name, or a 0-based index); ``sheet_key``
    is the configuration key a missing sheet's message tells to set.

    Reads the file only. The header row is the first non-blank row; the data rows stream from
    :meth:`SheetData.iter_rows`. Raises :class:`~wdh.errors.InputError` naming the file (and
    sheet) when the file is missing, unreadable, not a workbook, damaged or password-protected,
    when the sheet does not exist or has no header row, and when two header cells have the same
    normalised name.
    """
    _check_file(path)
    name, calamine_sheet, errors = _load_sheet(path, sheet, sheet_key)
    rows = enumerate(calamine_sheet.iter_rows(), start=1)  # calamine pads the rows above its data
    header_row, cells = _header_row(rows, path, name)
    offset = calamine_sheet.start[1] if calamine_sheet.start else 0  # column of calamine's first cell
    columns, header = _header_columns(cells, path, name)
    raw_header = tuple(_cell_text(cell) for cell in cells[columns])
    letters = tuple(column_letter(offset + index) for index in range(columns.start, columns.stop))
    _check_unique(path, name, header, raw_header, letters)
    positions = _error_positions(errors, first=offset + columns.start, width=len(header))
    return SheetData(path, name, header, raw_header, letters, header_row, _RowStream(rows, columns, positions))


def column_letter(index: int) -> str:
    """Excel's letters of a 0-based column index: 0 → ``A``, 25 → ``Z``, 26 → ``AA``."""
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _column_index(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_blank(values: list[Any]) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in values)


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


def _load_sheet(path: Path, sheet: str | int, sheet_key: str) -> tuple[str, CalamineSheet, _ErrorCells]:
    """The real name of ``sheet``, its cells (only this sheet is read) and its error cells.

    The error scan runs on a second thread: calamine releases the GIL while it parses, so the
    scan costs no wall-clock time.
    """
    try:
        with CalamineWorkbook.from_path(path) as workbook, ThreadPoolExecutor(max_workers=1) as pool:
            name = _sheet_name(path, workbook.sheet_names, sheet, sheet_key)
            scan = pool.submit(_error_cells, path, name) if path.suffix.lower() in _OOXML_SUFFIXES else None
            cells = workbook.get_sheet_by_name(name)
            return name, cells, scan.result() if scan else {}
    except PasswordError:
        raise InputError(
            f"{path}: the workbook is password-protected; remove the password in Excel and save it again"
        ) from None
    except (CalamineError, OSError) as exc:
        raise _damaged(path, exc) from None


def _damaged(path: Path, exc: Exception) -> InputError:
    return InputError(
        f"{path}: cannot be read as an Excel workbook ({exc}); the file may be damaged or truncated — "
        "copy it again, or open it in Excel and save it again"
    )


def _sheet_name(path: Path, names: list[str], sheet: str | int, sheet_key: str) -> str:
    listed = ", ".join(repr(name) for name in names)
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return names[sheet]
        raise InputError(
            f"{path}: no sheet at index {sheet}; the workbook has {len(names)} sheet(s), "
            f"indexes 0–{len(names) - 1}: {listed}"
        )
    if sheet in names:
        return sheet
    raise InputError(
        f"{path}: no sheet named {sheet!r}; the workbook's sheets are {listed}. "
        f"Pass the right one with --sheet or set {sheet_key}"
    )


def _header_row(rows: Iterator[tuple[int, list[Any]]], path: Path, sheet: str) -> tuple[int, list[Any]]:
    for number, cells in rows:
        if not _is_blank(cells):
            return number, cells
    raise _empty_sheet(path, sheet)


def _header_columns(cells: list[Any], path: Path, sheet: str) -> tuple[slice, tuple[str, ...]]:
    """The span from the first to the last named header cell, and the normalised names in it."""
    names = [normalise_header(cell) for cell in cells]
    named = [index for index, text in enumerate(names) if text]
    if not named:
        raise _empty_sheet(path, sheet)
    columns = slice(named[0], named[-1] + 1)
    return columns, tuple(names[columns])


def _empty_sheet(path: Path, sheet: str) -> InputError:
    return InputError(f"{path}, sheet {sheet!r}: the sheet is empty (no header row); check that it is the right sheet")


def _check_unique(
    path: Path, sheet: str, header: tuple[str, ...], raw_header: tuple[str, ...], letters: tuple[str, ...]
) -> None:
    first_seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            continue
        if name in first_seen:
            earlier = first_seen[name]
            raise InputError(
                f"{path}, sheet {sheet!r}: header {name!r} appears twice, in columns "
                f"{letters[earlier]} ({raw_header[earlier]!r}) and {letters[index]} ({raw_header[index]!r}); "
                "rename or delete one of them"
            )
        first_seen[name] = index


def _error_positions(errors: _ErrorCells, *, first: int, width: int) -> _ErrorCells:
    """Error cells keyed by position in the header instead of sheet column."""
    positions: _ErrorCells = {}
    for number, cells in errors.items():
        inside = {column - first: error for column, error in cells.items() if 0 <= column - first < width}
        if inside:
            positions[number] = inside
    return positions


def _error_cells(path: Path, sheet: str) -> _ErrorCells:
    """Formula error cells of an .xlsx/.xlsm sheet: Excel row number → 0-based column → error.

    python-calamine 0.9 reads error cells as ``""`` (its issue #105), indistinguishable from an
    empty cell, so a ``#N/A`` would quietly become a default value downstream. One pass over the
    sheet's XML finds them; it costs about a tenth of calamine's own read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_part(archive, sheet)
            if part is None:
                return {}
            with archive.open(part) as stream:
                return _scan_errors(stream)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise _damaged(path, exc) from None


def _sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The archive member holding ``sheet``'s cells, from the workbook and its relationships."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    relation = next(
        (
            _attribute(element, "id")
            for element in workbook.iter()
            if _local(element.tag) == "sheet" and element.get("name") == sheet
        ),
        None,
    )
    relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next((element.get("Target") for element in relations.iter() if element.get("Id") == relation), None)
    if relation is None or target is None:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _attribute(element: ElementTree.Element, local_name: str) -> str | None:
    return next((value for key, value in element.attrib.items() if _local(key) == local_name), None)


def _scan_errors(stream: IO[bytes]) -> _ErrorCells:
    """Read the sheet XML in chunks cut at row ends, so no cell straddles two chunks."""
    errors: _ErrorCells = {}
    carry = b""
    while chunk := stream.read(_CHUNK):
        block = carry + chunk
        end = block.rfind(b"</row>")
        if end >= 0:
            _collect_errors(block[:end], errors)
            block = block[end:]
        carry = block
    _collect_errors(carry, errors)
    return errors


def _collect_errors(block: bytes, errors: _ErrorCells) -> None:
    if _ERROR_MARK not in block:
        return
    for match in _ERROR_CELL.finditer(block):
        reference = _CELL_REF.search(match[1])
        if reference:  # a cell without its r="B7" cannot be placed; calamine's "" stands
            row = errors.setdefault(int(reference[2]), {})
            row[_column_index(reference[1].decode("ascii"))] = CellError(match[2].decode("utf-8", "replace"))
