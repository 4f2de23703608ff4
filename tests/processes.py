"""Real processes and real sessions for the fault and concurrency tests.

A run is started as ``manage.py run_job … --execute`` in a child process (``subprocess_env``
points it at the test database). It is stopped at a chosen stage by a lock another session
holds, never by sleeping: the test polls ``pg_stat_activity`` until the run's backend waits on
that lock, then kills the process or terminates its backend. The run's backend is found by the
backfill advisory lock it holds (``pg_locks``), which is taken before the run reads anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from tests.conftest import warehouse_tables
from tests.test_concurrency import other_session
from wdh.postgres import BACKFILL_LOCK_KEY

# pg_locks shows a bigint advisory key as two 32-bit halves: classid (high) and objid (low).
_LOCK_HIGH = (BACKFILL_LOCK_KEY >> 32) & 0xFFFFFFFF
_LOCK_LOW = BACKFILL_LOCK_KEY & 0xFFFFFFFF


def session(*, autocommit: bool = False) -> Any:
    """A second, independent PostgreSQL session on the test database (psycopg2, not Django)."""
    other = other_session()
    other.autocommit = autocommit
    return other


def wait_until(predicate: Callable[[], bool], *, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 20 ms; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(0.02)


def query(observer: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with observer.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def lock_holder(observer: Any) -> int | None:
    """Backend pid of the session holding the backfill advisory lock on this database."""
    rows = query(
        observer,
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s AND objid = %s "
        "AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        [_LOCK_HIGH, _LOCK_LOW],
    )
    return int(rows[0][0]) if rows else None


def backend(observer: Any, pid: int) -> dict[str, Any] | None:
    """Backend ``pid`` in ``pg_stat_activity``: state, wait event, transaction start, last query."""
    rows = query(
        observer,
        "SELECT state, wait_event_type, wait_event, xact_start, query FROM pg_stat_activity WHERE pid = %s",
        [pid],
    )
    if not rows:
        return None
    state, wait_type, wait_event, xact_start, last_query = rows[0]
    return {
        "state": state,
        "wait_event_type": wait_type,
        "wait_event": wait_event,
        "xact_start": xact_start,
        "query": last_query,
    }


def waits_on_lock(observer: Any, pid: int) -> bool:
    found = backend(observer, pid)
    return found is not None and found["wait_event_type"] == "Lock"


def backend_gone(observer: Any, pid: int) -> bool:
    return backend(observer, pid) is None


def run_holder(observer: Any, process: subprocess.Popen[str], *, timeout: float = 60.0) -> int:
    """Wait until ``process`` holds the backfill lock; return its backend pid."""
    found: list[int] = []

    def holding() -> bool:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the run ended (exit {process.returncode}) before taking the lock:\n{err}\n{out}")
        pid = lock_holder(observer)
        if pid is not None:
            found.append(pid)
        return bool(found)

    wait_until(holding, timeout=timeout, what="run holds the backfill lock")
    return found[0]


def start_job(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``manage.py <args> --format json`` as a child process (stdout and stderr captured)."""
    return subprocess.Popen(
        [sys.executable, "manage.py", *args, "--format", "json"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float = 0.0

    @property
    def summary(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.stdout)
        return parsed


def finish(process: subprocess.Popen[str], *, timeout: float = 120.0) -> Finished:
    out, err = process.communicate(timeout=timeout)
    return Finished(process.returncode, out, err)


def run_job_process(env: dict[str, str], *args: str, timeout: float = 120.0) -> Finished:
    """Run ``manage.py <args> --format json`` to its end in a child process."""
    started = time.monotonic()
    done = finish(start_job(env, *args), timeout=timeout)
    done.elapsed = time.monotonic() - started
    return done


def warehouse_contents() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every configured warehouse table, in a stable order: equal after a failed
    run means nothing was written, not merely the same number of rows."""
    contents = {}
    with connection.cursor() as cursor:
        for table in warehouse_tables():
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1")
            contents[table] = list(cursor.fetchall())
    return contents
