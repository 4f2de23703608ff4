"""Hostile workbook packages for the reader's tests: a workbook written by openpyxl, then one of
its parts rewritten as bytes."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

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
