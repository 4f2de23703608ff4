"""Error cells of an Excel 97-2003 (.xls) workbook (found by a hostile pass): python-calamine
reads them as empty text, so ``#N/A`` in 期初资产规模 loaded as an empty amount and ``#REF!`` in
组合代码 became the default portfolio QTAN001, with exit 0. facts/xls_scan.py finds them in the
BIFF8 records; each is a row error like the .xlsx ones.

``tests/xls/error_cells.xls`` was written with xlwt (not a dependency): the header of
tests.workbooks, rows P0002–P0009 with its defaults, and error constants in J3 (#N/A), G4
(#REF!) and A5 (#DIV/0!).
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from facts.xls_scan import XlsRefusal, _sheet_errors, xls_error_cells
from tests.test_hostile_input import FILE_NAME, Contents, loaded, refused, seeded  # noqa: F401

FIXTURE = Path(__file__).parent / "xls" / "error_cells.xls"


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
