"""The sheet pre-scan's bounds (facts/sheet_scan.py, facts/package.py), on streams and packages
built in code: what it holds at once stays bounded whatever the input, and a zip directory that
lies about a part's size is a damaged file, never a larger read."""

from __future__ import annotations

import io
import multiprocessing
import struct
import zipfile
from pathlib import Path

from facts import sheet_scan
from facts.sheet_header import column_letter
from facts.sheet_scan import scan_extent, scan_marks
from tests.reader_packages import SHEET, formatted_workbook
from tests.test_hostile_input import FILE_NAME, Contents, good_rows, refused, seeded  # noqa: F401

ROW = b'<row r="2"><c r="A2"><v>1</v></c></row>'


def test_whitespace_after_the_last_row_is_never_carried() -> None:
    stream = io.BytesIO(b"<sheetData>" + ROW + b" " * (40 << 20) + b"</sheetData>")
    sizes = [len(block) for block in sheet_scan._blocks(stream)]

    assert max(sizes) <= sheet_scan.CHUNK + len(ROW) + 64  # the old scan carried (and re-searched) all 40 MiB
    assert sum(sizes) <= 40 << 20  # and the whitespace is not passed on at all


def test_many_repeated_attributes_are_parsed_once_per_cell() -> None:
    cells = b"".join(b'<c r="%s2"' % column_letter(column).encode() + b' t="e"' * 1000 + b"><v>#REF!</v></c>"
                     for column in range(1, 201))  # fmt: skip
    marks = scan_marks(io.BytesIO(b'<sheetData><row r="2">' + cells + b"</row></sheetData>"))

    assert [(mark.row, mark.column, mark.error) for mark in marks] == [(2, column, "#REF!") for column in range(1, 201)]


def test_an_error_mark_in_a_cells_text_is_passed_over() -> None:
    """``t="e"`` in an inline text, after the tag before it, was found again and again: the
    pre-scan never ended (found by a randomised test; run in a child process with a time limit)."""
    xml = (
        b'<sheetData><row r="2"><c r="A2" t="inlineStr"><is><t>t="e"</t></is></c>'
        b'<c r="B2" t="e"><v>#N/A</v></c></row></sheetData>'
    )
    with multiprocessing.get_context("fork").Pool(1) as pool:
        marks = pool.apply_async(scan_marks, (io.BytesIO(xml),)).get(timeout=30)

    assert [(mark.row, mark.column, mark.error) for mark in marks] == [(2, 1, "#N/A")]


def test_far_and_unusually_placed_cells_are_found() -> None:
    xml = (
        b'<sheetData><row r="2"><c r="A2"><v>1</v></c><c r="XFD2" s="3"/><c r="AA2" t="s"><v>0</v></c>'
        b'<c r="Z2" s="1"><v>2</v></c><c r="B1000000"><v>3</v></c><c r="ZZ9"><f>1+1</f></c></row></sheetData>'
    )

    assert scan_extent(io.BytesIO(xml)).far == [(2, 26), (1_000_000, 1), (9, 701)]  # XFD2: formatted, empty


def test_a_zip_directory_that_understates_a_part_is_a_damaged_file(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=2000)
    _declare_size(path, SHEET, 1000)

    message = refused(seeded, "--file", str(path))

    assert str(path) in message and "cannot be read as an Excel workbook" in message


def _declare_size(path: Path, part: str, size: int) -> None:
    """Write ``size`` as the uncompressed size of ``part`` in its local header and the directory."""
    content = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(part)
    struct.pack_into("<I", content, info.header_offset + 22, size)
    position = content.find(b"PK\x01\x02")
    while position >= 0:
        name_length = struct.unpack_from("<H", content, position + 28)[0]
        if content[position + 46 : position + 46 + name_length] == part.encode():
            struct.pack_into("<I", content, position + 24, size)
        position = content.find(b"PK\x01\x02", position + 4)
    path.write_bytes(bytes(content))
