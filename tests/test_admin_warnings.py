"""Warnings a person can read (issue 10 item 4): a default portfolio code of the configuration,
shared by design, is one summary line with a count; any other portfolio under many plans names
at most ten of them and a count at verbosity 1, all of them at verbosity 2, and all in the
audit record (the run page's "show all", ``show_run -v 2``)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from refs.conflicts import SAMPLE, expected_shared
from refs.derivation import derive_candidates
from refs.models import BackfillRun, RunTarget
from tests.workbooks import write_workbook
from wdh.config import get_config
from wdh.tables import DEFAULT_DOMAIN

SHARED_PLANS = [f"P{n:04d}" for n in range(101, 131)]  # 30 单一计划 rows without a portfolio
OTHER_PLANS = [f"P{n:04d}" for n in range(201, 213)]  # one real portfolio under 12 plans
SUMMARY = "QTAN002: default portfolio, shared by 30 plans; 年金计划号 left as P0101"
OTHER_BRIEF = (
    "portfolio 9001 appears under 12 plans (" + ", ".join(OTHER_PLANS[:SAMPLE]) + " and 2 more); "
    "年金计划号 = P0201 (first seen)"
)
OTHER_FULL = "portfolio 9001 appears under 12 plans (" + ", ".join(OTHER_PLANS) + "); 年金计划号 = P0201 (first seen)"


def portfolio_rows() -> list[dict[str, str]]:
    rows = [{"计划代码": plan, "计划类型": "单一计划", "组合代码": ""} for plan in SHARED_PLANS]
    return rows + [{"计划代码": plan, "组合代码": "9001"} for plan in OTHER_PLANS]


def test_the_configured_default_codes_are_expected_to_be_shared() -> None:
    shared = expected_shared(get_config().domain(DEFAULT_DOMAIN))
    defaults = {"QTAN001": "default portfolio", "QTAN002": "default portfolio", "QTAN003": "default portfolio"}
    assert shared == defaults | {"G00": "head-office default"}  # the 机构代码 of rows without a branch


def test_a_default_portfolio_under_thousands_of_plans_is_one_short_line() -> None:
    domain = get_config().domain(DEFAULT_DOMAIN)
    plans = ["FP0001"] + [f"XNP{n}" for n in range(2997)]
    rows = [{"组合代码": "QTAN002", "计划代码": plan, "计划类型": "单一计划"} for plan in plans]
    (warning,) = derive_candidates(rows, domain.refs["portfolios"], shared=expected_shared(domain)).warnings
    assert warning.message == "QTAN002: default portfolio, shared by 2,998 plans; 年金计划号 left as FP0001"
    assert warning.full == warning.message and len(warning.values) == 2998


def test_another_portfolio_names_ten_plans_and_a_count_and_keeps_them_all() -> None:
    domain = get_config().domain(DEFAULT_DOMAIN)
    rows = [{"组合代码": "9001", "计划代码": plan} for plan in OTHER_PLANS]
    (warning,) = derive_candidates(rows, domain.refs["portfolios"], shared=expected_shared(domain)).warnings
    assert (warning.message, warning.full) == (OTHER_BRIEF, OTHER_FULL)


def warning_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("warning: ")]


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "2026年02月规模收入数据.xlsx", portfolio_rows())


def plan_only(workbook: Path, verbosity: int) -> str:
    out = StringIO()
    call_command("run_job", "--file", str(workbook), "--backfill-refs", "portfolios", verbosity=verbosity, stdout=out)
    return out.getvalue()


def test_the_terminal_summary_at_verbosity_1_and_2(warehouse: None, workbook: Path) -> None:
    assert warning_lines(plan_only(workbook, 1)) == [f"warning: {SUMMARY}", f"warning: {OTHER_BRIEF}"]
    assert warning_lines(plan_only(workbook, 2)) == [f"warning: {SUMMARY}", f"warning: {OTHER_FULL}"]


def test_the_audit_record_keeps_every_plan_behind_show_all(
    warehouse: None, workbook: Path, admin_client: Client
) -> None:
    plan_only(workbook, 1)
    run = BackfillRun.objects.get()
    target = RunTarget.objects.get(run=run)
    assert (target.warnings, target.warning_details) == ([SUMMARY, OTHER_BRIEF], [SUMMARY, OTHER_FULL])
    page = admin_client.get(reverse("admin:refs_backfillrun_change", args=[run.pk])).content.decode()
    section = page[page.index('id="warnings"') : page.index('id="files"')]
    assert SUMMARY in section and OTHER_BRIEF in section
    assert section.count("<summary>show all</summary>") == 1 and OTHER_FULL in section


@pytest.mark.parametrize("verbosity, expected", [(1, OTHER_BRIEF), (2, OTHER_FULL)])
def test_show_run_lists_every_plan_at_verbosity_2(
    warehouse: None, workbook: Path, verbosity: int, expected: str
) -> None:
    plan_only(workbook, 1)
    out = StringIO()
    call_command("show_run", "--latest", verbosity=verbosity, stdout=out)
    assert warning_lines(out.getvalue()) == [f"warning: {SUMMARY}", f"warning: {expected}"]
