"""``revert_run`` as a session among others (found by a hostile pass): like the jobs, a revert
waiting on another session's lock gives up after ``WDH_LOCK_TIMEOUT`` naming the table and the
blocking backend, and a SIGTERM or SIGINT rolls it back and ends its record ``interrupted`` —
before, the timeout was PostgreSQL's bare message, and a signal killed the process (exit 143, no
message) leaving the record ``running``."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from refs.models import BackfillRun, RunStatus
from tests.processes import finish, lock_holder, run_holder, session, start_job, wait_until, waits_on_lock
from tests.scenario import observer  # noqa: F401 — a fixture
from tests.test_backfill import run_failing
from tests.test_revert import FACTS, FEBRUARY, checksums, job, small


def _hold_fact_rows() -> Any:
    """Another session, in an open transaction, holding a row of the fact table with FOR UPDATE."""
    blocker = session()
    with blocker.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {FACTS} LIMIT 1 FOR UPDATE")
    return blocker


def test_a_lock_timeout_during_a_revert_names_the_blocker_and_writes_nothing(
    warehouse: None, tmp_path: Path, settings: Any
) -> None:
    first = job(small(tmp_path, FEBRUARY))
    before = checksums()
    settings.WDH_LOCK_TIMEOUT = "1s"
    blocker = _hold_fact_rows()
    try:
        error, summary = run_failing("revert_run", str(first), "--execute")
        pid = blocker.get_backend_pid()
    finally:
        blocker.close()

    message = summary["error"]
    assert error.returncode == 1 and summary["status"] == "failed"
    assert "a lock wait exceeded lock_timeout (WDH_LOCK_TIMEOUT)" in message
    assert f"blocked by backend pid {pid}" in message and f"holding a lock on {FACTS}" in message
    assert message.endswith("nothing was written.")
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.FAILED
    assert checksums() == before


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_a_revert_rolls_back_and_records_interrupted(
    warehouse: None,
    tmp_path: Path,
    subprocess_env: dict[str, str],
    observer: Any,  # noqa: F811
    signum: signal.Signals,
) -> None:
    first = job(small(tmp_path, FEBRUARY))
    before = checksums()
    blocker = _hold_fact_rows()
    try:
        process = start_job({**subprocess_env, "WDH_LOCK_TIMEOUT": "0"}, "revert_run", str(first), "--execute")
        try:
            pid = run_holder(observer, process)
            wait_until(lambda: waits_on_lock(observer, pid), what="the revert waits on the fact rows")
            process.send_signal(signum)  # the revert cancels its own statement: the blocker stays
            done = finish(process)
        finally:
            process.kill()
            process.wait()
    finally:
        blocker.close()

    assert done.returncode == 1, done.stderr
    message = done.summary["error"]
    assert message == (
        f"interrupted by {signum.name} during revert: the revert's transaction was rolled back, so nothing "
        "was written. Run it again when ready."
    )
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    record = BackfillRun.objects.get(pk=done.summary["audit_id"])
    assert (record.status, record.error) == (RunStatus.INTERRUPTED, message) and record.finished_at is not None
    assert lock_holder(observer) is None
    assert checksums() == before
