"""The synthetic workbook (facts/sample.py) and ``make_sample``: the realities are really in the file.

Workbooks are written by the tests and read back with python-calamine and openpyxl. No database.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import io
import re
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from python_calamine import CalamineWorkbook

from domains.annuity_income.sample import SHEET as OTHER_SHEET
from domains.annuity_performance.cleansing import HEADER_RENAMES
from domains.annuity_performance.sample import HEADER, SHEET, existing_plan_codes, existing_portfolio_codes
from facts.excel import read_sheet
from facts.sample import sample_file_name, write_sample_workbook
from facts.sample_spec import SampleSpec
from wdh.config import get_config
from wdh.errors import InputError
from wdh.tables import DEFAULT_DOMAIN

SPEC = SampleSpec()  # 300 rows, 15 plans, 60 portfolios, 2000 trailing rows
COLUMN = {name: index for index, name in enumerate(HEADER)}  # the sample writes HEADER's order


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_workbook(tmp_path_factory.mktemp("sample") / sample_file_name(2026, 2), SPEC)


@pytest.fixture(scope="module")
def rows(sample: Path) -> list[list[Any]]:
    """Sheet 规模明细 through calamine: the header, then the data rows (trailing rows cut off)."""
    values = CalamineWorkbook.from_path(str(sample)).get_sheet_by_name(SHEET).to_python()
    return values[: 1 + SPEC.rows]


def column(rows: list[list[Any]], name: str) -> list[Any]:
    return [row[COLUMN[name]] for row in rows[1:]]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_both_sheets_with_the_real_header_variants(sample: Path, rows: list[list[Any]]) -> None:
    workbook = CalamineWorkbook.from_path(str(sample))
    assert workbook.sheet_names == [SHEET, OTHER_SHEET]
    assert len(workbook.get_sheet_by_name(OTHER_SHEET).to_python()) > 1
    header = rows[0]
    assert len(header) == 23
    assert {"计划号", "流失（含待遇支付）", "机构"} <= set(header)
    assert "计划代码" not in header and "机构名称" not in header and "流失(含待遇支付)" not in header
    assert any("\n" in name for name in header)
    assert any(" " in name for name in header)


def test_the_project_reader_takes_the_header_and_drops_the_blank_rows(sample: Path) -> None:
    data = read_sheet(sample, SHEET, renames=HEADER_RENAMES)
    canonical = [{"机构": "机构名称", "流失(含待遇支付)": "流失_含待遇支付"}.get(name, name) for name in HEADER]
    assert list(data.header) == canonical
    assert sum(1 for _ in data.iter_rows()) == SPEC.rows
    assert data.blank_rows == SPEC.trailing_blank_rows


def test_month_is_mostly_an_integer_cell_with_text_and_date_forms(sample: Path) -> None:
    sheet = openpyxl.load_workbook(sample, read_only=True)[SHEET]
    months = [row[0] for row in sheet.iter_rows(min_row=2, max_row=1 + SPEC.rows, max_col=1, values_only=True)]
    integers = [value for value in months if type(value) is int]
    assert set(integers) == {202602}
    assert len(integers) > 0.9 * SPEC.rows
    assert {"2026年2月", "26年2月", "2026-02"} <= set(months)
    assert datetime.datetime(2026, 2, 1) in months  # the date cell


def test_a_third_of_portfolio_codes_are_numeric_cells_and_many_are_empty(rows: list[list[Any]]) -> None:
    codes = column(rows, "组合代码")
    filled = [code for code in codes if code not in ("", "-")]
    numeric = [code for code in filled if isinstance(code, float)]
    assert all(code == int(code) for code in numeric)
    assert 0.25 < len(numeric) / len(filled) < 0.42
    assert any(isinstance(code, str) and re.fullmatch(r"F\d+", code) for code in filled)
    assert "Fund001" in filled
    assert codes.count("") > 0.15 * len(codes)


def test_one_portfolio_appears_under_two_plans(rows: list[list[Any]]) -> None:
    plans_of = defaultdict(set)
    for plan, portfolio in zip(column(rows, "计划代码"), column(rows, "组合代码"), strict=True):
        if portfolio not in ("", "-"):
            plans_of[portfolio].add(plan)
    assert any(len(plans) > 1 for plans in plans_of.values())


def test_cells_carry_the_realities_the_cleansing_must_handle(rows: list[list[Any]]) -> None:
    plan_codes = column(rows, "计划代码")
    assert "1P0290" in plan_codes and "" in plan_codes  # a correction, a blank 集合计划 code (AN001)
    clients = column(rows, "客户名称")
    assert "" in clients and "-" in clients
    assert any(re.search(r"已转出|-养老|\(团托\)|及下属子企业|（保留）|^\s|\s$", name) for name in clients)
    assert "" in column(rows, "机构代码")
    assert {"内蒙", "北分", "北京分公司"} & set(column(rows, "机构"))
    assert all(re.fullmatch(r"C\d{18}", account) for account in column(rows, "集团企业客户号"))
    optional = column(rows, "子企业号") + column(rows, "子企业名称") + column(rows, "集团企业客户名称")
    assert {"-", "N/A", "无"} & set(optional)
    assert any(isinstance(rate, str) and rate.endswith(("%", "％")) for rate in column(rows, "当期收益率"))
    assert any(isinstance(rate, float) and rate > 1 for rate in column(rows, "当期收益率"))
    shipped = get_config().domain(DEFAULT_DOMAIN).mappings.business_type_code
    assert {"企年受托", "企年投资", "职年受托", "职年投资"} <= set(column(rows, "业务类型")) <= set(shipped)


def test_amounts_are_floats_with_binary_tails_written_exactly(sample: Path, rows: list[list[Any]]) -> None:
    closing = [value for value in column(rows, "期末资产规模") if isinstance(value, float)]
    digits = [len(re.sub(r"\D", "", repr(value)).lstrip("0")) for value in closing]
    assert max(digits) >= 16  # e.g. 31982648287.809898, as real files carry them
    sheet = openpyxl.load_workbook(sample, read_only=True)[SHEET]
    again = [r[0] for r in sheet.iter_rows(min_row=2, max_row=1 + SPEC.rows, min_col=11, max_col=11, values_only=True)]
    assert [value for value in again if isinstance(value, float)] == closing


def test_only_two_rows_are_broken_on_purpose(rows: list[list[Any]]) -> None:
    months = column(rows, "月度")
    assert months.count("2026年13月") == 1
    assert column(rows, "供款").count("abc") == 1
    broken = [row for row in rows[1:] if "2026年13月" in row or "abc" in row]
    assert len(broken) <= 0.02 * SPEC.rows


def test_formatted_empty_rows_follow_the_data(sample: Path) -> None:
    sheet = openpyxl.load_workbook(sample)[SHEET]
    assert sheet.max_row == 1 + SPEC.rows + SPEC.trailing_blank_rows
    last = sheet.cell(row=sheet.max_row, column=5)
    assert last.value is None
    assert last.fill.fill_type == "solid" and last.border.left.style == "thin"
    with zipfile.ZipFile(sample) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert f'<c r="W{sheet.max_row}" s="' in xml


def test_the_code_lists_are_exactly_the_codes_of_the_file(rows: list[list[Any]]) -> None:
    plans = {{"1P0290": "P0290", "1P0807": "P0807", "": "AN001"}.get(code, code) for code in column(rows, "计划代码")}
    assert sorted(plans) == existing_plan_codes(SPEC)
    portfolios = {
        str(int(code)) if isinstance(code, float) else re.sub(r"^F(?=\d+$)", "", code)
        for code in column(rows, "组合代码")
        if code not in ("", "-")
    }
    assert sorted(portfolios) == existing_portfolio_codes(SPEC)


@pytest.mark.parametrize(("rows", "plans", "portfolios"), [(300, None, None), (10_000, 500, 2000)])
def test_plan_and_portfolio_counts_follow_the_spec(rows: int, plans: int | None, portfolios: int | None) -> None:
    spec = SampleSpec(rows=rows, plans=plans, portfolios=portfolios)
    assert len(existing_plan_codes(spec)) == spec.plan_count
    assert len(existing_portfolio_codes(spec)) == spec.portfolio_count


def test_same_spec_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    spec = SampleSpec(rows=120, trailing_blank_rows=50)
    first = write_sample_workbook(tmp_path / "a" / "one.xlsx", spec)
    second = write_sample_workbook(tmp_path / "b" / "two.xlsx", spec)
    other = write_sample_workbook(tmp_path / "c" / "three.xlsx", SampleSpec(rows=120, trailing_blank_rows=50, seed=7))
    assert sha256(first) == sha256(second)
    assert sha256(other) != sha256(first)
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"2026-02-01T00:00:00Z" in archive.read("docProps/core.xml")
    assert list(tmp_path.rglob(".*")) == []  # no partial file left behind


def test_without_realities_the_workbook_is_tidy(tmp_path: Path) -> None:
    spec = SampleSpec(rows=200, trailing_blank_rows=0, realities=False)
    path = write_sample_workbook(tmp_path / "clean.xlsx", spec)
    values = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(SHEET).to_python()
    assert tuple(values[0]) == HEADER
    assert len(values) == 1 + spec.rows
    assert {row[COLUMN["月度"]] for row in values[1:]} == {202602}
    assert not any(isinstance(row[COLUMN["组合代码"]], float) for row in values[1:])
    assert existing_plan_codes(spec) == existing_plan_codes(SampleSpec(rows=200, trailing_blank_rows=0))


def test_file_name_matches_the_configured_patterns() -> None:
    assert sample_file_name(2026, 2) == "【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx"
    assert sample_file_name(2024, 11, version=2) == "【年金规模收入】24年11月年金业务规模明细(手工汇总)_V2.xlsx"
    patterns = get_config().domain(DEFAULT_DOMAIN).file_patterns
    assert any(fnmatch.fnmatch(sample_file_name(2026, 2), pattern) for pattern in patterns)


@pytest.mark.parametrize(
    ("options", "problem"),
    [({"rows": 0}, "rows must be at least 1"), ({"month": 13}, "month must be 1..12"), ({"plans": 0}, "plans")],
)
def test_an_impossible_spec_is_refused(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        SampleSpec(**options)


def run_make_sample(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("make_sample", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_writes_into_the_out_folder_and_prints_the_path(tmp_path: Path) -> None:
    out, err = run_make_sample("--rows", "40", "--month", "11", "--seed", "5", "--out", str(tmp_path / "data"))
    path = tmp_path / "data" / sample_file_name(2026, 11)
    assert out.strip() == str(path)
    assert "Wrote 40 rows for 2026-11" in err
    values = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(SHEET).to_python()
    assert Counter(row[0] for row in values[1:41])[202611.0] > 30


def test_command_writes_to_an_xlsx_out_path_as_given(tmp_path: Path) -> None:
    out, _ = run_make_sample("--rows", "10", "--trailing-blank-rows", "0", "--clean", "--out", str(tmp_path / "s.xlsx"))
    assert out.strip() == str(tmp_path / "s.xlsx")
    spec = SampleSpec(rows=10, trailing_blank_rows=0, realities=False)
    assert sha256(tmp_path / "s.xlsx") == sha256(write_sample_workbook(tmp_path / "again.xlsx", spec))


def test_command_defaults_to_the_configured_base_dir(use_config: Any, tmp_path: Path) -> None:
    use_config(lambda domain: domain.update(base_dir=str(tmp_path / "annuity")))
    out, _ = run_make_sample("--rows", "5", "--trailing-blank-rows", "0")
    assert out.strip() == str(tmp_path / "annuity" / sample_file_name(2026, 2))


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--rows", "0"], "rows must be at least 1"), (["--month", "13"], "month must be 1..12"),
     (["--out", "x.xlsm"], "an .xlsx workbook")],
)  # fmt: skip
def test_command_refuses_bad_options(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message) as error:
        run_make_sample(*args)
    assert error.value.returncode == 2
