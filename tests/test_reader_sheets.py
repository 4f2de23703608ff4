"""Which sheet is read and what its header may hold (issue 9 items 3 and 9), through
``run_job --execute``: a hidden sheet is read with a warning, never silently preferred to a
visible one of nearly the same name; a header PostgreSQL cannot store is a refusal."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from tests.reader_packages import SHEET, rewrite_part
from tests.test_hostile_input import FILE_NAME, Contents, good_rows, loaded, refused, seeded  # noqa: F401
from tests.workbooks import HEADER, write_workbook


def with_sheets(path: Path, *, state: str, visible_twin: str | None = None) -> Path:
    """The usual workbook, its 规模明细 in ``state``; with ``visible_twin``, a visible sheet of that
    name holding other data (plan P0099)."""
    write_workbook(path, good_rows(2))
    workbook = openpyxl.load_workbook(path)
    if visible_twin is not None:
        twin = workbook.create_sheet(visible_twin, 0)
        for row in openpyxl.load_workbook(write_workbook(path.with_suffix(".twin.xlsx"), [{"计划代码": "P0099"}]))[
            "规模明细"
        ].iter_rows(values_only=True):
            twin.append(row)
        workbook.active = 0
    workbook["规模明细"].sheet_state = state
    workbook.save(path)
    return path


def test_a_hidden_sheet_is_read_with_a_warning(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    summary = loaded(with_sheets(tmp_path / FILE_NAME, state="hidden"))

    assert summary["rows"]["valid"] == 2
    assert any("sheet '规模明细' is hidden in Excel; it was read all the same" in w for w in summary["warnings"])


def test_a_very_hidden_sheet_is_read_with_a_warning(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    summary = loaded(with_sheets(tmp_path / FILE_NAME, state="veryHidden"))

    assert any("sheet '规模明细' is very hidden in Excel" in warning for warning in summary["warnings"])


def test_a_visible_sheet_of_nearly_the_same_name_is_a_refusal(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = with_sheets(tmp_path / FILE_NAME, state="hidden", visible_twin="规模明细 ")

    message = refused(seeded, "--file", str(path))

    assert str(path) in message and "'规模明细' is hidden" in message and "'规模明细 '" in message
    assert "--sheet" in message


def test_a_visible_sheet_read_beside_hidden_ones_gives_no_warning(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = write_workbook(tmp_path / FILE_NAME, good_rows(2))
    workbook = openpyxl.load_workbook(path)
    workbook["收入明细"].sheet_state = "hidden"
    workbook.save(path)

    summary = loaded(path)

    assert not [warning for warning in summary["warnings"] if "hidden" in warning]


def test_a_nul_in_a_header_cell_is_a_refusal_naming_the_column(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = write_workbook(tmp_path / FILE_NAME, good_rows(2), header=[*HEADER[:-1], "集团企业NULMARK客户名称"])
    rewrite_part(path, SHEET, lambda xml: xml.replace(b"NULMARK", b"_x0000_"))

    message = refused(seeded, "--file", str(path))

    assert str(path) in message and "sheet '规模明细'" in message and "header cell W" in message
    assert "NUL character" in message and "\\x00" in message
