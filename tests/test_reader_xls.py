"""Error cells of an Excel 97-2003 (.xls) workbook (found by a hostile pass): python-calamine
reads them as empty text, so ``#N/A`` in 期初资产规模 loaded as an empty amount and ``#REF!`` in
组合代码 became the default portfolio QTAN001, with exit 0. facts/xls_scan.py finds them in the
BIFF8 records; each is a row error like the .xlsx ones.

``tests/xls/error_cells.xls`` was written with xlwt (not a dependency): the header of
tests.workbooks, rows P0002–P0009 with its defaults, and error constants in J3 (#N/A), G4
(#REF!) and A5 (#DIV/0!).

calamine also keeps the last of two records for one cell: a NUMBER of 999 after the MULRK that
gives J2 1,000 loaded 期初资产规模 999 with exit 0. Such a sheet is now refused; the files below
are the fixture with records added to its sheet (``_with_records``).
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from facts.xls_scan import XlsRefusal, _records, _sheet_errors, _sheet_offset, _workbook_stream, xls_error_cells
from tests.test_hostile_input import FILE_NAME, Contents, loaded, refused, seeded  # noqa: F401

FIXTURE = Path(__file__).parent / "xls" / "error_cells.xls"
SHEET = "规模明细"
Record = tuple[int, bytes]
NUMBER, RK, MULRK, LABEL, RSTRING, LABELSST, BOOLERR = 0x0203, 0x027E, 0x00BD, 0x0204, 0x00D6, 0x00FD, 0x0205
FORMULA, STRING, BLANK, MULBLANK = 0x0006, 0x0207, 0x0201, 0x00BE


def _with_records(path: Path, change: Callable[[list[Record]], list[Record]]) -> Path:
    """The fixture with its sheet's records ``(type, body)`` changed: xlwt wrote the Workbook stream
    in one run of sectors from the first, the sheet last, zeros after its EOF (room for more)."""
    data = FIXTURE.read_bytes()
    stream = _workbook_stream(data)
    assert data[512 : 512 + len(stream)] == stream
    offset = _sheet_offset(stream, SHEET)
    records = change([(kind, body) for kind, _, body in _records(stream, offset)])
    sheet = b"".join(struct.pack("<HH", kind, len(body)) + body for kind, body in records)
    assert offset + len(sheet) <= len(stream)
    path.write_bytes(data[: 512 + offset] + sheet.ljust(len(stream) - offset, b"\0") + data[512 + len(stream) :])
    return path


def _after(kind: int, row: int, column: int, *added: Record) -> Callable[[list[Record]], list[Record]]:
    """Records ``added`` after the sheet's record ``kind`` for the 0-based cell (row, column)."""

    def change(records: list[Record]) -> list[Record]:
        place = next(
            i for i, (k, body) in enumerate(records) if k == kind and body[:4] == struct.pack("<HH", row, column)
        )
        return records[: place + 1] + list(added) + records[place + 1 :]

    return change


def _cell(kind: int, row: int, column: int, rest: bytes) -> Record:
    return kind, struct.pack("<HHH", row, column, 0x11) + rest


def _formula(row: int, column: int, result: bytes) -> Record:
    return _cell(FORMULA, row, column, result + b"\0" * 6 + b"\x03\0\x1e\x07\0")  # its cached result, then =7


TEXT_RESULT = b"\0" * 6 + b"\xff\xff"  # the formula's text follows in a STRING record


def test_error_cells_of_an_xls_workbook_are_row_errors_not_empty_cells(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / FILE_NAME.replace(".xlsx", ".xls")
    shutil.copyfile(FIXTURE, path)

    summary = loaded(path)

    errors = [(item["row"], item["column"], item["value"], item["message"]) for item in summary["row_errors"]["items"]]
    assert errors == [
        (3, "期初资产规模", "#N/A", "formula error #N/A"),
        (4, "组合代码", "#REF!", "formula error #REF!"),
        (5, "月度", "#DIV/0!", "formula error #DIV/0!"),
    ]
    assert summary["rows"]["valid"] == 5


def test_a_formula_whose_cached_result_is_an_error_is_found() -> None:
    def record(kind: int, body: bytes) -> bytes:
        return struct.pack("<HH", kind, len(body)) + body

    error_result = bytes([2, 0, 0x2A, 0, 0, 0]) + b"\xff\xff"  # type error, #N/A
    number_result = struct.pack("<d", 1.5)
    stream = (
        record(0x0809, b"\0" * 16)  # BOF
        + record(0x0006, struct.pack("<HHH", 6, 9, 15) + error_result + b"\0" * 6)
        + record(0x0006, struct.pack("<HHH", 7, 9, 15) + number_result + b"\0" * 6)
        + record(0x000A, b"")  # EOF
        + record(0x0205, struct.pack("<HHHBB", 8, 1, 15, 0x07, 1))  # past the sheet's EOF: not this sheet
    )

    assert _sheet_errors(stream, 0) == [(7, 9, "#N/A")]


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda data: data[:600], "beyond the end of the file"),
        (lambda data: data[:0x2C] + b"\xff" * 4 + data[0x30:0x4C] + b"\0\0\0\0" * 109 + data[0x200:], "sector"),
    ],
)
def test_a_damaged_compound_file_is_a_refusal(tmp_path: Path, damage: object, why: str) -> None:
    path = tmp_path / "damaged.xls"
    path.write_bytes(damage(FIXTURE.read_bytes()))  # type: ignore[operator]

    with pytest.raises(XlsRefusal):
        xls_error_cells(path, "规模明细")


def test_an_xls_file_with_error_cells_reads_them_all() -> None:
    assert xls_error_cells(FIXTURE, "规模明细") == [(3, 9, "#N/A"), (4, 6, "#REF!"), (5, 0, "#DIV/0!")]


def test_an_xls_sheet_that_writes_a_cell_twice_is_refused(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = _with_records(
        tmp_path / FILE_NAME.replace(".xlsx", ".xls"), _after(MULRK, 1, 9, _cell(NUMBER, 1, 9, struct.pack("<d", 999)))
    )
    read = CalamineWorkbook.from_path(path).get_sheet_by_name(SHEET).to_python()
    assert read[1][9] == 999  # 期初资产规模 of P0002: the MULRK gave 1,000, calamine keeps the second

    message = refused(seeded, "--file", str(path))

    assert (
        str(path) in message
        and "cell J2 twice" in message
        and "open the workbook in Excel and save it again" in message
    )


@pytest.mark.parametrize(
    ("change", "cell"),
    [
        (_after(LABELSST, 1, 3, _cell(RK, 1, 3, struct.pack("<I", 999 << 2 | 2))), "D2"),
        (_after(LABELSST, 1, 3, _cell(LABEL, 1, 3, b"\x05\0\0P9999")), "D2"),
        (_after(LABELSST, 1, 3, _cell(RSTRING, 1, 3, b"\x05\0\0P9999\0\0")), "D2"),
        (_after(LABELSST, 1, 3, _cell(BOOLERR, 1, 3, b"\x01\0")), "D2"),
        (_after(LABELSST, 1, 3, _cell(LABELSST, 1, 3, struct.pack("<I", 0x1B))), "D2"),
        (_after(LABELSST, 1, 3, _formula(1, 3, struct.pack("<d", 7))), "D2"),
        (_after(LABELSST, 1, 3, _formula(1, 3, TEXT_RESULT), (STRING, b"\x05\0\0P7777")), "D2"),
        (
            _after(MULRK, 1, 9, _cell(MULRK, 1, 7, struct.pack("<IHIHI", 5, 0x11, 6, 0x11, 999 << 2 | 2) + b"\x09\0")),
            "J2",
        ),
        # calamine gives a STRING's text to the formula before it: a number formula's cell twice
        (_after(LABELSST, 1, 3, _formula(1, 4, struct.pack("<d", 7)), (STRING, b"\x05\0\0P7777")), "E2"),
        (_after(LABELSST, 1, 3, _formula(1, 4, TEXT_RESULT), (STRING, b"\x01\0\0a"), (STRING, b"\x01\0\0b")), "E2"),
        # the repeat before the cell's own record; a column past BIFF8's 256
        (lambda records: [records[0], _cell(RK, 1, 9, struct.pack("<I", 999 << 2 | 2)), *records[1:]], "J2"),
        (_after(LABELSST, 1, 3, _cell(RK, 1, 300, b"\x02\0\0\0"), _cell(RK, 1, 300, b"\x02\0\0\0")), "KO2"),
    ],
    ids=[
        "rk",
        "label",
        "rstring",
        "boolerr",
        "labelsst",
        "number-formula",
        "text-formula",
        "mulrk",
        "string-after-number-formula",
        "second-string",
        "repeat-first",
        "wide-column",
    ],
)
def test_every_record_that_gives_a_cell_its_value_is_counted(
    tmp_path: Path, change: Callable[[list[Record]], list[Record]], cell: str
) -> None:
    path = _with_records(tmp_path / "twice.xls", change)

    with pytest.raises(XlsRefusal, match=f"cell {cell} twice"):
        xls_error_cells(path, SHEET)


def test_blank_records_and_a_formulas_own_text_are_no_second_value(tmp_path: Path) -> None:
    """calamine reads no BLANK or MULBLANK record (a value under one stays), and a text formula's
    STRING record is its value, not a second one; a value record after them is."""
    blanks = (_cell(BLANK, 1, 3, b""), (MULBLANK, struct.pack("<HHHHHH", 1, 2, 0x11, 0x11, 0x11, 4)))
    formula = (_formula(1, 4, TEXT_RESULT), (STRING, b"\x05\0\0P7777"))
    path = _with_records(tmp_path / "blanks.xls", _after(LABELSST, 1, 3, *blanks, *formula))
    assert xls_error_cells(path, SHEET) == [(3, 9, "#N/A"), (4, 6, "#REF!"), (5, 0, "#DIV/0!")]
    assert CalamineWorkbook.from_path(path).get_sheet_by_name(SHEET).to_python()[1][3:5] == ["P0002", "P7777"]

    again = _with_records(
        tmp_path / "again.xls", _after(LABELSST, 1, 3, *blanks, *formula, _cell(RK, 1, 3, b"\x02\0\0\0"))
    )
    with pytest.raises(XlsRefusal, match="cell D2 twice"):
        xls_error_cells(again, SHEET)


def test_a_text_formula_whose_text_never_came_is_a_row_error_not_an_empty_cell(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A FORMULA record with a text result and no STRING record after it (a formula never
    calculated): calamine reads the cell as empty, which loaded with exit 0 before."""
    path = _with_records(
        tmp_path / FILE_NAME.replace(".xlsx", ".xls"), _after(LABELSST, 1, 3, _formula(1, 4, TEXT_RESULT))
    )
    assert CalamineWorkbook.from_path(path).get_sheet_by_name(SHEET).to_python()[1][4] == ""
    assert (2, 4, None) in xls_error_cells(path, SHEET)

    summary = loaded(path)

    errors = [(item["row"], item["message"]) for item in summary["row_errors"]["items"]]
    assert (2, "formula was never calculated (open and save the workbook in Excel)") in errors
    assert summary["rows"]["valid"] == 4  # P0002's row is the error; the #N/A, #REF! and #DIV/0! rows stay so


def test_a_text_formulas_text_may_follow_its_shared_formula_record(tmp_path: Path) -> None:
    shared = (0x04BC, b"\0" * 10)  # SHRFMLA between a FORMULA and its STRING, as Excel writes it
    formula = (_formula(1, 4, TEXT_RESULT), shared, (STRING, b"\x05\0\0P7777"))
    path = _with_records(tmp_path / "shared.xls", _after(LABELSST, 1, 3, *formula))
    assert xls_error_cells(path, SHEET) == [(3, 9, "#N/A"), (4, 6, "#REF!"), (5, 0, "#DIV/0!")]
