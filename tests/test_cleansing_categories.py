"""业务类型 and 计划类型 look-alikes, unknown and empty categories, and control characters in
codes (hostile pass, items 1-2): each a correct value, a row error naming the cell, or a counted
warning — never a delete scope of its own that a corrected rerun leaves behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domains.annuity_income.models import AnnuityIncome
from domains.annuity_performance.models import AnnuityPerformance
from facts.categories import business_type, plan_type
from facts.cells import CellProblem
from facts.codes import clean_plan_code, clean_portfolio_code, code_text
from tests.test_backfill import run
from tests.test_income_run import INCOME, write_book
from tests.workbooks import write_workbook

FILE_NAME = "2026年2月年金终稿数据.xlsx"
EXECUTE = ("--execute", "--backfill-refs", "all")
KNOWN = ("集合计划", "单一计划", "职业年金")
BUSINESS_LOOK_ALIKES = [
    "企年受托\u200b", "\ufeff企年受托", "企年 受托", "企年受托\u3000", "企年\u2060受托", " 企年受托\t",
]  # fmt: skip
PLAN_LOOK_ALIKES = ["集合\u200d计划", "集合计划\u200b", "\ufeff集合计划", "集合 计划", "集合\u00a0计划"]


@pytest.mark.parametrize("cell", BUSINESS_LOOK_ALIKES)
def test_a_business_type_look_alike_is_the_business_type(cell: str) -> None:
    assert business_type(cell) == "企年受托"


@pytest.mark.parametrize("cell", PLAN_LOOK_ALIKES)
def test_a_plan_type_look_alike_is_the_plan_type(cell: str) -> None:
    assert plan_type(cell, known=KNOWN) == "集合计划"


def test_full_width_forms_read_as_their_ascii_letters() -> None:
    assert business_type("ＡＢＣ") == "ABC"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("集合计画", "计划类型 '集合计画' is not one of 集合计划, 单一计划, 职业年金"),
        ("集合", "'集合' is not one of"),
        (None, "计划类型 is empty; it is part of the delete scope"),
        ("\u200b", "计划类型 is empty"),
        ("-", "计划类型 is empty"),
        ("集合\x01计划", "control character \\x01"),
    ],
)
def test_an_unknown_or_empty_plan_type_is_a_cell_problem(cell: Any, message: str) -> None:
    with pytest.raises(CellProblem, match=r"correct the cell|fill the cell|remove it") as caught:
        plan_type(cell, known=KNOWN)
    assert message in str(caught.value)


@pytest.mark.parametrize("cell", [None, "", " ", "\ufeff", "NULL"])
def test_an_empty_business_type_is_a_cell_problem(cell: Any) -> None:
    with pytest.raises(CellProblem, match="业务类型 is empty; it is part of the delete scope"):
        business_type(cell)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("F7224\x011", "\\x01"), ("P0\x1b[2J01", "\\x1b"), ("A\x7fB", "\\x7f"), ("A\x9bB", "\\x9b"), ("\x00", None)],
)
def test_a_control_character_in_a_code_is_a_cell_problem(cell: str, shown: str | None) -> None:
    for rule in (clean_portfolio_code, code_text, lambda value: clean_plan_code(value, plan_type=None, corrections={})):
        with pytest.raises(CellProblem) as caught:
            rule(cell)
        assert shown is None or f"control character {shown}" in str(caught.value)


def test_whitespace_controls_are_still_removed_from_a_code() -> None:
    assert clean_portfolio_code("F7224\t1\x85") == "72241"  # tab and NEL are whitespace


def performance_rows() -> list[dict[str, Any]]:
    return [
        {"计划代码": "P0001", "组合代码": "1", "业务类型": "企年受托\u200b"},
        {"计划代码": "P0002", "组合代码": "2", "业务类型": "\ufeff企年受托", "计划类型": "集合\u200d计划"},
        {"计划代码": "P0003", "组合代码": "3", "业务类型": "企年 受托", "计划类型": "集合计划\u3000"},
        {"计划代码": "P0004", "组合代码": "4"},
        {"计划代码": "P0005", "组合代码": "5", "业务类型": "养老金"},  # unmapped: kept, warned
        {"计划代码": "P0006", "组合代码": "6", "计划类型": "集合计画"},  # a typo: row error
        {"计划代码": "P0007", "组合代码": "F7224_x0001_1"},  # a control character: row error
        {"计划代码": "P0008", "组合代码": "8", "业务类型": None},  # empty: row error
        {"计划代码": "P0009", "组合代码": "9"},
        {"计划代码": "P0010", "组合代码": "10"},
    ]


def scopes(model: Any) -> list[tuple[Any, ...]]:
    return sorted(set(model.objects.values_list("业务类型", "计划类型", "产品线代码")), key=str)


def test_performance_run_reads_look_alikes_as_one_scope_and_a_corrected_rerun_replaces_them(
    warehouse: None, tmp_path: Path
) -> None:
    summary = run("run_job", "--file", str(write_workbook(tmp_path / "a" / FILE_NAME, performance_rows())), *EXECUTE)
    assert summary["exit_code"] == 0, summary["error"]
    errors = [(item["row"], item["column"], item["value"], item["message"]) for item in summary["row_errors"]["items"]]
    assert [error[:3] for error in errors] == [
        (7, "计划类型", "集合计画"), (8, "组合代码", "F7224\\x011"), (9, "业务类型", None),
    ]  # fmt: skip
    assert "is not one of 集合计划, 单一计划, 职业年金" in errors[0][3] and "correct the cell" in errors[0][3]
    assert "control character \\x01" in errors[1][3]
    assert scopes(AnnuityPerformance) == [("企年受托", "集合计划", "PL202"), ("养老金", "集合计划", None)]
    warnings = "\n".join(summary["warnings"])
    assert "养老金: 1 rows" in warnings and "产品线代码 is left empty" in warnings
    assert "业务类型: 4 spellings" in warnings and "计划类型: 2 spellings" in warnings
    corrected = [{**row, "业务类型": "企年受托", "计划类型": "集合计划"} for row in performance_rows()[:4]]
    again = run("run_job", "--file", str(write_workbook(tmp_path / "b" / FILE_NAME, corrected)), "--execute")
    assert again["exit_code"] == 0, again["error"]
    codes = sorted(AnnuityPerformance.objects.values_list("计划代码", flat=True))
    assert codes == ["P0001", "P0002", "P0003", "P0004", "P0005"]  # no look-alike row left behind
    # (P0005's scope, 养老金, is a scope of its own rightly: the corrected file has no 养老金 row)


def test_income_run_reads_look_alikes_as_one_scope(warehouse: None, tmp_path: Path) -> None:
    rows = [
        [202602, "企年受托\u200b", "集合计划", "P0001", "计划1", "1", "甲公司", 1, "G01", "北京"],
        [202602, "企年 受托", "集合\u200d计划", "P0002", "计划2", "2", "乙公司", 1, "G01", "北京"],
        [202602, "养老金", "集合计划", "P0003", "计划3", "3", "丙公司", 1, "G01", "北京"],
        [202602, "企年受托", "集合计画", "P0004", "计划4", "4", "丁公司", 1, "G01", "北京"],
        [202602, "企年受托", "集合计划", "P0005", "计划5", "F7224_x0001_1", "戊公司", 1, "G01", "北京"],
        [202602, "企年受托", "单一计划", "P0006", "计划6", "6", "己公司", 1, "G01", "北京"],
    ]
    path = write_book(tmp_path / FILE_NAME, rows)
    summary = run("run_job", "--domain", INCOME, "--file", str(path), *EXECUTE)
    assert summary["exit_code"] == 0, summary["error"]
    errors = [(item["row"], item["column"], item["value"]) for item in summary["row_errors"]["items"]]
    assert errors == [(5, "计划类型", "集合计画"), (6, "组合代码", "F7224\\x011")]
    assert scopes(AnnuityIncome) == [
        ("企年受托", "单一计划", "PL202"), ("企年受托", "集合计划", "PL202"), ("养老金", "集合计划", None),
    ]  # fmt: skip
    assert any("养老金: 1 rows" in warning for warning in summary["warnings"])
