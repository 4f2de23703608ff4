"""Faults with real processes and a real server: a run killed (SIGKILL) while reading, during
the backfill or during the fact load, and a run whose backend the server terminates.

Each run is stopped at its stage deterministically: a lock held by another session makes the
run's backend wait at exactly that statement (``tests/processes.py``). Afterwards the warehouse
holds exactly the rows it held before, the audit record does not claim success (a killed run
stays ``running`` until ``abandon_runs`` marks it ``abandoned``; a terminated one is ``failed``),
and the next run succeeds with the counts of a run that never met a fault.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from domains.annuity_performance.models import AnnuityPerformance
from facts.sample import sample_file_name, write_sample_workbook
from facts.sample_spec import SampleSpec
from refs.models import BackfillRun, RunKey, RunStatus, RunTarget
from tests.processes import (
    backend,
    backend_gone,
    finish,
    lock_holder,
    run_holder,
    session,
    start_job,
    wait_until,
    waits_on_lock,
    warehouse_contents,
)
from tests.scenario import FACTS, PLANS, job_args
from tests.test_backfill import by_target, run

pytestmark = pytest.mark.slow

# How each stage is held: (what another session does first, how the held statement starts).
STAGES = {
    # The run's INSERT … ON CONFLICT of P0002, P0003 waits for the uncommitted P0003.
    "backfill": (f"INSERT INTO {PLANS} (\"年金计划号\") VALUES ('P0003')", "INSERT INTO " + PLANS),
    # The references are inserted (uncommitted); the DELETE of February's facts waits.
    "facts": (f"LOCK TABLE {FACTS} IN SHARE MODE", "DELETE FROM " + FACTS),
}


@pytest.fixture(scope="module")
def big_workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Large enough that reading and cleansing take seconds, not milliseconds."""
    folder = tmp_path_factory.mktemp("big")
    return write_sample_workbook(folder / sample_file_name(2026, 3), SampleSpec(rows=40_000, month=3))


def assert_next_run_succeeds(job_file: Path) -> None:
    """The run the fault interrupted, run again: it does everything, as if nothing had happened."""
    summary = run(*job_args(job_file), "--verbosity", "2")
    assert summary["status"] == "succeeded", summary["error"]
    targets = by_target(summary)
    assert (targets["plans"]["keys"], targets["plans"]["already_present"]) == (["P0002", "P0003"], 1)
    assert (sorted(targets["portfolios"]["keys"]), targets["portfolios"]["already_present"]) == (["3", "QTAN001"], 1)
    assert (summary["facts"]["deleted"], summary["facts"]["inserted"]) == (2, 3)
    assert AnnuityPerformance.objects.count() == 4  # January's row untouched
    record = BackfillRun.objects.get(pk=summary["audit_id"])
    assert record.status == RunStatus.SUCCEEDED and record.inserted_total == 4


def assert_unfinished_then_abandoned(record: BackfillRun, admin_client: Client) -> None:
    """A killed run's record claims nothing, shows as unfinished, and abandon_runs marks it."""
    record.refresh_from_db()
    assert (record.status, record.finished_at, record.inserted_total) == (RunStatus.RUNNING, None, 0)
    assert not RunTarget.objects.filter(run=record).exists() and not RunKey.objects.filter(run=record).exists()
    listing = admin_client.get(reverse("admin:refs_backfillrun_changelist")).content.decode()
    assert "wdh-status-running" in listing

    out, err = StringIO(), StringIO()
    call_command("abandon_runs", stdout=out, stderr=err)
    assert out.getvalue().split() == [str(record.pk)]
    assert "marked 1 unfinished run(s)" in err.getvalue()
    record.refresh_from_db()
    assert record.status == RunStatus.ABANDONED and record.finished_at is not None
    assert "killed or crashed" in record.error and "nothing it did was committed" in record.error
    out = StringIO()
    call_command("abandon_runs", stdout=out, stderr=StringIO())
    assert out.getvalue() == ""  # idempotent


def test_sigkill_while_reading_changes_nothing(
    seeded: dict[str, Any],
    big_workbook: Path,
    job_file: Path,
    observer: Any,
    subprocess_env: dict[str, str],
    admin_client: Client,
) -> None:
    samples: list[dict[str, Any] | None] = []

    def idle() -> bool:  # between statements, outside any transaction
        samples.append(backend(observer, pid))
        return (samples[-1] or {}).get("state") == "idle"

    process = start_job(subprocess_env, *job_args(big_workbook))
    try:
        pid = run_holder(observer, process)
        wait_until(idle, what="run reads")
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    # The lock was held and no transaction open (nor a COMMIT just sent): the run was reading.
    reading = samples[-1]
    assert reading is not None and reading["xact_start"] is None and not reading["query"].startswith("COMMIT")
    wait_until(lambda: backend_gone(observer, pid), what="killed run's backend ends")
    assert lock_holder(observer) is None  # PostgreSQL released the session lock with the session
    assert warehouse_contents() == seeded
    assert_unfinished_then_abandoned(BackfillRun.objects.get(pid=process.pid), admin_client)
    assert_next_run_succeeds(job_file)


@pytest.mark.parametrize("stage", STAGES)
def test_sigkill_during_a_write_stage_changes_nothing(
    seeded: dict[str, Any],
    job_file: Path,
    observer: Any,
    subprocess_env: dict[str, str],
    admin_client: Client,
    stage: str,
) -> None:
    hold, held_statement = STAGES[stage]
    blocker = session()
    try:
        with blocker.cursor() as cursor:
            cursor.execute(hold)
        process = start_job(subprocess_env, *job_args(job_file))
        try:
            pid = run_holder(observer, process)
            wait_until(lambda: waits_on_lock(observer, pid), what=f"run waits in the {stage} stage")
            assert (backend(observer, pid) or {})["query"].startswith(held_statement)
        finally:
            process.kill()
            process.wait()
        assert process.returncode == -signal.SIGKILL
        blocker.rollback()  # the held statement completes; the backend then finds its client gone
        wait_until(lambda: backend_gone(observer, pid), what="killed run's backend ends")
    finally:
        blocker.close()
    assert lock_holder(observer) is None
    assert warehouse_contents() == seeded
    assert_unfinished_then_abandoned(BackfillRun.objects.get(pid=process.pid), admin_client)
    assert_next_run_succeeds(job_file)


@pytest.mark.parametrize("stage", STAGES)
def test_terminated_backend_is_a_clear_failure_and_changes_nothing(
    seeded: dict[str, Any], job_file: Path, observer: Any, subprocess_env: dict[str, str], stage: str
) -> None:
    hold, _ = STAGES[stage]
    blocker = session()
    try:
        with blocker.cursor() as cursor:
            cursor.execute(hold)
        process = start_job(subprocess_env, *job_args(job_file))
        pid = run_holder(observer, process)
        wait_until(lambda: waits_on_lock(observer, pid), what=f"run waits in the {stage} stage")
        with observer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        blocker.rollback()
        done = finish(process)
    finally:
        blocker.close()

    assert done.returncode == 1, done.stderr
    summary = done.summary
    assert summary["status"] == "failed"
    message = summary["error"]["message"]
    assert message.startswith("the connection to the database was lost during the run (")
    assert "nothing was written" in message and "run the job again" in message
    assert summary["backfill"]["targets"] == [] and summary["facts"] is None  # rolled back: nothing claimed
    assert f"[audit record {summary['audit_id']}]" in done.stderr
    assert "Traceback" not in done.stderr
    record = BackfillRun.objects.get(pk=summary["audit_id"])
    assert record.status == RunStatus.FAILED and record.finished_at is not None
    assert record.error == message and record.error_where == ""  # no place: the step says where
    assert record.stage.startswith(stage), record.stage  # "backfill plans" / "facts"
    assert not RunTarget.objects.filter(run=record).exists() and record.inserted_total == 0
    assert lock_holder(observer) is None
    assert warehouse_contents() == seeded
    assert_next_run_succeeds(job_file)


def test_the_next_run_marks_a_killed_runs_record_abandoned(seeded: dict[str, Any], job_file: Path) -> None:
    """No operator needed: a ``running`` record of this host whose process is gone is marked
    ``abandoned`` by the next run, which says so in its warnings."""
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no process holds any more
    stale = BackfillRun.objects.create(
        command="run_job", domain="annuity_performance", mode="execute", started_at=timezone.now(),
        user="cron", host=socket.gethostname(), via="cron", pid=gone.pid, config_path="", config_digest="",
    )  # fmt: skip
    elsewhere = BackfillRun.objects.create(
        command="run_job", domain="annuity_performance", mode="execute", started_at=timezone.now(),
        user="cron", host="another-host", via="cron", pid=gone.pid, config_path="", config_digest="",
    )  # fmt: skip
    summary = run(*job_args(job_file))
    assert summary["status"] == "succeeded"
    assert any(f"run(s) {stale.pk} abandoned" in warning for warning in summary["warnings"])
    stale.refresh_from_db()
    elsewhere.refresh_from_db()
    assert stale.status == RunStatus.ABANDONED and stale.finished_at is not None
    assert elsewhere.status == RunStatus.RUNNING  # another host's process cannot be checked from here
