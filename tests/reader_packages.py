"""Hostile workbook packages for the reader's tests: a workbook written by openpyxl, then one of
its parts rewritten as bytes."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from facts.xlsx import Sheet, write_package
from tests.workbooks import DEFAULTS, HEADER

SHEET = "xl/worksheets/sheet1.xml"


def rewrite_part(path: Path, part: str, edit: Callable[[bytes], bytes]) -> Path:
    """Replace ``part`` of the package at ``path`` by ``edit(its bytes)``; the other parts as they were."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[part] = edit(members[part])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def before_end_of_rows(xml: bytes, rows: bytes) -> bytes:
    """``rows`` (SpreadsheetML ``<row>`` elements) appended to the sheet's data."""
    return xml.replace(b"</sheetData>", rows + b"</sheetData>")


def formatted_workbook(path: Path, rows: Sequence[Mapping[str, Any]], *, trailing_blank_rows: int) -> Path:
    """The usual sheet 规模明细 (``rows`` as in tests.workbooks.write_workbook) followed by
    ``trailing_blank_rows`` formatted empty rows, as the real files carry, written by facts.xlsx."""
    values = [[row.get(name, DEFAULTS.get(name)) for name in HEADER] for row in rows]
    sheet = Sheet("规模明细", HEADER, values, len(values), trailing_blank_rows)
    write_package(path, [sheet], description="reader test", created=date(2026, 3, 1))
    return path


def in_row(xml: bytes, row: int, cell: bytes) -> bytes:
    """``cell`` (a ``<c>`` element) added at the end of row ``row``, which must exist."""
    start = xml.index(b'<row r="%d"' % row)
    end = xml.index(b"</row>", start)
    return xml[:end] + cell + xml[end:]


def text_cell(reference: str, text: str) -> bytes:
    return f'<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()
