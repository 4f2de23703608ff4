"""Reading one sheet (facts/excel.py) from real workbooks written by the tests. No database."""

from __future__ import annotations

import datetime
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from openpyxl.styles import PatternFill

from domains.annuity_performance.cleansing import HEADER_RENAMES
from facts import excel, sheet_scan
from facts.excel import CellError, read_sheet
from facts.sheet_header import column_letter, normalise_header
from wdh.errors import InputError

HEADER = ["月度", "业务类型", "计划号", "组合代码", "期末资产规模", "机构"]
YELLOW = PatternFill("solid", fgColor="FFFF00")


def write_workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """One sheet per entry, rows from A1 down; ``CellError`` values are written as error cells."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append([value.code if isinstance(value, CellError) else value for value in row])
            for cell, value in zip(sheet[sheet.max_row], row, strict=False):
                if isinstance(value, CellError):
                    cell.data_type = "e"
    workbook.save(path)
    return path


def read_all(path: Path, sheet: str | int = "规模明细") -> tuple[excel.SheetData, list[tuple[int, tuple[Any, ...]]]]:
    data = read_sheet(path, sheet, renames=HEADER_RENAMES)
    return data, list(data.iter_rows())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("月度", "月度"),
        ("  月度 ", "月度"),
        ("计划\n代码", "计划代码"),
        ("期末资产\r\n规模", "期末资产规模"),
        ("组合 代码", "组合代码"),
        ("组合\u3000代码", "组合代码"),  # ideographic space
        ("\ufeff月度", "月度"),
        ("机构", "机构名称"),
        (" 机\n构 ", "机构名称"),
        ("机构名称", "机构名称"),
        ("机构代码", "机构代码"),
        ("计划号", "计划代码"),
        ("计划代码", "计划代码"),
        ("流失（含待遇支付）", "流失_含待遇支付"),
        ("流失(含待遇支付)", "流失_含待遇支付"),
        ("流失 ( 含待遇支付 )", "流失_含待遇支付"),
        ("收益率（%）", "收益率_%"),
        ("ＡＢＣ１２３", "ABC123"),
        ("company_id", "company_id"),
        (None, ""),
        ("   ", ""),
        (202602.0, "202602"),
        (1.5, "1.5"),
    ],
)
def test_normalise_header(raw: object, expected: str) -> None:
    assert normalise_header(raw, HEADER_RENAMES) == expected


@pytest.mark.parametrize(("index", "letters"), [(0, "A"), (2, "C"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA")])
def test_column_letter(index: int, letters: str) -> None:
    assert column_letter(index) == letters


def test_data_rows_before_thousands_of_formatted_empty_rows(tmp_path: Path) -> None:
    path = tmp_path / "26年2月规模明细.xlsx"
    workbook = Workbook()
    income = workbook.active
    income.title = "收入明细"
    income.append(["月度", "月度", "收入"])  # a broken other sheet: never looked at
    income.append([202601, 202601, 1])
    sheet = workbook.create_sheet("规模明细")
    sheet.append(["月度", "业务\n类型", " 计划号", "组合代码", "期末资产规模", "流失（含待遇支付）", "机构"])
    sheet.append([202602, "企年投资", "P0290", 9078, 31982648287.809898, 0, "北京"])
    sheet.append([datetime.date(2024, 11, 1), "企年受托", "P0807", None, 1.5, -2, None])
    sheet.append([None, "  ", None])
    sheet.append(["2024年11月", "职年受托", "1P0290", "QTAN003", "1,234.50", None, "内蒙"])
    for row in range(6, 5006):  # formatted but empty, as in the real files
        for column in range(1, 8):
            sheet.cell(row, column).fill = YELLOW
    sheet.cell(6000, 3).value = "   "  # a whitespace cell far below stretches the used range
    workbook.save(path)

    data, rows = read_all(path)

    assert data.sheet == "规模明细"
    assert data.header == ("月度", "业务类型", "计划代码", "组合代码", "期末资产规模", "流失_含待遇支付", "机构名称")
    assert data.raw_header == (
        "月度",
        "业务\n类型",
        " 计划号",
        "组合代码",
        "期末资产规模",
        "流失（含待遇支付）",
        "机构",
    )
    assert data.column_letters == ("A", "B", "C", "D", "E", "F", "G")
    assert data.header_row == 1
    assert rows == [
        # calamine gives every number as a float: the cleansing step turns 202602.0 into text/dates
        (2, (202602.0, "企年投资", "P0290", 9078.0, 31982648287.809898, 0.0, "北京")),
        (3, (datetime.date(2024, 11, 1), "企年受托", "P0807", None, 1.5, -2.0, None)),
        (5, ("2024年11月", "职年受托", "1P0290", "QTAN003", "1,234.50", None, "内蒙")),
    ]
    assert isinstance(rows[0][1][0], float)
    assert data.blank_rows == 6000 - 1 - 3  # every row below the header that is not a data row


def test_sheet_by_index_is_zero_based(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "book.xlsx", {"收入明细": [["收入"], [1]], "规模明细": [["月度"], [202602]]})

    first, first_rows = read_all(path, 0)
    second, second_rows = read_all(path, 1)

    assert (first.sheet, first.header, first_rows) == ("收入明细", ("收入",), [(2, (1.0,))])
    assert (second.sheet, second.header, second_rows) == ("规模明细", ("月度",), [(2, (202602.0,))])


def test_header_below_blank_rows_and_right_of_blank_columns(tmp_path: Path) -> None:
    path = tmp_path / "offset.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "规模明细"
    sheet["C3"], sheet["D3"], sheet["F3"] = "月度", "计划代码", "机构"  # E3: a column with no name
    sheet["C4"], sheet["D4"], sheet["E4"], sheet["F4"] = 202602, "P0001", "note", "北京"
    sheet["D6"] = "P0002"
    sheet["H6"] = "a remark right of the header"
    workbook.save(path)

    data, rows = read_all(path)

    assert data.header == ("月度", "计划代码", "", "机构名称")
    assert data.column_letters == ("C", "D", "E", "F")
    assert data.header_row == 3
    assert rows == [(4, (202602.0, "P0001", "note", "北京")), (6, (None, "P0002", None, None))]
    assert data.blank_rows == 1


def test_error_cells_merged_cells_and_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "errors.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "规模明细"
    sheet.append(HEADER)
    sheet.append([202602, "企年投资", "#N/A", "#DIV/0!", "#REF!", "北京"])
    for cell in sheet[2][2:5]:
        cell.data_type = "e"
    sheet.append([202602, "合并", None, None, 7, None])
    sheet.merge_cells("B3:D3")
    sheet.append([None, None, None, None, None, "#VALUE!"])
    sheet["F4"].data_type = "e"
    workbook.save(path)

    _, rows = read_all(path)

    assert rows == [
        (2, (202602.0, "企年投资", CellError("#N/A"), CellError("#DIV/0!"), CellError("#REF!"), "北京")),
        (3, (202602.0, "合并", None, None, 7.0, None)),
        (4, (None, None, None, None, None, CellError("#VALUE!"))),  # an error alone is not a blank row
    ]
    assert str(CellError("#N/A")) == "#N/A"


def test_cached_formula_errors_as_excel_writes_them(tmp_path: Path) -> None:
    """Excel stores a formula's error result as ``<c t="e"><f>…</f><v>#N/A</v></c>``."""
    path = write_workbook(tmp_path / "formulas.xlsx", {"规模明细": [HEADER, [202602, "企年投资", CellError("#N/A")]]})
    _rewrite_sheet(path, b"<v>#N/A</v>", b"<f>VLOOKUP(A2,Sheet9!A:B,2,0)</f><v>#N/A</v>")

    _, rows = read_all(path)

    assert rows == [(2, (202602.0, "企年投资", CellError("#N/A"), None, None, None))]


def test_error_cells_found_across_chunk_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sheet_scan, "CHUNK", 50)  # far smaller than one row of XML
    codes = {index: CellError("#N/A") if index % 3 else "P0001" for index in range(1, 201)}
    body = [[index, code] for index, code in codes.items()]
    path = write_workbook(tmp_path / "many.xlsx", {"规模明细": [["月度", "计划代码"], *body]})

    _, rows = read_all(path)

    assert [values for _, values in rows] == [(float(index), code) for index, code in codes.items()]


def test_header_only_sheet_has_no_rows(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "header.xlsx", {"规模明细": [HEADER]})

    data, rows = read_all(path)

    assert (data.header[0], rows, data.blank_rows) == ("月度", [], 0)


def test_xlsm_is_read(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "macro.xlsm", {"规模明细": [["月度"], [202602]]})

    assert read_all(path)[1] == [(2, (202602.0,))]


def test_rows_stream_only_once(tmp_path: Path) -> None:
    data = read_sheet(write_workbook(tmp_path / "once.xlsx", {"规模明细": [["月度"], [1]]}), "规模明细")
    list(data.iter_rows())

    with pytest.raises(RuntimeError, match="only once"):
        data.iter_rows()


def _rewrite_sheet(path: Path, old: bytes, new: bytes) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members["xl/worksheets/sheet1.xml"] = members["xl/worksheets/sheet1.xml"].replace(old, new)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _valid(path: Path) -> Path:
    return write_workbook(path, {"收入明细": [["收入"]], "规模明细": [HEADER, [202602]]})


def _bytes(content: bytes) -> Any:
    def make(path: Path) -> Path:
        path.write_bytes(content)
        return path

    return make


def _truncated(path: Path) -> Path:
    content = _valid(path).read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


def _zip_of_text(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a workbook")
    return path


OLE = bytes.fromhex("D0CF11E0A1B11AE1")
ENCRYPTED = OLE + b"\0" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\0" * 512


@pytest.mark.parametrize(
    ("name", "make", "sheet", "expected"),
    [
        ("missing.xlsx", None, "规模明细", ["file not found"]),
        ("folder.xlsx", lambda path: path.mkdir() or path, "规模明细", ["not a file"]),
        ("notes.csv", _bytes(b"a,b\n"), "规模明细", ["not an Excel workbook", ".xlsx, .xlsm or .xls"]),
        ("text.xlsx", _bytes(b"\xe6\x9c\x88\xe5\xba\xa6,a\n202602,b\n"), "规模明细", ["not an Excel workbook"]),
        ("old.xls", _bytes(b"PK\x03\x04rest"), "规模明细", ["not an Excel workbook", ".xls data"]),
        ("empty.xlsx", _bytes(b""), "规模明细", ["empty (0 bytes)"]),
        ("cut.xlsx", _truncated, "规模明细", ["damaged or truncated"]),
        ("zip.xlsx", _zip_of_text, "规模明细", ["cannot be read as an Excel workbook"]),
        ("secret.xlsx", _bytes(ENCRYPTED), "规模明细", ["password-protected", "remove the password"]),
        ("renamed.xlsx", _bytes(OLE + b"\0" * 1024), "规模明细", ["Excel 97-2003", "rename it to .xls"]),
        ("book.xlsx", _valid, "规模", ["no sheet named '规模'", "'收入明细', '规模明细'", "--sheet"]),
        ("book.xlsx", _valid, 2, ["no sheet at index 2", "2 sheet(s)", "'收入明细', '规模明细'"]),
        ("book.xlsx", _valid, -1, ["no sheet at index -1"]),
    ],
)
def test_unusable_files_and_sheets(tmp_path: Path, name: str, make: Any, sheet: str | int, expected: list[str]) -> None:
    path = tmp_path / name
    if make:
        make(path)

    with pytest.raises(InputError) as caught:
        read_sheet(path, sheet)

    message = str(caught.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], ["sheet '规模明细'", "empty (no header row)"]),
        ([[None, "   "], [None]], ["sheet '规模明细'", "empty (no header row)"]),
        (
            [["月度", "机构", "计划代码", "机构名称"], [202602]],
            ["sheet '规模明细'", "header '机构名称' appears twice", "columns B ('机构') and D ('机构名称')"],
        ),
        ([["流失(含待遇支付)", "流失（含待遇支付）"]], ["'流失_含待遇支付' appears twice", "columns A", "and B"]),
    ],
)
def test_unusable_headers(tmp_path: Path, rows: list[list[Any]], expected: list[str]) -> None:
    path = write_workbook(tmp_path / "book.xlsx", {"规模明细": rows})

    with pytest.raises(InputError) as caught:
        read_sheet(path, "规模明细", renames=HEADER_RENAMES)

    message = str(caught.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _valid(tmp_path / "locked.xlsx")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make opening fail the way it would for a user

        def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "open", refuse)

    with pytest.raises(InputError, match="cannot be read \\(Permission denied\\)") as caught:
        read_sheet(path, "规模明细")

    assert str(path) in str(caught.value)
