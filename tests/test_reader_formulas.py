"""Formulas never calculated (no cached value) are row errors in every loaded column, never an
empty cell that a default then fills (issue 9 item 4). Through ``run_job --execute``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from facts.excel import UNCALCULATED, CellError, read_sheet
from tests.reader_packages import SHEET, rewrite_part
from tests.test_hostile_input import FILE_NAME, Contents, good_rows, loaded, row_errors, seeded  # noqa: F401
from tests.workbooks import HEADER, write_workbook

IGNORED = ("子企业号", "子企业名称", "集团企业客户名称")  # read by nothing
LOADED = [name for name in HEADER if name not in IGNORED]
REPORTED = {"流失(含待遇支付)": "流失_含待遇支付", "机构": "机构名称"}  # the normalised header name


@pytest.mark.parametrize("name", LOADED)
def test_an_uncalculated_formula_is_a_row_error_in_every_loaded_column(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    name: str,
) -> None:
    rows: list[dict[str, Any]] = good_rows(3)
    rows[1][name] = '=VLOOKUP(A3,"x",2,0)'  # openpyxl writes a formula with no cached value: <v />
    summary = loaded(write_workbook(tmp_path / FILE_NAME, rows))

    assert row_errors(summary) == [(3, REPORTED.get(name, name), '=VLOOKUP(A3,"x",2,0)')]
    assert summary["row_errors"]["items"][0]["message"] == UNCALCULATED
    assert summary["facts"]["inserted"] == 2


def test_an_empty_cached_text_of_a_text_formula_is_a_value(tmp_path: Path) -> None:
    """``<c t="str"><f>…</f><v></v></c>`` is how Excel stores a formula whose result is "": calculated."""
    path = write_workbook(tmp_path / FILE_NAME, [{"计划名称": "=1"}, {"计划名称": "=2"}])
    empty_text = b'<c r="E2" t="str"><f>""</f><v></v>'
    _rewrite_formulas(path, {b'<c r="E2"><f>1</f><v />': empty_text, b"<f>2</f><v />": b"<f>2</f><v></v>"})

    data = read_sheet(path, "规模明细")
    values = {number: row[data.header.index("计划名称")] for number, row in data.iter_rows()}

    assert values == {2: None, 3: CellError("=2", uncalculated=True)}


def test_shared_and_array_formulas_without_values(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, [{"供款": "=1"}, {"供款": "=2"}, {"供款": 5.0}])
    _rewrite_formulas(
        path,
        {
            b"<f>1</f><v />": b'<f t="shared" ref="L2:L3" si="0">1</f>',
            b"<f>2</f><v />": b'<f t="shared" si="0"/><v/>',
            b"<v>5</v>": b'<f t="array" ref="L4">5</f><v>5</v>',  # calculated: its cached value stands
        },
    )
    data = read_sheet(path, "规模明细")
    values = [row[data.header.index("供款")] for _, row in data.iter_rows()]

    assert values == [CellError("=1", uncalculated=True), CellError("=", uncalculated=True), 5.0]


def _rewrite_formulas(path: Path, replacements: dict[bytes, bytes]) -> None:
    def edit(xml: bytes) -> bytes:
        for old, new in replacements.items():
            assert old in xml, old
            xml = xml.replace(old, new)
        return xml

    rewrite_part(path, SHEET, edit)


def test_trailing_rows_of_uncalculated_formulas_are_row_errors(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    """Rows below the last value whose every cell is a formula never calculated lie beyond
    calamine's range, which ends at its last value: they were not read at all — "6 rows, 6 valid",
    exit 0 — where such a row amid the table is a row error (found by a hostile pass)."""
    rows: list[dict[str, Any]] = good_rows(6)
    formulas = {name: f"={index + 1}" for index, name in enumerate(LOADED)}
    summary = loaded(write_workbook(tmp_path / FILE_NAME, [*rows, formulas, formulas, formulas, formulas]))

    assert [number for number, *_ in row_errors(summary)] == [8, 9, 10, 11]
    assert {item["message"] for item in summary["row_errors"]["items"]} == {UNCALCULATED}
    assert summary["facts"]["inserted"] == 6
    data = read_sheet(tmp_path / FILE_NAME, "规模明细")
    assert [number for number, _ in data.iter_rows()] == list(range(2, 12))
