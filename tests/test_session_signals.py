"""SIGTERM and SIGINT during a run (issue 9 item 10): at every stage the run rolls back, its
record ends ``interrupted`` (shown in the admin), and it prints one line, not a traceback.

The run is a real child process stopped at its stage as in tests/test_faults.py: reading a large
workbook (Python code running), or its backend waiting on a lock another session holds (the
backfill's INSERT, the fact load's DELETE, and — in append mode — the fact load's COPY).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.test import Client
from django.urls import reverse

from refs.models import BackfillRun, RunKey, RunStatus, RunTarget
from tests.processes import (
    backend,
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
from tests.test_backfill import run_failing
from tests.test_faults import assert_next_run_succeeds, big_workbook  # noqa: F401 — a fixture
from tests.test_operator import SCHEMA
from wdh import postgres

pytestmark = pytest.mark.slow

# How each write stage is held: (what another session does first, extra flags, the held statement).
HELD = {
    "backfill plans": (f"INSERT INTO {PLANS} (\"年金计划号\") VALUES ('P0003')", (), "INSERT INTO " + PLANS),
    "facts": (f"LOCK TABLE {FACTS} IN SHARE MODE", (), "DELETE FROM " + FACTS),
    "facts (INSERT from staging)": (f"LOCK TABLE {FACTS} IN SHARE MODE", ("--mode", "append"), "INSERT INTO " + FACTS),
}
SIGNALS = [signal.SIGTERM, signal.SIGINT]


def assert_interrupted(done: Any, signum: signal.Signals, stage: str, admin_client: Client) -> None:
    """Exit 1, one line on stderr naming the signal and stage, the record ``interrupted``."""
    assert done.returncode == 1, done.stderr
    summary = done.summary
    message = summary["error"]["message"]
    assert message == (
        f"interrupted by {signum.name} during {stage}: the run's transaction was rolled back, so nothing "
        "was written. Run it again when ready."
    )
    assert summary["status"] == "interrupted" and summary["backfill"]["targets"] == []
    jsonschema.validate(summary, SCHEMA)
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    assert "COPY from stdin failed" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "interrupted by" in line]
    assert errors == [f"CommandError: {message} [audit record {summary['audit_id']}]"]
    record = BackfillRun.objects.get(pk=summary["audit_id"])
    assert (record.status, record.error, record.error_where) == (RunStatus.INTERRUPTED, message, stage)
    assert record.finished_at is not None and record.inserted_total == 0
    assert not RunTarget.objects.filter(run=record).exists() and not RunKey.objects.filter(run=record).exists()
    page = admin_client.get(reverse("admin:refs_backfillrun_changelist")).content.decode()
    assert "wdh-status-interrupted" in page
    detail = admin_client.get(reverse("admin:refs_backfillrun_change", args=[record.pk])).content.decode()
    assert "Interrupted" in detail


def reading(observer: Any, pid: int) -> bool:
    """The run is past its lock and reading: its backend idles after a query that is not the lock's
    own (idle right after ``pg_try_advisory_lock`` is still the lock step, a window a loaded machine hits)."""
    found = backend(observer, pid) or {}
    return found.get("state") == "idle" and "pg_try_advisory_lock" not in (found.get("query") or "")


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_while_reading_rolls_back_and_records_interrupted(
    seeded: dict[str, Any],
    big_workbook: Path,  # noqa: F811
    job_file: Path,
    observer: Any,
    subprocess_env: dict[str, str],
    admin_client: Client,
    signum: signal.Signals,
) -> None:
    process = start_job(subprocess_env, *job_args(big_workbook))
    try:
        pid = run_holder(observer, process)
        wait_until(lambda: reading(observer, pid), what="run reads")
        process.send_signal(signum)
        done = finish(process)
    finally:
        process.kill()
        process.wait()
    assert_interrupted(done, signum, "read", admin_client)
    assert lock_holder(observer) is None
    assert warehouse_contents() == seeded
    assert_next_run_succeeds(job_file)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("stage", HELD)
def test_a_signal_during_a_write_stage_rolls_back_and_records_interrupted(
    seeded: dict[str, Any],
    job_file: Path,
    observer: Any,
    subprocess_env: dict[str, str],
    admin_client: Client,
    stage: str,
    signum: signal.Signals,
) -> None:
    hold, flags, held_statement = HELD[stage]
    blocker = session()
    try:
        with blocker.cursor() as cursor:
            cursor.execute(hold)
        process = start_job({**subprocess_env, "WDH_LOCK_TIMEOUT": "0"}, *job_args(job_file), *flags)
        try:
            pid = run_holder(observer, process)
            wait_until(lambda: waits_on_lock(observer, pid), what=f"run waits in the {stage} stage")
            assert (backend(observer, pid) or {})["query"].startswith(held_statement)
            process.send_signal(signum)  # the run cancels its own statement: the blocker stays
            done = finish(process)
        finally:
            process.kill()
            process.wait()
    finally:
        blocker.close()
    assert_interrupted(done, signum, stage.split(" (")[0], admin_client)
    assert lock_holder(observer) is None
    assert warehouse_contents() == seeded
    assert_next_run_succeeds(job_file)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_a_signal_while_copy_reads_the_fact_rows_records_interrupted_not_a_copy_error(
    seeded: dict[str, Any], job_file: Path, monkeypatch: pytest.MonkeyPatch, signum: signal.Signals
) -> None:
    """The signal lands inside the stream COPY reads from (psycopg2 would report it as "COPY from
    stdin failed: error in .read() call") — the staging writer's COPY, on its own thread, while
    the reading thread waits for it: the run is still ``interrupted``, during read, and the
    writer thread is joined."""
    read = postgres._TextStream.read

    def read_then_signal(stream: Any, size: int = -1) -> str:
        data = read(stream, size)
        os.kill(os.getpid(), signum)  # delivered to this (main) thread before the next line runs
        return data

    monkeypatch.setattr(postgres._TextStream, "read", read_then_signal)
    error, summary = run_failing(*job_args(job_file), "--mode", "append")
    assert error.returncode == 1
    jsonschema.validate(summary, SCHEMA)
    message = summary["error"]["message"]
    assert message.startswith(f"interrupted by {signum.name} during read: the run's transaction was rolled back")
    assert not [thread for thread in threading.enumerate() if thread.name == "wdh-staging-writer"]
    record = BackfillRun.objects.get(pk=summary["audit_id"])
    assert (record.status, record.error) == (RunStatus.INTERRUPTED, message)
    assert warehouse_contents() == seeded
    monkeypatch.undo()
    assert_next_run_succeeds(job_file)
