"""A run never waits forever behind another session (issue 9 item 6).

Each test holds a real lock in a second PostgreSQL session and runs the job as a child process
with small timeouts set through its environment. The run's session is named ``wdh run N``; a
lock wait longer than ``WDH_LOCK_TIMEOUT`` fails the run (exit 1) naming the table and the
blocking backend; a refused run (exit 3) names the backend and run holding the advisory lock,
and says when that run's process is gone while its backend still holds the lock.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from refs.models import BackfillRun, RunStatus
from tests.processes import (
    Finished,
    backend,
    finish,
    query,
    run_holder,
    run_job_process,
    session,
    start_job,
    wait_until,
    waits_on_lock,
    warehouse_contents,
)
from tests.scenario import PLANS, job_args

pytestmark = pytest.mark.slow


def blocking_session(*statements: str) -> Any:
    """A session named ``blocker`` that ran ``statements`` in a transaction it keeps open."""
    blocker = session()
    with blocker.cursor() as cursor:
        cursor.execute("SET application_name = 'blocker'")
        for statement in statements:
            cursor.execute(statement)
    return blocker


def backend_pid(connection: Any) -> int:
    return int(query(connection, "SELECT pg_backend_pid()")[0][0])


def assert_names_blocker(done: Finished, blocker_pid: int, table: str) -> str:
    assert done.returncode == 1, done.stderr
    summary = done.summary
    assert summary["status"] == "failed"
    message: str = summary["error"]["message"]
    assert "lock_timeout (WDH_LOCK_TIMEOUT)" in message
    assert f"on {table}" in message or f"lock on {table}" in message
    assert f"backend pid {blocker_pid} (application 'blocker'" in message and "query started 20" in message
    assert "nothing was written" in message and "Traceback" not in done.stderr
    record = BackfillRun.objects.get(pk=summary["audit_id"])
    assert (record.status, record.error) == (RunStatus.FAILED, message)
    assert table in record.error_where  # the stage and its tables, e.g. 'backfill plans on "mapping"."年金计划"'
    return message


@pytest.mark.parametrize("mode", ["--execute", "--plan-only"])
def test_an_exclusive_table_lock_fails_the_run_naming_the_blocker(
    seeded: dict[str, Any], job_file: Path, subprocess_env: dict[str, str], mode: str
) -> None:
    blocker = blocking_session(f"LOCK TABLE {PLANS} IN ACCESS EXCLUSIVE MODE")
    try:
        env = {**subprocess_env, "WDH_LOCK_TIMEOUT": "300ms"}
        args = [arg for arg in job_args(job_file) if arg != "--execute"]
        done = run_job_process(env, *args, mode)
        assert_names_blocker(done, backend_pid(blocker), PLANS)
    finally:
        blocker.close()
    assert warehouse_contents() == seeded


def test_a_row_lock_on_a_row_to_fill_fails_the_run_naming_the_blocker(
    seeded: dict[str, Any], job_file: Path, subprocess_env: dict[str, str]
) -> None:
    setup = session(autocommit=True)
    with setup.cursor() as cursor:  # P0001 gets an empty cell the job's rows can fill
        cursor.execute(f'UPDATE {PLANS} SET "计划类型" = NULL WHERE "年金计划号" = %s', ["P0001"])
    setup.close()
    before = warehouse_contents()
    blocker = blocking_session(f"SELECT * FROM {PLANS} WHERE \"年金计划号\" = 'P0001' FOR UPDATE")
    try:
        env = {**subprocess_env, "WDH_LOCK_TIMEOUT": "300ms"}
        args = ("backfill_refs", "--file", str(job_file), "--targets", "plans", "--mode", "fill_null_only")
        done = run_job_process(env, *args, "--execute")
        message = assert_names_blocker(done, backend_pid(blocker), PLANS)
        assert "during backfill plans" in message
    finally:
        blocker.close()
    assert warehouse_contents() == before


def test_a_statement_over_the_statement_timeout_fails_the_run_saying_so(
    seeded: dict[str, Any], job_file: Path, subprocess_env: dict[str, str]
) -> None:
    blocker = blocking_session(f"LOCK TABLE {PLANS} IN ACCESS EXCLUSIVE MODE")
    try:  # no lock timeout: the wait counts against the statement timeout
        env = {**subprocess_env, "WDH_LOCK_TIMEOUT": "0", "WDH_STATEMENT_TIMEOUT": "300ms"}
        done = run_job_process(env, *job_args(job_file))
    finally:
        blocker.close()
    assert done.returncode == 1, done.stderr
    message = done.summary["error"]["message"]
    assert "statement_timeout (WDH_STATEMENT_TIMEOUT)" in message and "cannot reach" not in message
    assert "nothing was written" in message
    assert warehouse_contents() == seeded


def test_a_refused_run_names_the_run_holding_the_lock_and_whether_its_process_is_gone(
    seeded: dict[str, Any], job_file: Path, observer: Any, subprocess_env: dict[str, str]
) -> None:
    blocker = blocking_session(f"INSERT INTO {PLANS} (\"年金计划号\") VALUES ('P0003')")
    try:
        holder = start_job({**subprocess_env, "WDH_LOCK_TIMEOUT": "0"}, *job_args(job_file))
        try:
            pid = run_holder(observer, holder)
            wait_until(lambda: waits_on_lock(observer, pid), what="the first run waits in its backfill")
            holder_record = BackfillRun.objects.get(pid=holder.pid)
            assert query(observer, "SELECT application_name FROM pg_stat_activity WHERE pid = %s", [pid]) == [
                (f"wdh run {holder_record.pk}",)
            ]
            refused = run_job_process(subprocess_env, *job_args(job_file))
            assert refused.returncode == 3, refused.stderr
            message = refused.summary["error"]["message"]
            assert f"held by run {holder_record.pk} (run_job, pid {holder.pid} on " in message
            assert f"backend pid {pid} (application 'wdh run {holder_record.pk}'" in message
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        assert backend(observer, pid) is not None  # its backend still waits, holding the lock

        refused = run_job_process(subprocess_env, *job_args(job_file))
        assert refused.returncode == 3, refused.stderr
        message = refused.summary["error"]["message"]
        assert f"of run {holder_record.pk}, whose process (pid {holder.pid} on " in message and "is gone" in message
        assert f"SELECT pg_terminate_backend({pid});" in message
        holder_record.refresh_from_db()
        assert holder_record.status == RunStatus.ABANDONED
    finally:
        blocker.close()
    assert warehouse_contents() == seeded
    finish_run = run_job_process(subprocess_env, *job_args(job_file))  # the lock is free again
    assert finish_run.returncode == 0, finish_run.stderr


def test_an_invalid_timeout_setting_is_a_configuration_error(
    warehouse: None, job_file: Path, subprocess_env: dict[str, str]
) -> None:
    done = finish(start_job({**subprocess_env, "WDH_LOCK_TIMEOUT": "soon"}, *job_args(job_file)))
    assert done.returncode == 2, done.stderr
    message = done.summary["error"]["message"]
    assert message.startswith("WDH_LOCK_TIMEOUT: 'soon' is not a PostgreSQL duration")
    assert BackfillRun.objects.get(pk=done.summary["audit_id"]).status == RunStatus.FAILED
