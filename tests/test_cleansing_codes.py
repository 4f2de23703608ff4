"""One normalisation for every code used as a key, and warnings when spellings collapse (issue 9, item 5)."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from facts.cells import CellProblem
from facts.codes import (
    CodeSpellings,
    account_number,
    branch_code,
    clean_plan_code,
    clean_portfolio_code,
    normalised_code,
    product_line_code,
)
from facts.models import AnnuityPerformance
from refs.models import AnnuityPlan, Portfolio
from tests.test_backfill import run
from tests.workbooks import write_workbook

FILE_NAME = "2026年2月年金终稿数据.xlsx"
EXECUTE = ("--execute", "--backfill-refs", "all", "--verbosity", "2")
PLAN_SPELLINGS = ["X100", "Ｘ100", "Ｘ１００", "X\u200b100", "\u200dX100", "X100\u2060", "\ufeffX100", "X 100"]
PORTFOLIO_SPELLINGS = ["QZ500", "ＱＺ500", "QZ500\u200b"]


@pytest.mark.parametrize("spelling", PLAN_SPELLINGS)
def test_every_spelling_of_a_plan_code_is_one_code(spelling: str) -> None:
    assert normalised_code(spelling) == "X100"
    assert clean_plan_code(spelling.lower(), plan_type="集合计划", corrections={}) == "X100"


@pytest.mark.parametrize("spelling", PORTFOLIO_SPELLINGS)
def test_portfolio_codes_are_normalised_and_keep_their_case(spelling: str) -> None:
    assert clean_portfolio_code(spelling) == "QZ500"
    assert clean_portfolio_code(spelling.lower()) == "qz500"


def test_the_f_prefix_rule_reads_the_normalised_code() -> None:
    assert clean_portfolio_code("Ｆ9003") == "9003"
    assert clean_portfolio_code("F\u200b9003") == "9003"
    assert clean_portfolio_code("Fund123") == "Fund123" and clean_portfolio_code("Ｆｕｎｄ123") == "Fund123"


def test_the_other_codes_are_normalised_too() -> None:
    assert branch_code(None, "Ｇ０１\u200b", overrides={}, branch_codes={}) == "G01"
    assert branch_code("北京", None, overrides={}, branch_codes={"北京": "Ｇ０２ "}) == "G02"  # the 组织架构 code
    assert account_number("Ｃ１２３\ufeff") == "123"
    assert product_line_code("企年受托", {"企年受托": "PL\u200b202"}) == "PL202"
    assert clean_portfolio_code("\u200b") is None and account_number("ＮＵＬＬ") is None  # blank once normalised


def test_spellings_warn_when_values_collapse_or_differ_only_in_case() -> None:
    spellings = CodeSpellings()
    for cell in ["QZ500", "ＱＺ500", "QZ500", "qz500", "Fund123"]:
        spellings.record("组合代码", cell)
    for cell in ["X100", "x100"]:  # one spelling: plan codes are upper-cased by rule
        spellings.record("计划代码", cell)
    assert spellings.warnings() == [
        "组合代码: 2 spellings ('QZ500', 'ＱＺ500') are read as one code, QZ500; check the source data",
        "组合代码: QZ500, qz500 differ only in case and stay 2 separate codes (codes are case-sensitive); "
        "check which spelling is right",
    ]


def rows() -> list[dict[str, Any]]:
    plans = [{"计划代码": spelling, "组合代码": "Z1"} for spelling in PLAN_SPELLINGS]
    portfolio_codes = [*PORTFOLIO_SPELLINGS, "qz500", "Fund123"]
    portfolios = [{"计划代码": "P0001", "组合代码": spelling} for spelling in portfolio_codes]
    return plans + portfolios


def test_a_run_writes_one_reference_row_per_code_and_names_the_spellings(warehouse: None, tmp_path: Path) -> None:
    summary = run("run_job", "--file", str(write_workbook(tmp_path / FILE_NAME, rows())), *EXECUTE)
    assert summary["status"] == "succeeded", summary["error"]
    assert sorted(AnnuityPlan.objects.values_list("pk", flat=True)) == ["P0001", "X100"]
    assert sorted(Portfolio.objects.values_list("pk", flat=True)) == ["Fund123", "QZ500", "Z1", "qz500"]
    warnings = summary["warnings"]
    plan_warning = next(warning for warning in warnings if warning.startswith("计划代码: "))
    assert "8 spellings" in plan_warning and "'X\\u200b100'" in plan_warning and "'Ｘ１００'" in plan_warning
    assert plan_warning.endswith("are read as one code, X100; check the source data")
    portfolio_warning = "组合代码: 3 spellings ('QZ500', 'ＱＺ500', 'QZ500\\u200b') are read as one code, QZ500; "
    assert portfolio_warning in "\n".join(warnings)
    assert any(warning.startswith("组合代码: QZ500, qz500 differ only in case") for warning in warnings)


def test_spellings_collapse_across_the_files_of_one_batch(warehouse: None, tmp_path: Path) -> None:
    first = write_workbook(tmp_path / "a" / FILE_NAME, [{"计划代码": "X100", "组合代码": "Z1"}])
    # another business type: two files may not share a delete scope (facts/duplicates.py)
    second = write_workbook(
        tmp_path / "b" / FILE_NAME, [{"计划代码": "Ｘ100", "组合代码": "Z1", "业务类型": "企年投资"}]
    )
    summary = run("run_job", "--file", str(first), "--file", str(second), *EXECUTE)
    assert list(AnnuityPlan.objects.values_list("pk", flat=True)) == ["X100"]
    expected = "计划代码: 2 spellings ('X100', 'Ｘ100') are read as one code, X100; check the source data"
    assert expected in summary["warnings"]


def test_the_plan_company_id_lookup_matches_a_plan_keyed_in_another_spelling(warehouse: None, tmp_path: Path) -> None:
    AnnuityPlan.objects.create(pk="ｓ0001\u200b", company_id="606285385")  # an older row, typed full-width
    path = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "S0001", "计划类型": "单一计划", "组合代码": "Z1"}])
    summary = run("run_job", "--file", str(path), "--execute", "--backfill-refs", "portfolios")
    assert summary["rows"]["company_id_missing"] == 0
    assert list(AnnuityPerformance.objects.values_list("company_id", flat=True)) == ["606285385"]


@pytest.mark.parametrize("cell", [datetime(2026, 2, 1), date(2026, 3, 1), time(12, 30)])
def test_a_date_or_time_cell_is_never_a_code(cell: Any) -> None:
    # Excel turns a code typed as 3-1 or 2026-02 into a date; its text would become a plan key
    with pytest.raises(CellProblem, match="is not a code"):
        clean_plan_code(cell, plan_type="集合计划", corrections={})
    with pytest.raises(CellProblem, match="is not a code"):
        clean_portfolio_code(cell)
    with pytest.raises(CellProblem, match="is not a code"):
        branch_code(None, cell, overrides={}, branch_codes={})
    with pytest.raises(CellProblem, match="is not a code"):
        account_number(cell)


def test_a_date_cell_in_the_plan_code_column_is_a_row_error(warehouse: None, tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [{"计划代码": datetime(2026, 2, 1), "组合代码": "Z1"}]
    rows.append({"计划代码": "P0001", "组合代码": "Z2"})
    summary = run("run_job", "--file", str(write_workbook(tmp_path / FILE_NAME, rows)), *EXECUTE)
    assert summary["status"] == "succeeded", summary["error"]
    assert list(AnnuityPlan.objects.values_list("pk", flat=True)) == ["P0001"]
    [error] = summary["row_errors"]["items"]
    assert (error["row"], error["column"], error["value"]) == (2, "计划代码", "2026-02-01")
    assert error["message"].startswith("a date/time cell (2026-02-01) is not a code")
