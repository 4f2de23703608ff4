"""The header row of a sheet: where it is, how its names are normalised, what it may hold.

Pure functions over the cells calamine gives; no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from facts.sheet_scan import FAR_COLUMN
from wdh.errors import InputError

_BRACKETED = re.compile(r"\(([^()]*)\)")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def normalise_header(name: object, renames: Mapping[str, str] | None = None) -> str:
    """A header cell as the pipeline names it (ANNUITY_PERFORMANCE.md §3).

    No whitespace at all (line breaks and stray spaces are typing accidents), NFKC (full-width
    to half-width), then the sheet type's ``renames`` (older names → the fact column's, e.g.
    ``计划号`` → ``计划代码``), then ``X(Y)`` → ``X_Y`` (``流失（含待遇支付）`` → ``流失_含待遇支付``).
    """
    text = unicodedata.normalize("NFKC", cell_text(name)).translate(_INVISIBLE)
    # Normalised again once spaces are gone: NFKC turns "¯" into a space and a combining mark,
    # which composes with the letter before it when the space goes ("U¯" → "Ū").
    text = unicodedata.normalize("NFKC", "".join(text.split()))
    text = renames.get(text, text) if renames else text
    while True:  # innermost brackets first: "A(B(C))" → "A(B_C)" → "A_B_C"
        text, replaced = _BRACKETED.subn(r"_\1", text)
        if not replaced:
            return text


def column_letter(index: int) -> str:
    """Excel's letters of a 0-based column index: 0 → ``A``, 25 → ``Z``, 26 → ``AA``."""
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_blank(values: list[Any]) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in values)


def find_header_row(rows: Iterator[tuple[int, list[Any]]], path: Path, sheet: str) -> tuple[int, list[Any]]:
    for number, cells in rows:
        if not is_blank(cells):
            return number, cells
    raise empty_sheet(path, sheet)


def header_columns(
    cells: list[Any], path: Path, sheet: str, renames: Mapping[str, str] | None = None
) -> tuple[slice, tuple[str, ...]]:
    """The span from the first to the last named header cell, and the normalised names in it."""
    names = [normalise_header(cell, renames) for cell in cells]
    named = [index for index, text in enumerate(names) if text]
    if not named:
        raise empty_sheet(path, sheet)
    columns = slice(named[0], named[-1] + 1)
    return columns, tuple(names[columns])


def check_storable(path: Path, sheet: str, cells: list[Any], offset: int) -> None:
    """A header name goes into the audit record and the error messages: PostgreSQL's text cannot
    hold a NUL character, so a header with one is refused before anything is written."""
    for index, cell in enumerate(cells):
        if "\x00" in cell_text(cell):
            raise InputError(
                f"{path}, sheet {sheet!r}: header cell {column_letter(offset + index)} holds a NUL character "
                f"({cell_text(cell)!r}), which PostgreSQL cannot store; retype that header in Excel"
            )


def check_dropped(path: Path, sheet: str, dropped: list[tuple[int, int]], *, first: int, stop: int) -> None:
    """Far cells calamine did not see must lie outside the table: a table reaching column Z
    may go on beyond it, and a far row inside the table's columns is a row past 999,999."""
    if not dropped:
        return
    inside = next(((row, column) for row, column in dropped if first <= column < stop), None)
    if inside is None and stop < FAR_COLUMN:
        return
    cell = f"{column_letter(inside[1])}{inside[0]}" if inside else f"{column_letter(dropped[0][1])}{dropped[0][0]}"
    raise InputError(
        f"{path}, sheet {sheet!r}: cell {cell} lies beyond what wdh reads (columns A–Z, rows up to 999,999) "
        "and may belong to the table; delete the cells far to the right or below the table, "
        "or move the table within A–Z"
    )


def empty_sheet(path: Path, sheet: str) -> InputError:
    return InputError(f"{path}, sheet {sheet!r}: the sheet is empty (no header row); check that it is the right sheet")


def check_unique(
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
