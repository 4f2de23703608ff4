"""The cells of rejected rows as they were read, so the data team can correct the source.

Cleansing keeps each rejected row's cells with its :class:`~facts.cleansing.RowError` while it
streams the sheet. A row rejected afterwards (a value too wide for the reference column taken
from it, found once the whole sheet is cleansed) has only its cleansed values by then; for those,
and only when there are any, the sheet is read a second time. Reads files only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from facts.cleansing import RowError
from facts.excel import SheetData, read_sheet


def source_rows_complete(sheet: SheetData, errors: Sequence[RowError]) -> Iterator[RowError]:
    """``errors`` of ``sheet``, each with its row's cells (``RowError.source``) as read, one
    after another (``errors`` is iterated twice, never copied: facts/row_errors.py)."""
    missing = {error.row for error in errors if not error.source}
    if not missing:
        yield from errors
        return
    again = read_sheet(sheet.path, sheet.sheet, renames=sheet.renames)
    found = {number: values for number, values in again.iter_rows() if number in missing}
    for error in errors:
        yield error if error.source else dataclasses.replace(error, source=found[error.row])
