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

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from facts.sheet_pieces import PiecedSheet
from facts.workbook import (
    EXCEL_SUFFIXES,
    UNCALCULATED,
    CellError,
    ErrorCells,
    LoadedSheet,
    check_file,
    check_workbook,
    check_workbooks,
    checks_forget,
    load_sheet,
)

__all__ = [
    "EXCEL_SUFFIXES",
    "NAMED_OUTSIDE",
    "UNCALCULATED",
    "CellError",
    "SheetData",
    "check_workbook",
    "check_workbooks",
    "checks_forget",
    "read_sheet",
]

NAMED_OUTSIDE = 5  # cells outside the table named in warnings; the rest are counted


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
    worker_from: int | None = None  # the row from which a worker may read the rest (facts/sheet_pieces.py)

    def iter_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """``(Excel row number, values aligned to header)`` for each non-blank row; once only.

        A blank row (every cell empty or whitespace) is skipped and counted in ``blank_rows``.
        """
        return self._stream.take()

    def rows_before(self, number: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """:meth:`iter_rows`, only the rows above Excel row ``number`` (which is below the header
        row): the first of two parts read by two processes (facts/cleansing_worker.py); the row
        ``number`` itself is never asked of calamine here. The other's :meth:`rows_from` and
        :meth:`rows_tally` complete the counts and warnings by :meth:`rows_joined`."""
        return self._stream.take(count=number - self.header_row - 1)

    def rows_from(self, number: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """:meth:`iter_rows` from Excel row ``number`` on (the second part)."""
        return self._stream.take(start=number)

    def rows_tally(self) -> RowsTally:
        """What the second part's rows add to the counts and warnings, once they are read."""
        return self._stream.tally()

    def rows_joined(self, tally: RowsTally) -> None:
        """The first part read here, the second's ``tally`` added: counts and warnings as
        :meth:`iter_rows` leaves them."""
        self._stream.joined(tally)

    @property
    def blank_rows(self) -> int:
        """Blank rows below the header skipped so far (all of them once iteration is done)."""
        return self._stream.blank_rows

    def close(self) -> None:
        """Let go of the sheet's cells (no more rows) and its temporary files, now."""
        self._stream.close()


@dataclass(frozen=True)
class RowsTally:
    """The blank rows and the cells outside the table of a sheet's second part."""

    blank_rows: int
    outside: list[str]


class _RowStream:
    """calamine's row iterator below the header, cut to the header's columns."""

    def __init__(
        self,
        rows: Iterator[tuple[int, list[Any]]],
        columns: slice,
        errors: ErrorCells,
        *,
        offset: int,
        letters: tuple[str, ...],
        warnings: list[str],
        header_row: int,
        closing: Callable[[], None] | None = None,
    ) -> None:
        self._rows = rows
        self._header_row = header_row
        self._letters = letters  # of the header's columns, for the warnings
        self._warnings = warnings  # the SheetData's, extended once the rows are done
        self._columns = columns
        self._errors = errors
        self._offset = offset  # sheet column of calamine's first column
        self._taken = False
        self.blank_rows = 0
        self.outside: list[str] = []  # references of non-blank cells outside the header's columns
        self._given = 0  # outside cells named before the rows: not the second part's own
        self._rest: tuple[int, Callable[[], Iterator[list[Any]]]] | None = None  # where the first piece ends, the rest
        self._closing = closing  # what lets go of the cells (a sheet in pieces)

    def take(self, *, count: int | None = None, start: int | None = None) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """The rows (the next ``count`` of calamine's, or those from row ``start`` on) once only."""
        if self._taken:
            raise RuntimeError("the rows of a SheetData can be iterated only once; call read_sheet() again")
        self._taken = True
        rows = self._rows
        if count is not None:
            rows = itertools.islice(rows, count)  # no row beyond is pulled: calamine may not have it
        if start is not None:
            self._given = len(self.outside)
            if self._rest is not None and start == self._rest[0]:  # the next piece's rows: those above are not read
                rows = enumerate(self._rest[1](), start=start)
            else:
                rows = itertools.dropwhile(lambda row: row[0] < start, rows)
        return self._generate(rows, last=count is None, after=self._header_row if start is None else start - 1)

    def close(self) -> None:
        self._rows, self._rest = iter(()), None
        if self._closing is not None:
            self._closing()

    def rest_at(self, number: int, rest: Callable[[], Iterator[list[Any]]]) -> None:
        """Row ``number`` starts the rows ``rest()`` gives: those after the first piece (:meth:`take`)."""
        self._rest = number, rest

    def tally(self) -> RowsTally:
        return RowsTally(self.blank_rows, self.outside[self._given :])

    def joined(self, tally: RowsTally) -> None:
        self.blank_rows += tally.blank_rows
        self.outside += tally.outside
        self._warnings.extend(_outside_warnings(self.outside, self._letters))

    def _generate(
        self, rows: Iterator[tuple[int, list[Any]]], *, last: bool, after: int
    ) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """The rows below row ``after``; once the ``last`` part is read, the rows below calamine's
        last that hold error cells only (:meth:`_beyond`), and the warnings about cells outside
        the table."""
        columns, errors = self._columns, self._errors
        width = columns.stop - columns.start
        number = after
        for number, row in rows:
            if len(row) > width:
                self._note_outside(number, row)
            # calamine's "" is an empty cell; a row without one (most rows) is sliced as it is
            values = [None if value == "" else value for value in row[columns]] if "" in row else row[columns]
            if len(values) < width:
                values.extend([None] * (width - len(values)))
            if number in errors:
                for position, error in errors[number].items():
                    values[position] = error
            first = values[0] if values else None  # a row with a value in its first cell is not blank
            if (first is None or (isinstance(first, str) and not first.strip())) and is_blank(values):
                self.blank_rows += 1
                continue
            yield number, tuple(values)
        if last:
            yield from self._beyond(number, width)
            self._warnings.extend(_outside_warnings(self.outside, self._letters))

    def _beyond(self, last: int, width: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """The rows below ``last``, calamine's last row, that hold error cells in the table's
        columns: calamine's range ends at its last value, so a row whose every cell is a formula
        never calculated (no cached value) lies beyond it when no value follows — such rows were
        not read at all, where one amid the table is a row error."""
        for number in sorted(number for number in self._errors if number > last):
            values: list[Any] = [None] * width
            for position, error in self._errors[number].items():
                values[position] = error
            yield number, tuple(values)

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
    loaded: LoadedSheet | None = None,
) -> SheetData:
    """Open ``path`` and read the header of ``sheet`` (a name, or a 0-based index); ``sheet_key``
    is the configuration key a missing sheet's message tells to set; ``renames`` are the sheet
    type's header renames (:func:`facts.sheet_header.normalise_header`).

    Reads the file only. The header row is the first non-blank row; the data rows stream from
    :meth:`SheetData.iter_rows`. Raises :class:`~wdh.errors.InputError` naming the file (and
    sheet) when the file is missing, unreadable, not a workbook, damaged, password-protected or
    beyond the reader's limits (:func:`check_workbook`), when the sheet does not exist or has
    no header row, when a header cell holds a NUL, and when two header cells have the same
    normalised name. ``loaded``: the sheet loaded already (facts/sheet_ahead.py), by the same
    checks.
    """
    if loaded is None:
        check_file(path)
        loaded = load_sheet(path, sheet, sheet_key)
    name, calamine_sheet = loaded.name, loaded.cells
    rest = None  # a sheet in pieces: what gives the rows after its first piece
    if isinstance(calamine_sheet, PiecedSheet):
        raw, rest = calamine_sheet.rows_and_rest()
    else:
        raw = calamine_sheet.iter_rows()
    rows = enumerate(raw, start=1)  # calamine pads the rows above its data
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
    closing = calamine_sheet.close if isinstance(calamine_sheet, PiecedSheet) else None
    stream = _RowStream(
        rows, columns, positions, offset=offset, letters=letters, warnings=loaded.warnings, header_row=header_row,
        closing=closing,
    )  # fmt: skip
    stream.outside.extend(f"{column_letter(column)}{row}" for row, column in loaded.dropped)
    worker_from = None  # a sheet shared with a worker: the rows its first piece does not give are the worker's
    if isinstance(calamine_sheet, PiecedSheet) and calamine_sheet.plan.worker_from is not None and rest is not None:
        worker_from = calamine_sheet.first_end + 1
        stream.rest_at(worker_from, rest)
    return SheetData(
        path, name, header, raw_header, letters, header_row, stream, loaded.warnings, dict(renames or {}), worker_from
    )


def _error_positions(errors: ErrorCells, *, first: int, width: int) -> ErrorCells:
    """Error cells keyed by position in the header instead of sheet column."""
    positions: ErrorCells = {}
    for number, cells in errors.items():
        inside = {column - first: error for column, error in cells.items() if 0 <= column - first < width}
        if inside:
            positions[number] = inside
    return positions
