"""The monthly pipeline through ``run_job`` on real PostgreSQL (issue 2): cleansing rules as
they land in the fact table, bad input, idempotence, plan-only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from domains.annuity_performance.models import AnnuityPerformance
from refs.models import AnnuityPlan, BackfillRun, RunStatus
from tests.test_backfill import run, run_failing
from tests.workbooks import HEADER, write_workbook

FILE_NAME = "【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx"

# One row per rule: the raw cells (others from tests.workbooks.DEFAULTS) and what must be stored.
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("month as integer cell", {"月度": 202602}, {"月度": dt.date(2026, 2, 1)}),
    ("month as float cell", {"月度": 202611.0}, {"月度": dt.date(2026, 11, 1)}),
    ("month YYYY年M月", {"月度": "2024年11月"}, {"月度": dt.date(2024, 11, 1)}),
    ("month YY年M月", {"月度": "24年12月"}, {"月度": dt.date(2024, 12, 1)}),
    ("month YYYY-M", {"月度": "2024-10"}, {"月度": dt.date(2024, 10, 1)}),
    ("month date cell", {"月度": dt.datetime(2025, 3, 15)}, {"月度": dt.date(2025, 3, 1)}),
    ("plan code correction", {"计划代码": "1P0290"}, {"计划代码": "P0290"}),
    ("plan code upper-case", {"计划代码": "p0123"}, {"计划代码": "P0123"}),
    ("blank collective plan code", {"计划代码": None, "计划类型": "集合计划"}, {"计划代码": "AN001"}),
    ("blank single plan code", {"计划代码": "-", "计划类型": "单一计划"}, {"计划代码": "AN002"}),
    ("numeric portfolio cell", {"组合代码": 9078}, {"组合代码": "9078"}),
    ("F-prefixed portfolio", {"组合代码": "F9003"}, {"组合代码": "9003"}),
    ("Fund stays", {"组合代码": "Fund123"}, {"组合代码": "Fund123"}),
    ("default portfolio 职年", {"组合代码": None, "业务类型": "职年受托"}, {"组合代码": "QTAN003"}),
    ("default portfolio single", {"组合代码": "", "计划类型": "单一计划"}, {"组合代码": "QTAN002"}),
    ("branch override", {"机构": "内蒙", "机构代码": "G99"}, {"机构代码": "G31"}),
    ("own branch code", {"机构": "广州分公司", "机构代码": "G05"}, {"机构代码": "G05"}),
    ("head office default", {"机构": "广州分公司", "机构代码": "null"}, {"机构代码": "G00"}),
    ("product line", {"业务类型": "职年投资"}, {"产品线代码": "PL203"}),
    (
        "customer name cleaned",
        {"客户名称": "（已转出）戊公司 及下属子企业"},
        {"客户名称": "戊公司", "年金账户名": "（已转出）戊公司 及下属子企业"},
    ),
    ("glued status word stays", {"客户名称": "原平市煤业有限公司"}, {"客户名称": "原平市煤业有限公司"}),
    ("account number", {"集团企业客户号": "C263952876703840086"}, {"年金账户号": "263952876703840086"}),
    ("company by plan", {"计划代码": "FP0001"}, {"company_id": "614810477"}),
    ("company by name", {"客户名称": "宣城城建城市运营管理有限公司"}, {"company_id": "1918884945"}),
    ("company deliberately none", {"客户名称": "保留账户管理"}, {"company_id": None}),
    ("company default for empty client", {"客户名称": None}, {"company_id": "600866980"}),
    ("amount binary tail", {"期末资产规模": 31982648287.809898}, {"期末资产规模": Decimal("31982648287.8099")}),
    ("amount text with currency", {"供款": "¥1,234.56785"}, {"供款": Decimal("1234.5679")}),
    ("return rate percent text", {"当期收益率": "5.5%"}, {"当期收益率": Decimal("0.055000")}),
    ("return rate above 1", {"当期收益率": 3.2}, {"当期收益率": Decimal("0.032000")}),
]  # fmt: skip


@pytest.fixture
def loaded(warehouse: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case as one row of one workbook, loaded with run_job --execute; rows by 计划名称."""
    rows = [{"计划代码": "P0001", "计划名称": name, **cells} for name, cells, _ in CASES]
    path = write_workbook(tmp_path_factory.mktemp("data") / FILE_NAME, rows)
    summary = run("run_job", "--file", str(path), "--execute")
    assert summary["status"] == "succeeded" and summary["row_errors"]["count"] == 0
    return {str(row["计划名称"]): dict(row) for row in AnnuityPerformance.objects.values()}


@pytest.mark.parametrize(("name", "cells", "expected"), CASES, ids=[case[0] for case in CASES])
def test_cleansing_rule_lands_in_the_fact_table(
    loaded: dict[str, dict[str, Any]], name: str, cells: dict[str, Any], expected: dict[str, Any]
) -> None:
    stored = loaded[name]
    assert {column: stored[column] for column in expected} == expected


def test_realities_of_the_sample_workbook_survive(warehouse: None, tmp_path: Path) -> None:
    from facts.sample import write_sample_workbook
    from facts.sample_spec import SampleSpec

    path = write_sample_workbook(tmp_path / FILE_NAME, SampleSpec(rows=300, trailing_blank_rows=3000))
    summary = run("run_job", "--file", str(path), "--execute", "--backfill-refs", "all")
    assert summary["status"] == "succeeded"
    assert summary["rows"]["read"] == 300  # trailing formatted rows are not rows
    assert summary["facts"]["inserted"] == summary["rows"]["valid"] == AnnuityPerformance.objects.count()
    assert summary["row_errors"]["count"] <= 6
    assert not AnnuityPerformance.objects.filter(组合代码__endswith=".0").exists()
    assert AnnuityPlan.objects.count() == by_name(summary, "plans")["inserted"] > 8


def by_name(summary: dict[str, Any], target: str) -> dict[str, Any]:
    return next(t for t in summary["backfill"]["targets"] if t["target"] == target)


def test_execute_twice_leaves_the_same_fact_rows(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "P0001", "组合代码": code} for code in ("1", "2", "3")])
    other_month = write_workbook(tmp_path / "other" / FILE_NAME, [{"计划代码": "P0009", "月度": 202601}])
    run("run_job", "--file", str(other_month), "--execute")  # another scope: never deleted
    first = run("run_job", "--file", str(path), "--execute")
    rows_after_first = sorted(AnnuityPerformance.objects.values_list("计划代码", "组合代码", "月度"))
    second = run("run_job", "--file", str(path), "--execute")
    assert (first["facts"]["deleted"], first["facts"]["inserted"]) == (0, 3)
    assert (second["facts"]["deleted"], second["facts"]["inserted"]) == (3, 3)
    assert sorted(AnnuityPerformance.objects.values_list("计划代码", "组合代码", "月度")) == rows_after_first
    assert len(rows_after_first) == 4


def test_append_mode_only_inserts(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "P0001"}])
    run("run_job", "--file", str(path), "--execute", "--mode", "append")
    summary = run("run_job", "--file", str(path), "--execute", "--mode", "append")
    assert summary["facts"]["deleted"] == 0 and AnnuityPerformance.objects.count() == 2


def test_plan_only_shows_fact_counts_and_writes_nothing(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "P0001"}, {"计划代码": "P0002"}])
    run("run_job", "--file", str(path), "--execute")
    before = list(AnnuityPerformance.objects.order_by("id").values_list("id", flat=True))
    summary = run("run_job", "--file", str(path))
    assert summary["mode"] == "plan_only" and summary["status"] == "planned"
    assert (summary["facts"]["deleted"], summary["facts"]["inserted"]) == (2, 2)
    assert summary["facts"]["scopes"] == [
        {"月度": "2026-02-01", "业务类型": "企年受托", "计划类型": "集合计划", "rows": 2}
    ]
    assert any(s.startswith("-- 1 key scope(s)") and "DELETE FROM" in s for s in summary["statements"])
    assert list(AnnuityPerformance.objects.order_by("id").values_list("id", flat=True)) == before


def test_skip_facts_backfills_and_says_so(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "P0001"}])
    out = StringIO()
    call_command("run_job", "--file", str(path), "--execute", "--backfill-refs", "plans", "--skip-facts", stdout=out)
    assert "skipped (--skip-facts)" in out.getvalue()
    assert AnnuityPlan.objects.filter(pk="P0001").exists() and AnnuityPerformance.objects.count() == 0


def warehouse_snapshot() -> tuple[int, int, int]:
    with connection.cursor() as cursor:
        counts = []
        for table in ('"business"."规模明细"', '"mapping"."年金计划"', '"mapping"."组合计划"'):
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts.append(cursor.fetchone()[0])
    return counts[0], counts[1], counts[2]


@pytest.fixture
def seeded(warehouse: None, tmp_path: Path) -> tuple[int, int, int]:
    path = write_workbook(tmp_path / "seed" / FILE_NAME, [{"计划代码": "P0001", "组合代码": "1"}])
    run("run_job", "--file", str(path), "--execute", "--backfill-refs", "all")
    return warehouse_snapshot()


def _bad_input_cases(tmp: Path) -> list[tuple[str, list[str], list[str]]]:
    good = write_workbook(tmp / "good" / FILE_NAME, [{"计划代码": "P0002"}])
    no_sheet = write_workbook(tmp / "nosheet" / FILE_NAME, [{"计划代码": "P0002"}], sheet="Sheet1")
    no_column = write_workbook(
        tmp / "nocol" / FILE_NAME, [{"计划代码": "P0002"}], header=[h for h in HEADER if h != "计划类型"]
    )
    bad_month = write_workbook(tmp / "month" / FILE_NAME, [{"计划代码": "P0002", "月度": "2026年13月"}])
    bad_amount = write_workbook(tmp / "amount" / FILE_NAME, [{"计划代码": "P0002", "期末资产规模": "abc"}])
    return [
        ("missing file", ["--file", str(tmp / "absent.xlsx")], ["absent.xlsx"]),
        ("missing sheet", ["--file", str(no_sheet)], ["规模明细", "Sheet1"]),
        ("sheet index out of range", ["--file", str(good), "--sheet", "7"], [FILE_NAME]),
        ("missing column", ["--file", str(no_column)], ["计划类型", FILE_NAME]),
        ("unparsable month", ["--file", str(bad_month)], ["row 2", "月度", "2026年13月"]),
        ("non-numeric amount", ["--file", str(bad_amount)], ["row 2", "期末资产规模", "abc"]),
        ("missing data dir", ["--data-dir", str(tmp / "nowhere")], ["nowhere", "--data-dir"]),
    ]


@pytest.mark.parametrize(
    "case",
    ["missing file", "missing sheet", "sheet index out of range", "missing column", "unparsable month",
     "non-numeric amount", "missing data dir"],
)  # fmt: skip
def test_bad_input_is_a_clear_error_with_exit_code_2_and_nothing_written(
    seeded: tuple[int, int, int], tmp_path: Path, case: str
) -> None:
    args, fragments = next((a, f) for name, a, f in _bad_input_cases(tmp_path) if name == case)
    error, summary = run_failing("run_job", *args, "--execute", "--backfill-refs", "all")
    assert error.returncode == 2
    for fragment in fragments:
        assert fragment in str(error), (fragment, str(error))
    assert warehouse_snapshot() == seeded
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.FAILED


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("domains: [unclosed", ["invalid YAML", "line 1"]),
        ("domains:\n  annuity_performance:\n    colour: blue\n", ["domains.annuity_performance.colour", "unknown key"]),
    ],
)
def test_bad_configuration_names_the_problem(
    seeded: tuple[int, int, int], tmp_path: Path, settings: Any, content: str, fragments: list[str]
) -> None:
    from wdh.config import clear_config_cache

    path = tmp_path / "data_sources.yml"
    path.write_text(content, encoding="utf-8")
    settings.WDH_DATA_SOURCES = path
    clear_config_cache()
    try:
        with pytest.raises(CommandError) as caught:
            call_command("run_job", "--execute", stdout=StringIO(), stderr=StringIO())
    finally:
        clear_config_cache()
    assert caught.value.returncode == 2
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert warehouse_snapshot() == seeded


def test_missing_table_is_named_with_its_config_key(
    use_config: Any, seeded: tuple[int, int, int], tmp_path: Path
) -> None:
    def edit(domain: dict[str, Any]) -> None:
        domain["facts"]["table"] = "不存在"

    use_config(edit)
    path = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "P0002"}])
    error, _ = run_failing("run_job", "--file", str(path), "--execute", "--backfill-refs", "all")
    assert error.returncode == 2
    assert '"business"."不存在" does not exist' in str(error) and "domains.annuity_performance.facts" in str(error)
    assert warehouse_snapshot() == seeded


def test_conflicting_flags_are_a_usage_error() -> None:
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("run_job", "--plan-only", "--execute")
