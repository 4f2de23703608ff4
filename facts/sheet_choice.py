"""Which sheet of a workbook is read: by name or 0-based index, never a hidden one silently.

Reads nothing itself: it decides from calamine's list of sheets and their visibility.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from python_calamine import SheetMetadata, SheetVisibleEnum

from wdh.errors import InputError

_HIDDEN = ((SheetVisibleEnum.Hidden, "hidden"), (SheetVisibleEnum.VeryHidden, "very hidden"))  # not hashable


def sheet_choice(
    path: Path, sheets: list[SheetMetadata], sheet: str | int, sheet_key: str = "the configured sheet"
) -> tuple[str, list[str]]:
    """The real name of ``sheet`` and the warnings about the choice; ``sheet_key`` is the
    configuration key a missing sheet's message tells to set.

    A hidden or very hidden sheet is read with a warning; when a visible sheet has the same name
    once spaces and full-width forms are normalised away (``规模明细 `` beside a hidden ``规模明细``),
    the choice is the operator's: :class:`~wdh.errors.InputError` naming both.
    """
    names = [entry.name for entry in sheets]
    name = _sheet_name(path, names, sheet, sheet_key)
    chosen = next(entry for entry in sheets if entry.name == name)
    state = _hidden(chosen)
    if state is None:
        return name, []
    twins = [
        entry.name
        for entry in sheets
        if _hidden(entry) is None and entry.name != name and _normalised(entry.name) == _normalised(name)
    ]
    if twins:
        raise InputError(
            f"{path}: sheet {name!r} is {state} in Excel, and the visible sheet {twins[0]!r} has the same "
            f"name but for spaces or full-width characters; delete or rename one of them, or pass the "
            "one to read with --sheet"
        )
    return name, [f"{path}: sheet {name!r} is {state} in Excel; it was read all the same"]


def _hidden(entry: SheetMetadata) -> str | None:
    return next((state for visibility, state in _HIDDEN if entry.visible == visibility), None)


def _normalised(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


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
