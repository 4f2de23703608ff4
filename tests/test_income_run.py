"""The ``annuity_income`` domain end to end on real PostgreSQL (issue 11 item 2): discovery of
sheet 收入明细, the warehouse lookups, a bad fee cell as a row error, the sample workbook through
``run_job --domain annuity_income`` and ``backfill_refs --domain annuity_income``, and a second
execute that changes nothing."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.db import connection

from domains.annuity_income.models import AnnuityIncome
from domains.annuity_income.sample import BROKEN_FEE, existing_plan_codes, existing_portfolio_codes
from facts.discovery import discover
from facts.domain import domain_configured, domain_get
from facts.sample import sample_file_name, write_sample_workbook
from facts.sample_spec import SampleSpec
from refs.checks import refs_problems
from refs.models import AnnuityPlan, BackfillRun, Portfolio, RunRowError, RunStatus
from tests.test_backfill import by_target, run, run_failing, table_rows
from wdh.config import DEFAULT_REFS, get_config

INCOME = "annuity_income"
HEADER = ["月度", "业务类型", "计划类型", "计划号", "计划名称", "组合代码", "客户名称", "固费", "机构", "机构名称"]


def write_book(path: Path, rows: list[list[Any]], *, sheets: tuple[str, ...] = ("规模明细", "收入明细")) -> Path:
    workbook = openpyxl.Workbook()
    workbook.active.title = sheets[0]
    for name in sheets[1:]:
        workbook.create_sheet(name)
    if "收入明细" in sheets:
        workbook["收入明细"].append(HEADER)
        for row in rows:
            workbook["收入明细"].append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def test_the_default_reference_rules_are_the_sheet_types() -> None:
    """Without ``refs`` a domain derives by its sheet type's rules: 收入明细 weighs by 固费 (§4),
    and the shipped configuration spells out exactly those."""
    configured = get_config().domain(INCOME)
    bare = dataclasses.replace(configured, refs=DEFAULT_REFS, refs_defaulted=True)
    assert refs_problems(bare) != []  # 规模明细's weight, 期末资产规模, is no column of 收入明细
    defaulted = domain_configured(bare)
    assert defaulted.refs == domain_get(INCOME).default_refs
    for name, target in configured.refs.items():  # the shipped block: the same rules, qualified tables
        if name not in defaulted.refs:
            continue  # a target declared beyond the built-in ones (product_lines, branches)
        assert (target.columns, target.updatable) == (defaulted.refs[name].columns, defaulted.refs[name].updatable)
    assert {rule.weight for rule in defaulted.refs["plans"].columns} == {None, "固费"}
    assert refs_problems(defaulted) == []
    performance = get_config().domain("annuity_performance")
    assert domain_configured(performance) is performance  # configured refs stay as they are


def test_discovery_takes_the_same_workbooks_and_the_income_file_names(tmp_path: Path) -> None:
    domain = dataclasses.replace(get_config().domain(INCOME), base_dir=tmp_path)
    write_book(tmp_path / "26年1月规模收入数据.xlsx", [])
    write_book(tmp_path / "26年1月规模收入数据 - 副本.xlsx", [])
    assert [source.path.name for source in discover(domain).files] == ["26年1月规模收入数据.xlsx"]
    write_book(tmp_path / sample_file_name(2026, 2), [])  # the monthly workbook of both sheets, newer
    assert [source.path.name for source in discover(domain).files] == [sample_file_name(2026, 2)]


def test_a_workbook_without_the_income_sheet_is_refused_listing_its_sheets(warehouse: None, tmp_path: Path) -> None:
    path = write_book(tmp_path / sample_file_name(2026, 2), [], sheets=("规模明细", "汇总"))
    error, summary = run_failing("run_job", "--domain", INCOME, "--file", str(path), "--execute")
    assert error.returncode == 2
    message = summary["error"]["message"]
    assert "no sheet named '收入明细'" in message
    assert "'规模明细', '汇总'" in message
    assert f"domains.{INCOME}.sheet" in message
    assert AnnuityIncome.objects.count() == 0


def test_a_bad_fee_cell_is_a_row_error_and_the_warehouse_lookups_apply(warehouse: None, tmp_path: Path) -> None:
    """组织架构 gives a branch name's code; 年金计划 gives a single plan's company_id; one bad 固费
    cell leaves its row out, listed, and the others load."""
    with connection.cursor() as cursor:
        cursor.execute("""INSERT INTO "mapping"."组织架构" ("机构", "机构代码") VALUES ('新疆', 'G33')""")
    AnnuityPlan.objects.create(年金计划号="XNP77", company_id="700000077")
    rows = [
        [202602, "企年受托", "单一计划", "XNP77", "丁公司企业年金计划", "F9003", None, "1,200.5", "G99", "新疆"],
        [202602, "企年投资", "单一计划", "XNP77", "丁公司企业年金计划", None, "0", "待核实", "G99", "新疆"],
        [202602, "团养", "集合计划", "1P0290", "集合计划甲", "QH01", "乙公司", None, "null", "火星"],
    ]
    path = write_book(tmp_path / sample_file_name(2026, 2), rows)
    summary = run("run_job", "--domain", INCOME, "--file", str(path), "--execute")
    assert summary["status"] == "succeeded"
    (error,) = summary["row_errors"]["items"]
    assert (error["sheet"], error["row"], error["column"], error["value"]) == ("收入明细", 3, "固费", "待核实")
    stored = {row["业务类型"]: row for row in AnnuityIncome.objects.values()}
    assert set(stored) == {"企年受托", "团养"}
    single, collective = stored["企年受托"], stored["团养"]
    assert (single["机构代码"], single["company_id"], single["客户名称"]) == ("G33", "700000077", "丁公司")
    assert (single["组合代码"], single["固费"], single["税"]) == ("9003", Decimal("1200.5000"), Decimal(0))
    assert (collective["计划代码"], collective["机构代码"], collective["产品线代码"]) == ("P0290", "G00", "PL208")
    assert (collective["company_id"], collective["固费"]) == (None, Decimal(0))
    record = BackfillRun.objects.get(pk=summary["audit_id"])
    assert record.domain == INCOME
    assert list(RunRowError.objects.filter(run=record).values_list("column", flat=True)) == ["固费"]


def test_the_sample_has_as_many_distinct_plans_as_asked_even_beyond_a_code_formats_span() -> None:
    """职业年金 codes are SC001…SC099: 1,000 plans ask for more of them than that."""
    spec = SampleSpec(rows=1200, plans=1000)
    assert len(existing_plan_codes(spec)) == 1000


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write_sample_workbook(folder / sample_file_name(2026, 2), SampleSpec())
    return folder


def test_the_sample_workbook_end_to_end_and_a_second_execute_changes_nothing(warehouse: None, sample_dir: Path) -> None:
    spec = SampleSpec()
    planned = run("run_job", "--domain", INCOME, "--data-dir", str(sample_dir), "--backfill-refs", "all")
    assert planned["status"] == "planned" and AnnuityIncome.objects.count() == 0
    assert by_target(planned)["plans"]["inserted"] == len(existing_plan_codes(spec))

    first = run("run_job", "--domain", INCOME, "--data-dir", str(sample_dir), "--backfill-refs", "all", "--execute")
    assert first["status"] == "succeeded"
    assert [(item["column"], item["value"]) for item in first["row_errors"]["items"]] == [("固费", BROKEN_FEE)]
    assert first["facts"]["inserted"] == spec.rows - 1 == AnnuityIncome.objects.count()
    assert sorted(AnnuityPlan.objects.values_list("年金计划号", flat=True)) == existing_plan_codes(spec)
    portfolios = set(Portfolio.objects.values_list("组合代码", flat=True))
    assert set(existing_portfolio_codes(spec)) <= portfolios and "F9003" not in portfolios
    fact_codes = set(AnnuityIncome.objects.values_list("产品线代码", "机构代码"))
    assert {code for code, _ in fact_codes} == set(_column('"mapping"."产品线"', "产品线代码"))
    assert {code for _, code in fact_codes} == set(_column('"mapping"."组织架构"', "机构代码"))
    plans_before, facts_before = table_rows(AnnuityPlan._meta.db_table), _facts()

    second = run("run_job", "--domain", INCOME, "--data-dir", str(sample_dir), "--backfill-refs", "all", "--execute")
    assert second["status"] == "succeeded"
    assert [target["inserted"] for target in second["backfill"]["targets"]] == [0, 0, 0, 0]
    assert second["facts"]["deleted"] == second["facts"]["inserted"] == spec.rows - 1
    assert (table_rows(AnnuityPlan._meta.db_table), _facts()) == (plans_before, facts_before)

    check = run("backfill_refs", "--domain", INCOME, "--data-dir", str(sample_dir), "--targets", "all", "--check")
    assert check["status"] == "planned" and check["exit_code"] == 0
    assert BackfillRun.objects.filter(domain=INCOME, status=RunStatus.SUCCEEDED).count() == 2


def test_backfill_refs_alone_for_the_income_domain(warehouse: None, sample_dir: Path) -> None:
    for target in ("plans", "portfolios"):
        done = run("backfill_refs", "--domain", INCOME, "--data-dir", str(sample_dir), "--targets", target, "--execute")
        assert done["status"] == "succeeded" and done["facts"] is None
    assert AnnuityPlan.objects.count() == len(existing_plan_codes(SampleSpec()))
    assert AnnuityIncome.objects.count() == 0
    plan = AnnuityPlan.objects.get(年金计划号="XNP596")  # a single plan of the shipped company-id overrides
    assert (plan.company_id, plan.备注) == ("601038164", "2602_新建")


def _column(table: str, column: str) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM {table}')
        return [row[0] for row in cursor.fetchall()]


def _facts() -> list[str]:
    """The fact rows without their identity id (a reload numbers them anew), as sorted text."""
    return sorted(repr(row[1:]) for row in table_rows(AnnuityIncome._meta.db_table))


def test_append_only_inserts(warehouse: None, tmp_path: Path) -> None:
    rows = [[202602, "企年受托", "集合计划", "P0101", "集合计划甲", "9078", "乙公司", 5, "G04", "江苏"]]
    path = write_book(tmp_path / sample_file_name(2026, 2), rows)
    for expected in (1, 2):
        done = run("run_job", "--domain", INCOME, "--file", str(path), "--mode", "append", "--execute")
        assert (done["facts"]["mode"], done["facts"]["deleted"], done["facts"]["inserted"]) == ("append", 0, 1)
        assert AnnuityIncome.objects.count() == expected
    replaced = run("run_job", "--domain", INCOME, "--file", str(path), "--execute")  # delete_insert, the default
    assert (replaced["facts"]["deleted"], replaced["facts"]["inserted"]) == (2, 1)
    assert AnnuityIncome.objects.count() == 1


def test_a_saved_income_plan_applies_and_its_run_reverts(warehouse: None, sample_dir: Path) -> None:
    """Saved plans and revert_run work for the second domain as for the first (issue 12 items 2, 4)."""
    plans_before = table_rows(AnnuityPlan._meta.db_table)
    planned = run("run_job", "--domain", INCOME, "--data-dir", str(sample_dir), "--backfill-refs", "all")
    assert AnnuityIncome.objects.count() == 0
    applied = run("run_job", "--apply", str(planned["audit_id"]))
    assert applied["status"] == "succeeded" and applied["domain"] == INCOME
    assert AnnuityIncome.objects.count() == planned["facts"]["inserted"] == SampleSpec().rows - 1
    reverted = run("revert_run", str(applied["audit_id"]), "--execute")
    assert reverted["status"] == "succeeded"
    assert AnnuityIncome.objects.count() == 0
    assert table_rows(AnnuityPlan._meta.db_table) == plans_before
