"""How a run that did not succeed ends — failed, refused or interrupted — and the sentence that
says what failed, where, and what to do.

A failed execute run has rolled back by the time these functions run, so its result drops the
targets and facts it had reached: nothing of them was written.
"""

from __future__ import annotations

import socket

from django.db import DatabaseError
from django.utils import timezone

from facts.batch import MostlyInvalidError
from jobs.run_result import RunResult
from refs.audit import process_alive
from refs.models import BackfillRun, RunMode, RunStatus
from wdh.errors import ExitCode, RunLockedError, WdhError
from wdh.escaping import printable
from wdh.failure import failure_describe, is_lock_timeout
from wdh.interruption import RunInterrupted
from wdh.postgres import connection_lost
from wdh.session import Backend, advisory_holder, lock_blockers

_LOCKED = "another wdh execute run holds the backfill lock on this database; this run did nothing. "


class RunNotStartedError(WdhError):
    """The run's audit record could not be created: nothing was read or written."""

    def __init__(self, exc: DatabaseError) -> None:
        if connection_lost(exc):
            text = (
                f"cannot reach the database to start the run ({' '.join(str(exc).split())}); nothing was read "
                "or written and no audit record could be kept. Check that the server is up and DATABASE_URL "
                "is right, then run again."
            )
        else:
            text = (
                f"the database refused to create the run's audit record (refs_backfillrun): {failure_describe(exc)}. "
                "Nothing was read or written."
            )
        super().__init__(text)


def run_failed(result: RunResult, exc: BaseException, *, interrupted_by: str = "", during: str = "") -> None:
    """Fill in how the run ended from ``exc`` (and the signal that interrupted it, if any, and the
    stage it came ``during``: the one named, though its exception may have been lost on the way
    and the run stopped later, at the check before its commit).
    Reads the database only to name the sessions that blocked a lock-timed-out run."""
    result.finished_at = timezone.now()
    if result.mode is RunMode.EXECUTE:  # rolled back: nothing of it happened
        result.rolled_back()
    result.exit_code = exc.exit_code if isinstance(exc, WdhError) else ExitCode.FAILURE
    result.error_where = getattr(exc, "path", "")  # a place; the step is result.stage, in words
    if interrupted_by or isinstance(exc, RunInterrupted):
        _interrupted(result, interrupted_by or getattr(exc, "signal_name", "a signal"), during)
    elif isinstance(exc, RunLockedError):
        result.status, result.error = RunStatus.REFUSED_LOCKED, str(exc)
    else:
        result.status, result.error = RunStatus.FAILED, _failure_text(result, exc)
        if isinstance(exc, DatabaseError) and not connection_lost(exc):  # the server refused it here
            result.error_where = " on ".join(filter(None, [result.stage, ", ".join(result.stage_tables)]))
    result.error = printable(result.error, newlines=True)  # the record keeps it: no NUL, nothing raw on a terminal
    if isinstance(exc, MostlyInvalidError):  # kept with the record: the rows to correct
        result.files, result.row_errors = exc.batch.files, exc.batch.errors
        result.rows_read, result.rows_valid = exc.batch.rows_read, exc.batch.rows_valid


def _interrupted(result: RunResult, signal_name: str, during: str) -> None:
    result.status, result.exit_code = RunStatus.INTERRUPTED, ExitCode.FAILURE
    result.error_where = during or result.stage or "start"
    done = (
        "the run's transaction was rolled back, so nothing was written"
        if result.mode is RunMode.EXECUTE
        else "plan-only, nothing was written"
    )
    result.error = f"interrupted by {signal_name} during {result.error_where}: {done}. Run it again when ready."


def _failure_text(result: RunResult, exc: BaseException) -> str:
    if not isinstance(exc, DatabaseError):
        return str(exc)
    return database_failure_text(exc, result.stage or "start", result.stage_tables)


def database_failure_text(exc: DatabaseError, stage: str, tables: tuple[str, ...]) -> str:
    """What a database error ending a run at ``stage`` (writing ``tables``) means: the connection
    lost, or the server's refusal in one sentence — for a lock timeout with the sessions holding
    locks on ``tables`` — and that nothing was written (the run's transaction rolled back)."""
    if connection_lost(exc):  # libpq's own text ("the server terminated abnormally") misleads
        return (
            f"the connection to the database was lost during the run ({' '.join(str(exc).split())}); "
            "PostgreSQL rolled back the run's open transaction, so nothing was written. "
            "Check that the server is up and reachable, then run the job again."
        )
    named = ", ".join(tables)
    text = f"{failure_describe(exc)}, during {stage}" + (f" on {named}" if named else "")
    if is_lock_timeout(exc):
        text += _blockers_text(tables)
    return text + "; nothing was written."


def _blockers_text(tables: tuple[str, ...]) -> str:
    try:
        blockers = [(table, backend) for table in tables for backend in lock_blockers(table)]
    except DatabaseError as exc:
        return f"; the blocking session could not be looked up ({' '.join(str(exc).split())})"
    if not blockers:
        return "; the blocking session has ended meanwhile: run again"
    named = (f"{backend.describe()}, holding a lock on {table}" for table, backend in blockers)
    return "; blocked by " + "; ".join(named)


def locked_error() -> RunLockedError:
    """The refusal of a run because another session holds the backfill lock, naming
    that session and its run. Reads the database."""
    holder = advisory_holder()
    if holder is None:
        return RunLockedError(_LOCKED + "The lock has been released meanwhile: run again.")
    holder_run = holder.run_id
    if holder_run is None:
        return RunLockedError(
            _LOCKED + f"It is held by {holder.describe()}, which is not a wdh run; ask its owner, or end it "
            f"with SELECT pg_terminate_backend({holder.pid})."
        )
    return RunLockedError(_LOCKED + _holder_run_text(holder, holder_run))


def _holder_run_text(holder: Backend, run_id: int) -> str:
    record = BackfillRun.objects.filter(pk=run_id).first()
    if record is None:
        return f"It is held by {holder.describe()}, whose audit record {run_id} does not exist."
    gone = record.status == RunStatus.ABANDONED or (
        record.host == socket.gethostname() and not process_alive(record.pid)
    )
    if gone:
        return (
            f"It is held by {holder.describe()} of run {record.pk}, whose process (pid {record.pid} on "
            f"{record.host}) is gone: the backend still holds the lock until its last statement ends "
            "(at the latest after WDH_STATEMENT_TIMEOUT). To release it now: "
            f"SELECT pg_terminate_backend({holder.pid});"
        )
    return (
        f"It is held by run {record.pk} ({record.command}, pid {record.pid} on {record.host}, started "
        f"{timezone.localtime(record.started_at):%Y-%m-%d %H:%M:%S}) through {holder.describe()}. "
        "Wait for it to finish and run again."
    )


def audit_unwritten(result: RunResult, exc: DatabaseError) -> None:
    """The end of the run could not be recorded: say what failed and exit 1."""
    note = (
        f"the end of audit record {result.audit_id} could not be written: {failure_describe(exc)}; "
        "the record still says 'running' (abandon_runs marks it abandoned once this process has ended)"
    )
    result.error = f"{result.error}; and {note}" if result.error else note
    result.exit_code = ExitCode.FAILURE
    if result.status in (RunStatus.PLANNED, RunStatus.RUNNING):
        result.status = RunStatus.FAILED
