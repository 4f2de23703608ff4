"""Concurrency with real processes and sessions, beyond tests/test_concurrency.py:

- two ``--execute`` runs started together: one proceeds, the other exits at once with code 3;
- a backfill while another session inserts, updates and deletes rows of the same reference
  table: no error, no duplicate key, and every count is what the run itself did;
- plan-only and execute do not block each other, and plan-only reads one snapshot: it never
  sees half of an execute run, neither an uncommitted one nor one that commits meanwhile.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from facts.loading import FactMode, facts_plan
from jobs.job_request import JobRequest
from jobs.job_run import job_run
from jobs.report import result_json
from refs.backfill import BackfillMode
from refs.models import AnnuityPlan, BackfillRun, RunKey, RunStatus
from tests.processes import (
    finish,
    lock_holder,
    run_holder,
    run_job_process,
    session,
    start_job,
    wait_until,
    waits_on_lock,
)
from tests.scenario import FACTS, FILE_NAME, PLANS, job_args
from tests.test_backfill import by_target, run
from tests.test_concurrency import in_thread
from tests.workbooks import write_workbook

pytestmark = pytest.mark.slow


def plan_rows(*keys: str, name: str = "新计划") -> list[dict[str, Any]]:
    return [{"计划代码": key, "计划名称": name, "客户名称": f"{key}客户", "组合代码": None} for key in keys]


# --- two runs at once ---------------------------------------------------------------------------


def test_two_execute_runs_started_together_one_proceeds_one_is_refused_at_once(
    seeded: dict[str, Any], job_file: Path, observer: Any, subprocess_env: dict[str, str]
) -> None:
    blocker = session()  # whichever run takes the lock first waits at its fact load, holding it
    try:
        with blocker.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {FACTS} IN SHARE MODE")
        started = time.monotonic()
        processes = [start_job(subprocess_env, *job_args(job_file)) for _ in range(2)]
        wait_until(lambda: any(p.poll() is not None for p in processes), what="one run ends")
        elapsed = time.monotonic() - started
        loser = next(p for p in processes if p.poll() is not None)
        winner = next(p for p in processes if p is not loser)
        refused = finish(loser)
        assert winner.poll() is None  # still holding the lock, waiting at its fact load
        pid = run_holder(observer, winner)
        wait_until(lambda: waits_on_lock(observer, pid), what="winner waits at its fact load")
        blocker.rollback()
        done = finish(winner)
    finally:
        blocker.close()

    assert refused.returncode == 3, refused.stderr
    assert "another wdh execute run holds the backfill lock" in refused.stderr
    assert elapsed < 20  # two interpreter start-ups included: it did not wait for the lock
    assert refused.summary["status"] == "refused_locked" and refused.summary["backfill"]["targets"] == []
    assert done.returncode == 0, done.stderr
    assert by_target(done.summary)["plans"]["keys"] == ["P0002", "P0003"]
    assert (done.summary["facts"]["deleted"], done.summary["facts"]["inserted"]) == (2, 3)
    refused_record = BackfillRun.objects.get(pk=refused.summary["audit_id"], pid=loser.pid)
    assert refused_record.status == RunStatus.REFUSED_LOCKED and "another wdh execute run" in refused_record.error
    assert BackfillRun.objects.get(pk=done.summary["audit_id"], pid=winner.pid).status == RunStatus.SUCCEEDED
    assert lock_holder(observer) is None


# --- another session writes the same reference table -------------------------------------------


def test_insert_missing_while_another_session_inserts_updates_and_deletes(
    warehouse: None, tmp_path: Path, observer: Any, subprocess_env: dict[str, str]
) -> None:
    AnnuityPlan.objects.create(年金计划号="P0001", 计划全称="旧名")
    AnnuityPlan.objects.create(年金计划号="P0002", 计划全称="将删除")
    workbook = write_workbook(tmp_path / FILE_NAME, plan_rows("P0001", "P0002", "P0003", "P0004", "P0005"))
    other = session()
    try:
        with other.cursor() as cursor:  # uncommitted while the run plans and inserts
            cursor.execute(f'INSERT INTO {PLANS} ("年金计划号", "计划全称") VALUES (%s, %s), (%s, %s)',
                           ["P0003", "别人", "P0004", "别人"])  # fmt: skip
            cursor.execute(f'UPDATE {PLANS} SET "计划全称" = %s WHERE "年金计划号" = %s', ["改名", "P0001"])
            cursor.execute(f'DELETE FROM {PLANS} WHERE "年金计划号" = %s', ["P0002"])
        process = start_job(
            subprocess_env, "backfill_refs", "--file", str(workbook), "--targets", "plans", "--execute", "-v", "2"
        )
        pid = run_holder(observer, process)
        wait_until(lambda: waits_on_lock(observer, pid), what="run's INSERT waits for the other session")
        other.commit()
        done = finish(process)
    finally:
        other.close()

    assert done.returncode == 0, done.stderr
    plans = by_target(done.summary)["plans"]
    # Planned: P0003, P0004, P0005. The other session committed P0003 and P0004 first: ours is P0005.
    assert (plans["keys"], plans["inserted"], plans["already_present"]) == (["P0005"], 1, 4)
    names = dict(AnnuityPlan.objects.values_list("年金计划号", "计划全称"))
    assert names == {"P0001": "改名", "P0003": "别人", "P0004": "别人", "P0005": "新计划"}
    assert list(RunKey.objects.filter(run_id=done.summary["audit_id"]).values_list("key", flat=True)) == ["P0005"]


def test_fill_null_only_while_another_session_updates_deletes_and_inserts(
    warehouse: None, tmp_path: Path, observer: Any, subprocess_env: dict[str, str]
) -> None:
    for key in ("P0001", "P0002", "P0003"):
        AnnuityPlan.objects.create(年金计划号=key)
    workbook = write_workbook(tmp_path / FILE_NAME, plan_rows("P0001", "P0002", "P0003", "P0004"))
    other = session()
    try:
        with other.cursor() as cursor:  # holds P0001's row lock: the run's SELECT … FOR UPDATE waits
            cursor.execute(f'UPDATE {PLANS} SET "客户名称" = %s WHERE "年金计划号" = %s', ["别人填的", "P0001"])
            cursor.execute(f'DELETE FROM {PLANS} WHERE "年金计划号" = %s', ["P0003"])
            cursor.execute(f'INSERT INTO {PLANS} ("年金计划号") VALUES (%s)', ["P0004"])
        process = start_job(
            subprocess_env, "backfill_refs", "--file", str(workbook), "--targets", "plans",
            "--mode", "fill_null_only", "--execute", "-v", "2",
        )  # fmt: skip
        pid = run_holder(observer, process)
        wait_until(lambda: waits_on_lock(observer, pid), what="run's SELECT FOR UPDATE waits")
        other.commit()
        between = {plan.pk: plan for plan in AnnuityPlan.objects.all()}  # what the run then locks
        done = finish(process)
    finally:
        other.close()

    assert done.returncode == 0, done.stderr
    after = {plan.pk: plan for plan in AnnuityPlan.objects.all()}
    assert set(after) == {"P0001", "P0002", "P0004"}  # never inserted, never revived
    changed = {
        (key, field.column, getattr(after[key], field.attname))
        for key in after
        for field in AnnuityPlan._meta.concrete_fields
        if getattr(after[key], field.attname) != getattr(between[key], field.attname)
    }
    plans = by_target(done.summary)["plans"]
    assert {(cell["key"], cell["column"], cell["value"]) for cell in plans["cells"]} == changed
    assert sum(plans["cells_filled"].values()) == len(changed) and plans["rows_changed"] == 2
    assert after["P0001"].客户名称 == "别人填的"  # set meanwhile: never overwritten
    assert ("P0001", "计划全称", "新计划") in changed and ("P0002", "客户名称", "P0002客户") in changed


RUNS = 6


def test_insert_missing_counts_stay_exact_under_random_concurrent_writes(warehouse: None, tmp_path: Path) -> None:
    """A writer inserts, updates and deletes random keys of the run's candidates in a loop while
    backfills run. Each run's reported keys must be exactly the rows it wrote: those still
    carrying its name, plus those the writer deleted after the run committed."""
    keys = [f"K{index:02d}" for index in range(40)]
    deleted: list[tuple[str, str]] = []  # (key, 计划全称) of every row the writer deleted
    gate, stop = threading.Lock(), threading.Event()  # the test holds the gate while it counts
    failures: list[BaseException] = []

    def write(cursor: Any, key: str, op: float) -> None:
        if op < 0.4:
            cursor.execute(
                f'INSERT INTO {PLANS} ("年金计划号", "计划全称") VALUES (%s, %s) ON CONFLICT DO NOTHING',
                [key, "writer"],
            )
        elif op < 0.7:
            cursor.execute(f'UPDATE {PLANS} SET "客户名称" = %s WHERE "年金计划号" = %s', ["改", key])
        else:
            cursor.execute(f'DELETE FROM {PLANS} WHERE "年金计划号" = %s RETURNING "年金计划号", "计划全称"', [key])
            deleted.extend(cursor.fetchall())

    def writer() -> None:
        rng = random.Random(20260201)
        other = session(autocommit=True)
        try:
            while not stop.is_set():
                with gate, other.cursor() as cursor:
                    write(cursor, rng.choice(keys), rng.random())
                time.sleep(0.001)  # lets the test take the gate
        except BaseException as exc:  # reported to the test thread
            failures.append(exc)
        finally:
            other.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for index in range(RUNS):
            label = f"run{index}"
            workbook = write_workbook(tmp_path / label / FILE_NAME, plan_rows(*keys, name=label))
            # One key per statement: the writer gets between the plan and each insert.
            args = ("--file", str(workbook), "--targets", "plans", "--execute", "--chunk-size", "1", "-v", "2")
            summary = run("backfill_refs", *args)
            time.sleep(0.05)  # the writer deletes some of what the run committed
            with gate:
                plans = by_target(summary)["plans"]
                assert summary["status"] == "succeeded" and plans["inserted"] == len(plans["keys"])
                surviving = set(AnnuityPlan.objects.filter(计划全称=label).values_list("pk", flat=True))
                removed = {key for key, name in deleted if name == label}
                assert set(plans["keys"]) == surviving | removed and not surviving & removed
                assert plans["already_present"] == len(keys) - plans["inserted"]
    finally:
        stop.set()
        thread.join(10)
    assert not failures, failures
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "年金计划号" FROM {PLANS} GROUP BY 1 HAVING count(*) > 1')
        assert cursor.fetchall() == []


# --- plan-only and execute side by side --------------------------------------------------------


def test_plan_only_paused_in_its_snapshot_neither_blocks_nor_sees_an_execute_run(
    seeded: dict[str, Any], job_file: Path, subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan-only run holds its read-only transaction open (paused between its backfill plan
    and its fact plan) while a whole execute run commits: the execute run is not held up, and
    the plan-only run's fact counts still describe the warehouse its backfill plan saw."""
    paused, resume = threading.Event(), threading.Event()

    def pausing_facts_plan(**kwargs: Any) -> Any:
        paused.set()
        assert resume.wait(60)
        return facts_plan(**kwargs)

    monkeypatch.setattr("jobs.job_plan.facts_plan", pausing_facts_plan)
    request = JobRequest(
        command="run_job", domain="annuity_performance", execute=False, targets="all",
        backfill_mode=BackfillMode.INSERT_MISSING, fact_mode=FactMode.DELETE_INSERT, files=(job_file,),
    )  # fmt: skip
    thread, box = in_thread(lambda: job_run(request))
    try:
        assert paused.wait(30)
        executed = run_job_process(subprocess_env, *job_args(job_file), timeout=60)
    finally:
        resume.set()
        thread.join(30)

    assert executed.returncode == 0, executed.stderr
    assert executed.elapsed < 30
    assert (executed.summary["facts"]["deleted"], executed.summary["facts"]["inserted"]) == (2, 3)
    assert "error" not in box, box.get("error")
    planned = result_json(box["value"], verbosity=2)
    assert planned["status"] == "planned"
    assert by_target(planned)["plans"]["keys"] == ["P0002", "P0003"]  # as before the execute run
    assert (planned["facts"]["deleted"], planned["facts"]["inserted"]) == (2, 3)  # not 3: same snapshot


def test_plan_only_during_an_unfinished_execute_run_is_not_blocked_and_sees_none_of_it(
    seeded: dict[str, Any], job_file: Path, observer: Any, subprocess_env: dict[str, str]
) -> None:
    blocker = session()
    try:
        with blocker.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {FACTS} IN SHARE MODE")
        execute = start_job(subprocess_env, *job_args(job_file))
        pid = run_holder(observer, execute)
        wait_until(lambda: waits_on_lock(observer, pid), what="execute run waits at its fact load")
        # References inserted, facts not yet: half a run, uncommitted.
        planned = run_job_process(
            subprocess_env, "run_job", "--file", str(job_file), "--backfill-refs", "all", "-v", "2", timeout=60
        )
        assert execute.poll() is None
        blocker.rollback()
        executed = finish(execute)
    finally:
        blocker.close()

    assert planned.returncode == 0, planned.stderr
    assert planned.elapsed < 30
    assert planned.summary["status"] == "planned"
    assert by_target(planned.summary)["plans"]["keys"] == ["P0002", "P0003"]
    assert sorted(by_target(planned.summary)["portfolios"]["keys"]) == ["3", "QTAN001"]
    assert (planned.summary["facts"]["deleted"], planned.summary["facts"]["inserted"]) == (2, 3)
    assert executed.returncode == 0, executed.stderr
    assert by_target(executed.summary)["plans"]["keys"] == ["P0002", "P0003"]
    assert BackfillRun.objects.get(pk=planned.summary["audit_id"]).status == RunStatus.PLANNED
