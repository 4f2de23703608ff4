"""``revert_run`` on real PostgreSQL (issue 12 item 4): a reverted run leaves every warehouse
table byte-identical to before it (the fact rows its delete_insert deleted included); what
changed since is kept and listed, and the revert is refused (exit 2, nothing written) unless
``--partial``; plan-only lists the same actions and writes nothing."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from facts.sample import write_sample_workbook
from facts.sample_spec import SampleSpec
from refs.models import BackfillRun, FactArchive, RunStatus
from tests.conftest import warehouse_tables
from tests.processes import session
from tests.test_backfill import run, run_failing
from tests.workbooks import write_workbook
from wdh.postgres import BACKFILL_LOCK_KEY

PLANS = '"mapping"."年金计划"'
FACTS = '"business"."规模明细"'


def checksums() -> dict[str, str]:
    """md5 of every warehouse table's rows as text, in order: equal means byte-identical contents."""
    sums = {}
    with connection.cursor() as cursor:
        for table in warehouse_tables():
            cursor.execute(f"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t")
            sums[table] = cursor.fetchone()[0]
    return sums


def count(table: str, where: str = "true", params: tuple[Any, ...] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {where}", params)
        return int(cursor.fetchone()[0])


def sample(tmp_path: Path, name: str, seed: int) -> Path:
    spec = SampleSpec(rows=200, seed=seed, trailing_blank_rows=0)
    return write_sample_workbook(tmp_path / name / "2026年2月年金终稿数据.xlsx", spec)


def job(path: Path, *extra: str) -> int:
    summary = run("run_job", "--file", str(path), "--execute", "--backfill-refs", "all", *extra)
    assert summary["status"] == "succeeded", summary
    return int(summary["audit_id"])


def refused(*args: str) -> dict[str, Any]:
    error, summary = run_failing("revert_run", *args)
    assert error.returncode == 2, error
    return summary


def kept(summary: dict[str, Any]) -> list[str]:
    return [entry["what"] for entry in summary["kept"]]


def test_reverting_the_demo_run_restores_every_table_byte_for_byte(warehouse: None, tmp_path: Path) -> None:
    before = checksums()
    run_id = job(sample(tmp_path, "a", 1))
    assert checksums() != before and count(FACTS) > 0 and count(PLANS) > 0

    summary = run("revert_run", str(run_id), "--execute")

    assert summary["status"] == "succeeded" and summary["kept"] == []
    assert checksums() == before
    revert = BackfillRun.objects.get(pk=summary["audit_id"])
    assert revert.command == "revert_run" and revert.reverted_run_id == run_id
    assert list(BackfillRun.objects.get(pk=run_id).reverts.values_list("pk", flat=True)) == [revert.pk]
    out = StringIO()
    call_command("show_run", str(run_id), stdout=out)
    assert f"reverted by run {revert.pk}" in out.getvalue()
    out = StringIO()
    call_command("show_run", str(revert.pk), stdout=out)
    assert f"reverts run {run_id}" in out.getvalue()
    assert refused(str(run_id), "--execute")["error"].endswith(f"already reverted by run {revert.pk}")


def test_reverting_a_delete_insert_run_puts_the_rows_it_deleted_back(warehouse: None, tmp_path: Path) -> None:
    job(sample(tmp_path, "first", 1))
    after_first = checksums()
    deleted = count(FACTS)
    second = job(sample(tmp_path, "second", 2))  # the same month: deletes the first run's rows
    archived = FactArchive.objects.filter(run_id=second, kind="deleted").values_list("fact_ids", flat=True)
    assert sum(len(ids or []) for ids in archived) == deleted > 0
    assert checksums()[FACTS] != after_first[FACTS]

    summary = run("revert_run", str(second), "--execute")

    assert summary["facts_restored"] == deleted
    assert checksums() == after_first


def test_the_last_two_runs_reverted_last_first_leave_the_warehouse_as_before_both(
    warehouse: None, tmp_path: Path
) -> None:
    before = checksums()
    first = job(sample(tmp_path, "first", 1))
    second = job(sample(tmp_path, "second", 2))  # deletes the first's rows; its revert puts them back

    run("revert_run", str(second), "--execute")
    run("revert_run", str(first), "--execute")

    assert checksums() == before


def test_plan_only_is_the_default_writes_nothing_and_lists_the_actions_execute_takes(
    warehouse: None, tmp_path: Path
) -> None:
    job(sample(tmp_path, "first", 1))
    second = job(sample(tmp_path, "second", 2))
    before, records = checksums(), BackfillRun.objects.count()

    planned = run("revert_run", str(second), "--verbosity", "2")
    explicit = run("revert_run", str(second), "--plan-only", "--verbosity", "2")

    assert checksums() == before
    assert planned["status"] == explicit["status"] == "planned" and planned["mode"] == "plan_only"
    assert BackfillRun.objects.count() == records + 2  # each plan is an audit record, linked to the run
    done = run("revert_run", str(second), "--execute", "--verbosity", "2")
    actions = ("keys_deleted", "cells_cleared", "facts_deleted", "facts_restored", "statements")
    assert {a: planned[a] for a in actions} == {a: done[a] for a in actions}
    assert planned["keys_deleted_count"] > 0 and planned["facts_deleted"] > 0 and planned["facts_restored"] > 0


# The guards, on small workbooks: P0001 (portfolio 1) and P0002 (portfolio 2) in February.
FEBRUARY = [{"计划代码": "P0001", "组合代码": "1"}, {"计划代码": "P0002", "组合代码": "2"}]


def small(tmp_path: Path, rows: list[dict[str, Any]], name: str = "feb") -> Path:
    return write_workbook(tmp_path / name / "2026年2月年金终稿数据.xlsx", rows)


def test_a_key_other_facts_still_reference_is_kept_and_listed(warehouse: None, tmp_path: Path) -> None:
    first = job(small(tmp_path, FEBRUARY))
    job(small(tmp_path, [{"计划代码": "P0001", "组合代码": "1", "月度": 202603}], "mar"))  # March: P0001 again
    before = checksums()

    summary = refused(str(first), "--execute")

    # March's rows (业务类型 企年受托, 北京分公司) reference February's product line and branch too
    assert sorted(kept(summary)) == ["branches G01", "plans P0001", "portfolios 1", "product_lines PL202"]
    assert "still referenced by 1 fact row(s)" in summary["kept"][0]["reason"]
    assert "plans P0001" in summary["error"] and "--partial" in summary["error"]
    assert checksums() == before
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.FAILED

    done = run("revert_run", str(first), "--execute", "--partial")

    assert sorted(kept(done)) == ["branches G01", "plans P0001", "portfolios 1", "product_lines PL202"]
    assert sorted(done["keys_deleted"]) == ["plans:P0002", "portfolios:2"]
    assert count(PLANS, '"年金计划号" = %s', ("P0001",)) == 1 and count(PLANS, '"年金计划号" = %s', ("P0002",)) == 0
    assert count(FACTS, "\"月度\" = '2026-02-01'") == 0 and count(FACTS, "\"月度\" = '2026-03-01'") == 1


def test_an_inserted_row_edited_since_is_kept_and_listed(warehouse: None, tmp_path: Path) -> None:
    first = job(small(tmp_path, FEBRUARY), "--skip-facts")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {PLANS} SET \"计划简称\" = 'edited' WHERE \"年金计划号\" = 'P0002'")
    before = checksums()

    summary = refused(str(first), "--execute")

    assert kept(summary) == ["plans P0002"] and summary["kept"][0]["reason"] == "edited since"
    assert checksums() == before
    run("revert_run", str(first), "--execute", "--partial")
    assert count(PLANS) == 1 and count(PLANS, "\"计划简称\" = 'edited'") == 1


def test_a_filled_cell_holding_another_value_now_is_kept_and_the_others_are_re_nulled(
    warehouse: None, tmp_path: Path
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'INSERT INTO {PLANS} ("年金计划号") VALUES (%s), (%s)', ["P0001", "P0002"])
    before_fill = checksums()
    path = small(tmp_path, FEBRUARY)
    summary = run("backfill_refs", "--file", str(path), "--targets", "plans", "--mode", "fill_null_only", "--execute")
    fill = int(summary["audit_id"])
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {PLANS} SET \"计划类型\" = 'by hand' WHERE \"年金计划号\" = 'P0002'")
    before = checksums()

    summary = refused(str(fill), "--execute")

    assert kept(summary) == ["plans P0002.计划类型"] and "now holds 'by hand'" in summary["kept"][0]["reason"]
    assert checksums() == before
    run("revert_run", str(fill), "--execute", "--partial")
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE {PLANS} SET "计划类型" = NULL WHERE "年金计划号" = %s', ["P0002"])
    assert checksums() == before_fill  # every other filled cell is NULL again


def test_keys_and_scopes_a_later_run_touched_are_kept_and_listed(warehouse: None, tmp_path: Path) -> None:
    path = small(tmp_path, FEBRUARY)
    first = job(path)
    with connection.cursor() as cursor:
        cursor.execute(f'UPDATE {PLANS} SET "计划类型" = NULL WHERE "年金计划号" = \'P0002\'')
    later = run("run_job", "--file", str(path), "--execute", "--mode", "append",
                "--backfill-refs", "plans", "--backfill-mode", "fill_null_only")  # fmt: skip
    before = checksums()

    summary = refused(str(first), "--execute")

    reasons = {entry["what"]: entry["reason"] for entry in summary["kept"]}
    assert reasons["plans P0002"] == f"touched by later run(s) {later['audit_id']}"
    assert any(what.startswith(f"facts {FACTS} scope") for what in reasons)
    assert all(f"later run(s) {later['audit_id']}" in reason for what, reason in reasons.items() if "scope" in what)
    assert checksums() == before


def test_a_fact_load_without_an_archive_is_kept_not_guessed(warehouse: None, tmp_path: Path) -> None:
    first = job(small(tmp_path, FEBRUARY))
    FactArchive.objects.filter(run_id=first).delete()  # as a run from before the archive existed
    before = checksums()

    summary = refused(str(first), "--execute")

    assert kept(summary)[0] == "the run's fact load" and "cannot be taken back" in summary["kept"][0]["reason"]
    assert sorted(kept(summary)[1:]) == [
        "branches G01", "plans P0001", "plans P0002", "portfolios 1", "portfolios 2", "product_lines PL202",
    ]  # fmt: skip
    assert checksums() == before


def test_a_revert_while_another_run_holds_the_lock_exits_3(warehouse: None, tmp_path: Path) -> None:
    first = job(small(tmp_path, FEBRUARY))
    before = checksums()
    other = session(autocommit=True)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [BACKFILL_LOCK_KEY])
        error, summary = run_failing("revert_run", str(first), "--execute")
    finally:
        other.close()
    assert error.returncode == 3 and summary["status"] == "refused_locked"
    assert checksums() == before


@pytest.mark.slow
def test_revert_run_as_a_child_process(warehouse: None, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    before = checksums()
    first = job(small(tmp_path, FEBRUARY))
    env = {**subprocess_env, "WDH_MAPPINGS_DIR": str(Path(settings.BASE_DIR) / "wdh" / "mappings")}
    planned = subprocess.run(
        [sys.executable, "manage.py", "revert_run", str(first)],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert (
        "would delete 6 reference key(s): plans:P0001, plans:P0002, portfolios:1, portfolios:2, "
        "product_lines:PL202, branches:G01" in planned.stdout
    )
    assert "would delete 2 fact row(s) the run inserted, would restore 0 it deleted" in planned.stdout
    done = subprocess.run(
        [sys.executable, "manage.py", "revert_run", str(first), "--execute"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"revert of run {first}: succeeded" in done.stdout
    assert checksums() == before
