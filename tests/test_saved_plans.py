"""Saved plans (issue 12 item 2): a plan-only run keeps its plan; ``--apply RUN_ID`` writes
exactly it, or refuses with exit 2 and writes nothing when anything drifted since."""

from __future__ import annotations

import dataclasses
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from domains.annuity_performance.models import FACT_COLUMNS, AnnuityPerformance
from refs.models import AnnuityPlan, BackfillRun, RunPlan, RunStatus, target_models
from refs.saved_plans import plan_decode, plan_encode
from tests.processes import session
from tests.test_backfill import ROWS, run, run_failing, table_rows
from tests.workbooks import write_workbook

FILE_NAME = "【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx"


FACTS = AnnuityPerformance._meta.db_table


def tables() -> dict[str, list[tuple[Any, ...]]]:
    """Every declared reference table's rows and the fact rows."""
    names = [model._meta.db_table for model in target_models().values()]
    return {name: table_rows(name) for name in names} | {
        "facts": sorted(AnnuityPerformance.objects.values_list(*FACT_COLUMNS))
    }  # identity ids aside


def plan_only(path: Path, *extra: str) -> int:
    summary = run("run_job", "--file", str(path), "--backfill-refs", "all", *extra)
    assert summary["status"] == "planned"
    return int(summary["audit_id"])


def test_apply_writes_exactly_what_an_execute_run_writes(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    executed = run("run_job", "--file", str(path), "--backfill-refs", "all", "--execute")
    by_execute = tables()
    with connection.cursor() as cursor:  # the same starting state again: empty tables
        cursor.execute("TRUNCATE " + ", ".join([*(model._meta.db_table for model in target_models().values()), FACTS]))
    planned = plan_only(path)
    assert tables()[AnnuityPlan._meta.db_table] == []  # planning wrote nothing
    applied = run("run_job", "--apply", str(planned))
    assert applied["status"] == "succeeded"
    assert tables() == by_execute
    assert [t["inserted"] for t in applied["backfill"]["targets"]] == [
        t["inserted"] for t in executed["backfill"]["targets"]
    ]
    assert applied["applies"] == planned
    record = BackfillRun.objects.get(pk=applied["audit_id"])
    assert record.applies_id == planned and record.status == RunStatus.SUCCEEDED
    out = StringIO()
    call_command("show_run", str(record.pk), stdout=out)
    assert f"applies the plan of run {planned}" in out.getvalue()
    saved = plan_decode(bytes(RunPlan.objects.get(run_id=planned).data))
    assert {t.target: set(t.insert_keys()) for t in saved.targets} == {
        name: set(model._default_manager.values_list("pk", flat=True)) for name, model in target_models().items()
    }


def test_backfill_refs_apply_and_applying_twice_is_refused(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    planned = run("backfill_refs", "--file", str(path))["audit_id"]
    applied = run("backfill_refs", "--apply", str(planned))
    assert applied["status"] == "succeeded" and AnnuityPlan.objects.count() == 3
    before = tables()
    error, _ = run_failing_plain("backfill_refs", "--apply", str(planned))
    assert error.returncode == 2 and f"already applied by run {applied['audit_id']}" in str(error)
    assert tables() == before


def test_applying_a_run_that_is_not_a_plan_is_refused(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    executed = run("backfill_refs", "--file", str(path), "--execute")["audit_id"]
    error, _ = run_failing_plain("backfill_refs", "--apply", str(executed))
    assert error.returncode == 2 and "only a plan-only run that ended planned" in str(error)
    planned = run("backfill_refs", "--file", str(path))["audit_id"]
    error, _ = run_failing_plain("run_job", "--apply", str(planned))
    assert error.returncode == 2 and "apply it with manage.py backfill_refs" in str(error)


def run_failing_plain(command: str, *args: str) -> tuple[CommandError, str]:
    """A refusal made before any run starts prints no summary: only the error."""
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(command, *args, stdout=out, stderr=StringIO())
    return caught.value, out.getvalue()


def refused(planned: int) -> str:
    before = tables()
    error, summary = run_failing("run_job", "--apply", str(planned))
    assert error.returncode == 2 and summary["status"] == "failed"
    assert tables() == before  # nothing written
    record = BackfillRun.objects.get(pk=summary["audit_id"])
    assert record.applies_id == planned and record.status == RunStatus.FAILED
    assert f"the plan of run {planned} no longer holds; nothing was written" in str(error)
    return str(error)


def test_a_file_changed_after_planning_is_refused(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    planned = plan_only(path)
    write_workbook(path, ROWS[:2])
    assert f"{path}: SHA-256" in refused(planned)


def test_a_plan_saved_by_an_earlier_version_is_refused_with_why(warehouse: None, tmp_path: Path) -> None:
    """Format 1 digested the fact rows in Python; format 2 from the staging table: an old plan's
    digest never matches, and the refusal says why instead of blaming the facts."""
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    planned = plan_only(path)
    saved = RunPlan.objects.get(run_id=planned)
    saved.data = plan_encode(dataclasses.replace(plan_decode(bytes(saved.data)), format=1))
    saved.save(update_fields=["data"])
    assert "saved by an earlier version of wdh (saved-plan format 1, now 2)" in refused(planned)


def test_a_changed_configuration_is_refused(warehouse: None, use_config: Any, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    use_config(lambda domain: None)
    planned = plan_only(path)

    def edit(domain: dict[str, Any]) -> None:
        domain["refs"]["plans"]["columns"]["备注"]["template"] = "{月度:%y%m}_补录"

    use_config(edit)
    assert "the configuration changed" in refused(planned)


def test_a_planned_key_inserted_meanwhile_is_refused(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    planned = plan_only(path)
    other = session(autocommit=True)  # another session, committing on its own
    with other.cursor() as cursor:
        cursor.execute(f"INSERT INTO {AnnuityPlan._meta.db_table} (年金计划号, 计划全称) VALUES ('P0002', '别处')")
    other.close()
    assert "plans: planned key(s) no longer absent (inserted meanwhile): P0002" in refused(planned)


def test_a_planned_cell_filled_meanwhile_is_refused(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    AnnuityPlan.objects.create(年金计划号="P0001", 计划全称=None)
    planned = run("backfill_refs", "--file", str(path), "--mode", "fill_null_only", "--targets", "plans")["audit_id"]
    other = session(autocommit=True)
    with other.cursor() as cursor:
        cursor.execute(f"UPDATE {AnnuityPlan._meta.db_table} SET 计划全称 = '手工填写' WHERE 年金计划号 = 'P0001'")
    other.close()
    before = tables()
    error, summary = run_failing("backfill_refs", "--apply", str(planned))
    assert error.returncode == 2 and summary["status"] == "failed"
    assert "no longer NULL (filled meanwhile): P0001.计划全称" in str(error)
    assert tables() == before


def test_a_fact_scope_whose_row_count_changed_is_refused(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    planned = plan_only(path)
    other = write_workbook(tmp_path / "other" / FILE_NAME, ROWS[:1])
    run("run_job", "--file", str(other), "--execute")  # the same month's scope now holds a row
    assert "holds 1 row(s) now, 0 when planned" in refused(planned)


def test_a_plan_is_stored_compactly(warehouse: None, tmp_path: Path) -> None:
    rows = [{"计划代码": f"P{n:05d}", "计划名称": f"计划{n}", "组合代码": f"{9000 + n}"} for n in range(2000)]
    path = write_workbook(tmp_path / FILE_NAME, rows)
    planned = plan_only(path)
    saved = RunPlan.objects.get(run_id=planned)
    decoded = plan_decode(bytes(saved.data))
    assert sum(len(t.inserts) for t in decoded.targets) == 4000 + 2  # and a product line, a branch
    assert len(bytes(saved.data)) < path.stat().st_size / 2


def test_fact_rows_that_read_differently_now_are_refused(warehouse: None, tmp_path: Path) -> None:
    """Same files, same configuration, but a lookup table changed: the rows would differ."""
    path = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "P0777", "计划类型": "单一计划", "客户名称": "无名公司"}])
    planned = int(run("run_job", "--file", str(path))["audit_id"])
    AnnuityPlan.objects.create(年金计划号="P0777", company_id="123456789")
    assert "the fact rows read now differ from the planned ones" in refused(planned)


def test_plan_only_text_says_how_to_apply_the_saved_plan(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    out = StringIO()
    call_command("backfill_refs", "--file", str(path), stdout=out, stderr=StringIO())
    run_id = BackfillRun.objects.latest("pk").pk
    assert f"plan saved: write exactly it with manage.py backfill_refs --apply {run_id}" in out.getvalue()
    assert RunPlan.objects.filter(run_id=run_id).exists()


def test_apply_of_a_fill_plan_fills_exactly_the_planned_cells(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    AnnuityPlan.objects.create(年金计划号="P0001", 计划全称=None, 备注="保留")
    planned = run("backfill_refs", "--file", str(path), "--mode", "fill_null_only", "--targets", "plans")["audit_id"]
    saved = plan_decode(bytes(RunPlan.objects.get(run_id=planned).data))
    applied = run("backfill_refs", "--apply", str(planned), "--verbosity", "2")
    row = AnnuityPlan.objects.get(pk="P0001")
    assert {(key, column, value) for key, column, value in saved.targets[0].fills} == {
        ("P0001", cell["column"], cell["value"]) for cell in applied["backfill"]["targets"][0]["cells"]
    }
    assert ("P0001", "计划全称", "甲计划") in saved.targets[0].fills and row.计划全称 == "甲计划"
    assert row.备注 == "保留" and AnnuityPlan.objects.count() == 1  # never inserted, never overwritten
