"""Reference backfill on real PostgreSQL: exact counts, plan-only = execute, idempotence,
fill_null_only, quoting of hostile names, missing unique index, failed runs (issue 3)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection

from jobs.warehouse import warehouse_apply, warehouse_ddl
from refs.checks import refs_problems
from refs.models import BackfillRun, RunCell, RunKey, RunStatus, RunTarget
from tests.workbooks import write_workbook
from wdh.identifiers import quote_ident
from wdh.postgres import read_only_transaction

ROWS: list[dict[str, Any]] = [
    # plan P0001 (two portfolios, one branch dominating by assets), plan P0002, plan XNP596 (company override)
    {"计划代码": "P0001", "计划名称": "甲计划", "组合代码": 9078, "组合名称": "甲组合", "组合类型": "固收",
     "客户名称": "甲公司", "机构": "北京分公司", "机构代码": "G01", "期末资产规模": 500.0},
    {"计划代码": "P0001", "计划名称": "甲计划", "组合代码": "F9003", "组合名称": "甲组合二", "组合类型": "权益",
     "客户名称": "甲公司", "机构": "上海分公司", "机构代码": "G02", "期末资产规模": 900.0, "业务类型": "企年投资"},
    {"计划代码": "P0002", "计划名称": "乙计划", "组合代码": None, "计划类型": "单一计划",
     "客户名称": "乙公司", "期末资产规模": 10.0},
    {"计划代码": "XNP596", "计划名称": "丙计划", "组合代码": "9100", "组合名称": "丙组合",
     "客户名称": "丙公司", "期末资产规模": 20.0},
]  # fmt: skip


def run(command: str, *args: str) -> dict[str, Any]:
    """Call a job command with --format json and return its parsed summary (raises CommandError)."""
    out = StringIO()
    call_command(command, *args, "--format", "json", stdout=out, stderr=StringIO())
    summary: dict[str, Any] = json.loads(out.getvalue())
    return summary


def run_failing(command: str, *args: str) -> tuple[CommandError, dict[str, Any]]:
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(command, *args, "--format", "json", stdout=out, stderr=StringIO())
    return caught.value, json.loads(out.getvalue())


def table_rows(qualified: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {qualified} ORDER BY 1")
        return list(cursor.fetchall())


def by_target(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["target"]: entry for entry in summary["backfill"]["targets"]}


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "data" / "2026年2月年金终稿数据.xlsx", ROWS)


HOSTILE_SCHEMA = 'ref "数据" ; select'
HOSTILE_TABLE = "年金 计划"


@pytest.fixture
def hostile_domain(use_config: Any, warehouse: None) -> Any:
    """Reference tables in a schema and under names needing every kind of quoting."""

    def edit(domain: dict[str, Any]) -> None:
        domain["refs"]["plans"]["schema"] = HOSTILE_SCHEMA
        domain["refs"]["plans"]["table"] = HOSTILE_TABLE
        domain["refs"]["portfolios"]["schema"] = HOSTILE_SCHEMA
        domain["refs"]["portfolios"]["table"] = '组合"计划'

    domain = use_config(edit)
    warehouse_apply(warehouse_ddl(domain))
    yield domain
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote_ident(HOSTILE_SCHEMA)} CASCADE")


def test_insert_missing_exact_and_idempotent_in_hostile_schema(hostile_domain: Any, workbook: Path) -> None:
    plans_table = hostile_domain.refs["plans"].qualified_name
    portfolios_table = hostile_domain.refs["portfolios"].qualified_name
    assert plans_table == '"ref ""数据"" ; select"."年金 计划"'
    with connection.cursor() as cursor:  # one plan exists already and must not be touched
        cursor.execute(f'INSERT INTO {plans_table} ("年金计划号", "计划全称") VALUES (%s, %s)', ["P0002", "手工"])

    plan = run("backfill_refs", "--file", str(workbook), "--verbosity", "2")
    assert table_rows(plans_table) == [("P0002", None, "手工", *[None] * 8, 0, None)]
    assert plan["status"] == "planned"
    executed = run("backfill_refs", "--file", str(workbook), "--execute", "--verbosity", "2")

    for name in ("plans", "portfolios"):  # plan-only predicted exactly what execute did
        predicted, done = by_target(plan)[name], by_target(executed)[name]
        assert (predicted["inserted"], predicted["already_present"], predicted["keys"]) == (
            done["inserted"], done["already_present"], done["keys"],
        )  # fmt: skip
    assert by_target(executed)["plans"]["keys"] == ["P0001", "XNP596"]
    assert by_target(executed)["plans"]["already_present"] == 1
    assert sorted(by_target(executed)["portfolios"]["keys"]) == ["9003", "9078", "9100", "QTAN002"]

    rows = {row[0]: row for row in table_rows(plans_table)}
    assert rows["P0002"][2] == "手工"  # existing row untouched
    p0001 = dict(zip([f.column for f in _plan_fields()], rows["P0001"], strict=True))
    assert p0001["计划全称"] == "甲计划"
    assert p0001["主拓代码"] == "G02"  # max_by 期末资产规模: the 900.0 row
    assert p0001["主拓机构"] == "上海分公司"
    assert p0001["管理资格"] == "企年受托+企年投资"  # sorted, joined by +
    assert p0001["备注"] == "2602_新建"
    assert rows["XNP596"][6] == "601038164"  # company_id from the shipped plan override
    portfolios = {row[0]: row for row in table_rows(portfolios_table)}
    assert portfolios["9003"][1] == "P0001" and portfolios["QTAN002"][1] == "P0002"

    before = (table_rows(plans_table), table_rows(portfolios_table))
    again = run("backfill_refs", "--file", str(workbook), "--execute")
    assert [t["inserted"] for t in again["backfill"]["targets"]] == [0, 0, 0, 0]
    assert (table_rows(plans_table), table_rows(portfolios_table)) == before

    record = BackfillRun.objects.get(pk=executed["audit_id"])
    assert record.status == RunStatus.SUCCEEDED and record.inserted_total == 2 + 4 + 2 + 2  # + product lines, branches
    assert set(RunKey.objects.filter(run=record).values_list("key", flat=True)) == {
        "P0001", "XNP596", "9003", "9078", "9100", "QTAN002", "PL201", "PL202", "G01", "G02",
    }  # fmt: skip
    assert record.files.get().sha256 == executed["files"][0]["sha256"]


def _plan_fields() -> list[Any]:
    from refs.models import AnnuityPlan

    return list(AnnuityPlan._meta.concrete_fields)


def test_fill_null_only_fills_only_null_cells_and_counts_them(warehouse: None, workbook: Path) -> None:
    from refs.models import AnnuityPlan, Portfolio

    AnnuityPlan.objects.create(年金计划号="P0001", 计划全称="手工名", 客户名称=None, 主拓代码=None)
    AnnuityPlan.objects.create(年金计划号="P0002", 计划全称=None, 计划类型="单一计划", 备注="保留")
    Portfolio.objects.create(组合代码="9078", 年金计划号=None, 组合名称="已有")
    before = {p.pk: p for p in AnnuityPlan.objects.all()}

    plan = run("backfill_refs", "--file", str(workbook), "--mode", "fill_null_only", "--verbosity", "2")
    executed = run(
        "backfill_refs", "--file", str(workbook), "--mode", "fill_null_only", "--execute", "--verbosity", "2"
    )
    assert by_target(plan)["plans"]["cells"] == by_target(executed)["plans"]["cells"]
    assert by_target(plan)["plans"]["cells_filled"] == by_target(executed)["plans"]["cells_filled"]

    after = {p.pk: p for p in AnnuityPlan.objects.all()}
    assert set(after) == {"P0001", "P0002"}  # never an insert
    changed = {
        (key, field.column, getattr(after[key], field.attname))
        for key in after
        for field in AnnuityPlan._meta.concrete_fields
        if getattr(after[key], field.attname) != getattr(before[key], field.attname)
    }
    reported = {(c["key"], c["column"], c["value"]) for c in by_target(executed)["plans"]["cells"]}
    assert changed == reported  # the counts are the cells actually changed
    assert after["P0001"].计划全称 == "手工名" and after["P0002"].备注 == "保留"  # never an overwrite
    assert after["P0002"].计划全称 == "乙计划"
    assert sum(by_target(executed)["plans"]["cells_filled"].values()) == len(changed)
    assert Portfolio.objects.get(pk="9078").年金计划号 == "P0001"
    assert Portfolio.objects.get(pk="9078").组合名称 == "已有"
    assert by_target(executed)["portfolios"]["absent"] == 3  # 9003, 9100, QTAN002: not inserted
    assert not Portfolio.objects.filter(pk="9003").exists()
    cells = RunCell.objects.filter(run_id=executed["audit_id"])
    assert {(c.key, c.column, c.value) for c in cells if c.target == "plans"} == reported

    again = run("backfill_refs", "--file", str(workbook), "--mode", "fill_null_only", "--execute")
    assert all(not t["cells_filled"] for t in again["backfill"]["targets"])


def test_plan_only_runs_in_a_transaction_that_cannot_write(warehouse: None) -> None:
    with (
        pytest.raises(DatabaseError, match="read-only transaction"),
        read_only_transaction(),
        connection.cursor() as cursor,
    ):
        cursor.execute('INSERT INTO "mapping"."年金计划" ("年金计划号") VALUES (%s)', ["X1"])


def test_plan_only_writes_nothing(warehouse: None, workbook: Path) -> None:
    from refs.models import AnnuityPlan

    summary = run("run_job", "--file", str(workbook), "--backfill-refs", "all")
    assert by_target(summary)["plans"]["inserted"] == 3
    assert summary["facts"]["inserted"] == 4
    assert AnnuityPlan.objects.count() == 0
    assert table_rows('"business"."规模明细"') == []
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.PLANNED
    assert any("ON CONFLICT DO NOTHING" in s for s in summary["statements"])
    assert any('"mapping"."年金计划"' in s for s in summary["statements"])


def test_table_without_unique_index_is_refused_before_any_write(
    use_config: Any, warehouse: None, workbook: Path
) -> None:
    def edit(domain: dict[str, Any]) -> None:
        domain["refs"]["plans"]["schema"] = "无索引"

    domain = use_config(edit)
    plans = domain.refs["plans"].qualified_name
    try:
        with connection.cursor() as cursor:
            cursor.execute('CREATE SCHEMA "无索引"')
            cursor.execute(f'CREATE TABLE {plans} (LIKE "mapping"."年金计划" INCLUDING DEFAULTS)')
        error, summary = run_failing("backfill_refs", "--file", str(workbook), "--execute")
        assert error.returncode == 2
        assert f'CREATE UNIQUE INDEX ON {plans} ("年金计划号")' in str(error)
        assert table_rows(plans) == [] and table_rows('"mapping"."组合计划"') == []
        record = BackfillRun.objects.get(pk=summary["audit_id"])
        assert record.status == RunStatus.FAILED and "unique index" in record.error
    finally:
        with connection.cursor() as cursor:
            cursor.execute('DROP SCHEMA IF EXISTS "无索引" CASCADE')


def test_failed_run_leaves_warehouse_unchanged_and_audited(warehouse: None, tmp_path: Path) -> None:
    # the database rejects a value: a CHECK constraint (which the preflight does not evaluate)
    # allows 计划全称 4 characters in this warehouse
    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "mapping"."年金计划" ADD CONSTRAINT "短名" CHECK (length("计划全称") <= 4)')
    try:
        rows = [{**ROWS[0], "计划名称": "一个很长的计划名称"}, ROWS[2]]
        workbook = write_workbook(tmp_path / "2026年2月年金终稿数据.xlsx", rows)
        error, summary = run_failing("run_job", "--file", str(workbook), "--backfill-refs", "all", "--execute")
        assert error.returncode == 1
        assert "violates check constraint" in summary["error"]["message"]
        assert table_rows('"mapping"."年金计划"') == [] and table_rows('"mapping"."组合计划"') == []
        assert table_rows('"business"."规模明细"') == []
        record = BackfillRun.objects.get(pk=summary["audit_id"])
        assert record.status == RunStatus.FAILED and "violates check constraint" in record.error
        assert not RunTarget.objects.filter(run=record).exists()  # nothing claimed
    finally:
        with connection.cursor() as cursor:
            cursor.execute('ALTER TABLE "mapping"."年金计划" DROP CONSTRAINT "短名"')


def test_a_row_whose_value_would_not_fit_the_derived_column_is_a_row_error(warehouse: None, tmp_path: Path) -> None:
    rows = [{**ROWS[0], "机构": "内蒙古自治区呼和浩特分公司", "机构代码": "G99"}, ROWS[2]]
    workbook = write_workbook(tmp_path / "2026年2月年金终稿数据.xlsx", rows)
    summary = run("backfill_refs", "--file", str(workbook), "--execute")
    [error] = summary["row_errors"]["items"]
    assert (error["row"], error["column"]) == (2, "机构名称")
    assert "年金计划.主拓机构, derived from it, holds at most 10" in error["message"]
    assert "P0001" not in {row[0] for row in table_rows('"mapping"."年金计划"')}


def test_count_distinct_fills_an_integer_column_on_insert_and_on_fill(
    use_config: Any, warehouse: None, workbook: Path
) -> None:
    def edit(domain: dict[str, Any]) -> None:
        domain["refs"]["plans"]["columns"]["组合数"] = {"from": "组合代码", "agg": "count_distinct"}
        domain["refs"]["plans"]["updatable"].append("组合数")

    plans = use_config(edit).refs["plans"].qualified_name
    run("backfill_refs", "--targets", "plans", "--execute", "--file", str(workbook))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 年金计划号, 组合数 FROM {plans} ORDER BY 1")
        assert cursor.fetchall() == [("P0001", 2), ("P0002", 1), ("XNP596", 1)]  # P0002: its default QTAN002
        cursor.execute(f"UPDATE {plans} SET 组合数 = NULL WHERE 年金计划号 = 'P0001'")
    planned = by_target(run("backfill_refs", "--targets", "plans", "--mode", "fill_null_only", "--file", str(workbook)))
    summary = run(
        "backfill_refs", "--targets", "plans", "--mode", "fill_null_only", "--execute", "--file", str(workbook)
    )
    assert by_target(summary)["plans"]["cells_filled"] == planned["plans"]["cells_filled"] == {"组合数": 1}
    assert table_rows(plans)[0][10] == 2


def test_count_distinct_into_a_text_column_is_a_configuration_error(use_config: Any) -> None:
    def edit(domain: dict[str, Any]) -> None:
        domain["refs"]["plans"]["columns"]["计划全称"] = {"from": "组合代码", "agg": "count_distinct"}

    problems = refs_problems(use_config(edit))
    assert problems == [
        (
            "domains.annuity_performance.refs.plans.columns.计划全称",
            "agg count_distinct needs an integer column, and 计划全称 of 年金计划 is not one",
        )
    ]
