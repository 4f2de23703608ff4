"""Rejected rows: kept with a run's audit record, and given back as a workbook to correct.

The audit record keeps each row error of a run as a :class:`~refs.models.RunRowError`, with
the row's cells as read (:func:`source_text`). ``rejects_workbook`` writes them as an ``.xlsx``
(openpyxl in write-only mode): Excel's row number, the column and the problem, then the row's original
columns and values, so the data team can correct the source workbook and run again.

Cells are stored as JSON text. A value JSON has no type for (a date, a time, a formula error)
is a one-key object naming its type, so the workbook gets back a date, not its text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from facts.domain import domains_registered
from facts.excel import CellError
from facts.sheet_header import normalise_header
from refs.models import BackfillRun, RunRowError

if TYPE_CHECKING:
    pass

FIXED_COLUMNS = ("file", "sheet", "row", "column", "problem")
SHEET_TITLE = "rejected rows"
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # characters no .xlsx cell can hold
_REFUSED = PatternFill("solid", fgColor="FFFF99")


def source_text(values: Sequence[Any]) -> str:
    """A rejected row's cells as read, as the JSON text ``RunRowError.source`` keeps; ``""``
    when the row's cells are not known."""
    return _dumps(list(values)) if values else ""


def rejects_workbook(run: BackfillRun, target: Path | IO[bytes]) -> int:
    """Write the rejects of ``run`` as an ``.xlsx`` to ``target``; returns how many rows.

    Reads the database. One sheet: the fixed columns, then every source column of the run's
    files (in the order first seen); the refused cell is highlighted.
    """
    headers = {source.path: tuple(source.header) for source in run.files.all()}
    domain = domains_registered().get(run.domain)  # an unknown domain: its columns are not renamed
    renames = domain.sheet.renames if domain else {}
    columns = _source_columns(headers.values())
    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET_TITLE)
    sheet.append([_bold(sheet, name) for name in (*FIXED_COLUMNS, *columns)])
    count = 0
    for reject in run.row_error_items.iterator(chunk_size=2000):
        sheet.append(list(_row(sheet, reject, headers.get(reject.file, ()), columns, renames)))
        count += 1
    sheet.freeze_panes = "F2"
    book.save(target)
    return count


def _source_columns(headers: Iterable[Sequence[str]]) -> list[str]:
    columns: dict[str, None] = {}
    for header in headers:
        columns.update(dict.fromkeys(_names(header)))
    return list(columns)


def _names(header: Sequence[str]) -> list[str]:
    """Column names as shown; a column without one is named by its position."""
    return [name or f"(column {position})" for position, name in enumerate(header, start=1)]


def _row(
    sheet: WriteOnlyWorksheet,
    reject: RunRowError,
    header: Sequence[str],
    columns: Sequence[str],
    renames: Mapping[str, str],
) -> Iterator[WriteOnlyCell]:
    yield from (_cell(sheet, value) for value in (reject.file, reject.sheet, reject.row, reject.column, reject.message))
    by_name = dict(zip(_names(header), (_loads(value) for value in json.loads(reject.source or "[]")), strict=False))
    refused = _refused_name(reject.column, header, renames)
    for name in columns:
        cell = _cell(sheet, by_name.get(name))
        if name == refused:
            cell.fill = _REFUSED
        yield cell


def _refused_name(column: str, header: Sequence[str], renames: Mapping[str, str]) -> str | None:
    """The shown name of the refused column (rules name columns by their normalised name), or
    None when the refused value was not one cell of the sheet (a value derived from others)."""
    for name, written in zip(_names(header), header, strict=True):
        if normalise_header(written, renames) == column:
            return name
    return None


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    if isinstance(value, str):
        value = _ILLEGAL.sub(lambda match: f"\\x{ord(match.group()):02x}", value)
    cell = WriteOnlyCell(sheet, value)
    if isinstance(value, str):
        cell.data_type = "s"  # text stays text: "=…" is not a formula, "#N/A" not an error
    return cell


def _bold(sheet: WriteOnlyWorksheet, name: str) -> WriteOnlyCell:
    cell = _cell(sheet, name)
    cell.font = Font(bold=True)
    return cell


def _dumps(value: Any) -> str:
    return json.dumps(_tagged(value), ensure_ascii=False, allow_nan=False)


def _tagged(value: Any) -> Any:
    if isinstance(value, list):
        return [_tagged(item) for item in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": str(value)}
    if isinstance(value, datetime | date | time):
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, timedelta):
        return {"timedelta": value.total_seconds()}
    if isinstance(value, CellError):
        return {"error": value.code}
    return {"text": str(value)}  # a cleansed value (Decimal …) of a row rejected after cleansing


def _loads(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, text),) = value.items()
    readers: dict[str, Any] = {
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "time": time.fromisoformat,
        "timedelta": lambda seconds: timedelta(seconds=seconds),
    }
    return readers[kind](text) if kind in readers else str(text)  # an error code, "nan", a cleansed text
