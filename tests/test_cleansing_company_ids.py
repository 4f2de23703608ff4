"""A single plan's rows take the company_id this run's backfill gives 年金计划 (issue 9, item 8):
two identical execute runs on unchanged input leave identical tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import connection

from domains.annuity_performance.models import FACT_COLUMNS, AnnuityPerformance
from refs.models import AnnuityPlan
from tests.conftest import warehouse_tables
from tests.test_backfill import run
from tests.workbooks import HEADER, write_workbook
from wdh.config import get_config
from wdh.identifiers import quote_ident
from wdh.tables import DEFAULT_DOMAIN

FILE_NAME = "2026年2月年金终稿数据.xlsx"
SINGLE = {"计划类型": "单一计划", "计划代码": "S0001"}
NAMED = "宣城城建城市运营管理有限公司"  # company_id_by_name: 1918884945
ROWS: list[dict[str, Any]] = [
    {**SINGLE, "组合代码": "1", "客户名称": "某未登记公司"},  # no source of its own: missing
    {**SINGLE, "组合代码": "2", "客户名称": NAMED},  # the plan's company_id comes from this row
    {**SINGLE, "组合代码": "3", "客户名称": "保留账户管理"},  # __EMPTY__: deliberately none, unless the plan has one
    {**SINGLE, "组合代码": "4", "客户名称": None},  # the default for an empty 客户名称
    {**SINGLE, "组合代码": "5", "客户名称": "某未登记公司", "company_id": "777"},  # its own column wins
    {"计划代码": "P0001", "组合代码": "6", "客户名称": "某未登记公司"},  # a collective plan: rule 3 is not for it
]
EXECUTE = ("--execute", "--backfill-refs", "all")


def workbook(tmp_path: Path) -> str:
    return str(write_workbook(tmp_path / FILE_NAME, ROWS, header=(*HEADER, "company_id")))


def table_contents() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every warehouse table, sorted; the facts without their identity column,
    which a delete_insert rerun renumbers."""
    facts = get_config().domain(DEFAULT_DOMAIN).facts.qualified
    contents = {}
    with connection.cursor() as cursor:
        for table in warehouse_tables():
            columns = ", ".join(map(quote_ident, FACT_COLUMNS)) if table == facts else "*"
            cursor.execute(f"SELECT {columns} FROM {table}")
            contents[table] = sorted(cursor.fetchall(), key=repr)
    return contents


def company_ids() -> dict[str | None, str | None]:
    return dict(AnnuityPerformance.objects.values_list("组合代码", "company_id"))


def test_two_identical_execute_runs_leave_identical_tables(warehouse: None, tmp_path: Path) -> None:
    path = workbook(tmp_path)
    planned = run("run_job", "--file", path, "--backfill-refs", "all")
    first = run("run_job", "--file", path, *EXECUTE)
    after_first = table_contents()
    second = run("run_job", "--file", path, *EXECUTE)
    assert table_contents() == after_first
    assert AnnuityPlan.objects.get(pk="S0001").company_id == "1918884945"
    assert company_ids() == {"1": "1918884945", "2": "1918884945", "3": "1918884945", "4": "1918884945",
                             "5": "777", "6": None}  # fmt: skip
    assert planned["rows"]["company_id_missing"] == first["rows"]["company_id_missing"] == 1  # only P0001's row
    assert second["rows"]["company_id_missing"] == 1
    assert "1 row(s) have no company_id (left empty, never invented)" in first["warnings"]


def test_a_plan_the_run_does_not_backfill_gives_nothing_new(warehouse: None, tmp_path: Path) -> None:
    path = workbook(tmp_path)
    run("run_job", "--file", path, "--execute", "--backfill-refs", "portfolios")  # 年金计划 is not written
    assert not AnnuityPlan.objects.exists()
    assert company_ids()["1"] is None and company_ids()["4"] == "600866980"
    after_first = table_contents()
    run("run_job", "--file", path, "--execute", "--backfill-refs", "portfolios")
    assert table_contents() == after_first


def test_fill_null_only_gives_the_filled_company_id(warehouse: None, tmp_path: Path) -> None:
    AnnuityPlan.objects.create(pk="S0001")  # present, company_id NULL
    path = workbook(tmp_path)
    run("run_job", "--file", path, "--execute", "--backfill-refs", "all", "--backfill-mode", "fill_null_only")
    assert AnnuityPlan.objects.get(pk="S0001").company_id == "1918884945"
    assert company_ids()["1"] == "1918884945"
    after_first = table_contents()
    run("run_job", "--file", path, "--execute", "--backfill-refs", "all", "--backfill-mode", "fill_null_only")
    assert table_contents() == after_first
