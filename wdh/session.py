"""The run's PostgreSQL session: its name, its time limits, and the other sessions in its way.

- ``application_name`` is ``wdh run N`` (N = audit record id), so ``pg_stat_activity`` — and a
  run refused because another one holds the lock — can tell which run a backend belongs to.
- ``lock_timeout`` and ``statement_timeout`` (settings ``WDH_LOCK_TIMEOUT``,
  ``WDH_STATEMENT_TIMEOUT``) keep a run from waiting forever behind another session's lock.
- After a lock timeout, :func:`lock_blockers` names the sessions that hold a lock on the table
  the run waited for; :func:`advisory_holder` names the session holding the backfill lock.

Raw SQL, because these are server settings and catalog views the ORM does not model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DataError, connection

from wdh.errors import ConfigError
from wdh.postgres import BACKFILL_LOCK_KEY

RUN_APPLICATION = "wdh run {run_id}"
_RUN_ID = re.compile(r"^wdh run (\d+)$")


@dataclass(frozen=True)
class Backend:
    """Another PostgreSQL session, as ``pg_stat_activity`` shows it."""

    pid: int
    application: str
    query_start: datetime | None
    state: str

    @property
    def run_id(self) -> int | None:
        """The audit id of the wdh run this backend belongs to, from its application_name."""
        found = _RUN_ID.match(self.application)
        return int(found.group(1)) if found else None

    def describe(self) -> str:
        started = self.query_start.isoformat(timespec="seconds") if self.query_start else "unknown"
        application = self.application or "(none)"
        return f"backend pid {self.pid} (application {application!r}, {self.state}, query started {started})"


def session_configure(run_id: int) -> Callable[[], None]:
    """Name the session after the run and set its lock and statement timeouts; writes nothing.

    Returns a function that cancels the session's current statement from any thread.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('application_name', %s, false)", [RUN_APPLICATION.format(run_id=run_id)])
        for name, parameter in (("WDH_LOCK_TIMEOUT", "lock_timeout"), ("WDH_STATEMENT_TIMEOUT", "statement_timeout")):
            value = getattr(settings, name)
            try:
                cursor.execute("SELECT set_config(%s, %s, false)", [parameter, value])
            except DataError as exc:
                raise ConfigError(
                    name, f"{value!r} is not a PostgreSQL duration (e.g. 30s, 500ms, 30min; 0 = no limit): {exc}"
                ) from exc
    raw = connection.connection
    assert raw is not None  # the statements above connected
    cancel: Callable[[], None] = raw.cancel  # psycopg2: thread-safe, a cancel request on its own socket
    return cancel


def lock_blockers(qualified_name: str) -> list[Backend]:
    """Other sessions holding a lock on the table that can block a run: any lock but a plain
    reader's ACCESS SHARE (a row locked by ``FOR UPDATE`` or a write shows as ROW SHARE or
    ROW EXCLUSIVE on its table). Reads only."""
    return _backends(
        "SELECT DISTINCT a.pid, coalesce(a.application_name, ''), a.query_start, coalesce(a.state, '') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'relation' AND l.granted AND l.relation = to_regclass(%s) "
        "AND l.mode <> 'AccessShareLock' AND l.pid <> pg_backend_pid() ORDER BY a.pid",
        [qualified_name],
    )


def advisory_holder() -> Backend | None:
    """The session holding the backfill advisory lock on this database, if any. Reads only."""
    # pg_locks shows a bigint advisory key as two 32-bit halves: classid (high) and objid (low).
    found = _backends(
        "SELECT a.pid, coalesce(a.application_name, ''), a.query_start, coalesce(a.state, '') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        [(BACKFILL_LOCK_KEY >> 32) & 0xFFFFFFFF, BACKFILL_LOCK_KEY & 0xFFFFFFFF],
    )
    return found[0] if found else None


def _backends(sql: str, params: list[str | int]) -> list[Backend]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [Backend(int(pid), app, start, state) for pid, app, start, state in cursor.fetchall()]
