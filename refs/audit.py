"""Audit records: one :class:`~refs.models.BackfillRun` per run, whatever its end.

- ``audit_start`` commits a ``running`` record before the run touches the warehouse, so a run
  killed at any point stays visibly unfinished (and ``audit_abandon`` can mark it later).
- An execute run calls ``audit_finish`` *inside* its warehouse transaction: the record says
  "succeeded" if and only if the changes it lists were committed.
- A failed or refused run calls ``audit_finish`` after the rollback, in autocommit.

The audit layer defines what it records itself — :class:`RunEnd`, plain values and the
machinery's own outcome types — and knows nothing of the job orchestration above it: the job
(``jobs.job_run``) turns its result into a ``RunEnd`` (with the summary rendered from the same result
the terminal and the JSON show), so no import, not even a type-level one, points from here up.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.db import transaction
from django.utils import timezone

from refs.models import BackfillRun, RunCell, RunContext, RunFile, RunKey, RunMode, RunRowError, RunStatus, RunTarget
from refs.plan_lifecycle import plan_settle
from refs.rejects import source_text
from wdh.identifiers import quote_ident
from wdh.postgres import copy_rows

if TYPE_CHECKING:
    from django.db.models import Field

    from facts.batch import SourceSummary
    from facts.cleansing import RowError
    from facts.loading import FactOutcome
    from refs.backfill import TargetOutcome


RUN_CONTEXT_VARIABLE = "WDH_RUN_CONTEXT"


@dataclass(frozen=True)
class RunEnd:
    """How a run ended, as its record keeps it (``audit_finish``)."""

    status: RunStatus
    exit_code: int  # the process's exit code: an apply run's plan is applied (0) or refused (2)
    finished_at: datetime | None
    statements: Sequence[str]
    warnings: Sequence[str]
    summary: dict[str, Any]  # the run's JSON summary (schema wdh.run/2)
    error: str
    error_where: str
    stage: str
    config_digest: str
    files: Sequence[SourceSummary]
    opened: Sequence[Path]  # workbooks opened, the one that failed too
    row_errors: Sequence[RowError]
    targets: Sequence[TargetOutcome]
    facts: FactOutcome | None


def run_context() -> RunContext:
    """How this run was started, for its record. Reads the environment only.

    ``terminal`` when stdin or stderr is one; otherwise what ``WDH_RUN_CONTEXT`` says (the
    README's crontab line sets ``cron``), and ``non-interactive`` when it says nothing: a script,
    CI or a service is not cron just because no terminal is attached. Raises ValueError for a
    value that is not a context, naming the choices.
    """
    if (sys.stdin is not None and sys.stdin.isatty()) or sys.stderr.isatty():
        return RunContext.TERMINAL
    declared = os.environ.get(RUN_CONTEXT_VARIABLE, "").strip()
    if not declared:
        return RunContext.NON_INTERACTIVE
    if declared not in RunContext.values:
        choices = ", ".join(RunContext.values)
        raise ValueError(f"{RUN_CONTEXT_VARIABLE}={declared!r} is not a run context; set one of {choices}, or unset it")
    return RunContext(declared)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def run_origin() -> dict[str, Any]:
    """Who started this run, where and how: a record's ``user``, ``host``, ``via`` and ``pid``.
    Reads the environment only; raises ValueError as :func:`run_context` does."""
    return {"user": _user(), "host": socket.gethostname(), "via": run_context(), "pid": os.getpid()}


def audit_start(
    *,
    command: str,
    domain: str,
    mode: RunMode,
    backfill_mode: str,
    targets: str,
    argv: Sequence[str],
    options: dict[str, Any],
    working_dir: str,
    config_path: str,
    config_digest: str,
    applies: int | None,
) -> BackfillRun:
    """Create and commit the ``running`` record of a run. Writes the database."""
    with transaction.atomic():
        return BackfillRun.objects.create(
            command=command,
            domain=domain,
            mode=mode,
            backfill_mode=backfill_mode,
            targets=targets,
            started_at=timezone.now(),
            **run_origin(),
            argv=list(argv),
            options=options,
            working_dir=working_dir,
            config_path=config_path,
            config_digest=config_digest,
            applies_id=applies,
        )


def audit_finish(run: BackfillRun, result: RunEnd) -> None:
    """Write the run's end: status, counts, files, per-target results, keys and cells, and for
    an apply run its plan's state (``applied`` commits with the warehouse changes).

    Writes the database; inside an execute run's transaction this commits with the warehouse.
    """
    run.status = result.status
    run.finished_at = result.finished_at or timezone.now()
    run.statements = list(result.statements)
    run.warnings = list(result.warnings)
    run.summary = result.summary
    run.error = result.error
    run.error_where = result.error_where
    run.stage = result.stage
    run.row_errors = len(result.row_errors)
    run.inserted_total = sum(outcome.inserted for outcome in result.targets)
    run.filled_total = sum(sum(outcome.cells_filled.values()) for outcome in result.targets)
    if result.facts is not None and not result.facts.skipped:
        run.facts_deleted = result.facts.deleted
        run.facts_inserted = result.facts.inserted
    if result.config_digest:
        run.config_digest = result.config_digest
    run.save()
    _details(run, result)
    plan_settle(run, exit_code=result.exit_code)  # an apply run: its plan applied, or refused


def _details(run: BackfillRun, result: RunEnd) -> None:
    RunFile.objects.bulk_create(
        RunFile(
            run=run,
            path=str(source.path),
            size=source.size,
            sha256=source.sha256,
            sheet=source.sheet,
            rows_read=source.rows_read,
            rows_valid=source.rows_valid,
            header=list(source.header),
        )
        for source in result.files
    )
    _unfinished_files(run, result)
    audit_row_errors(run, result.row_errors)
    for outcome in result.targets:
        RunTarget.objects.create(
            run=run,
            target=outcome.target,
            table=outcome.table,
            candidates=outcome.candidates,
            inserted=outcome.inserted,
            already_present=outcome.already_present,
            cells_filled=outcome.cells_filled,
            rows_changed=outcome.rows_changed,
            warnings=outcome.warnings,
            warning_details=outcome.warning_details,
        )
        # Keys and cells can be tens of thousands of rows: COPY, not an INSERT per AUDIT_CHUNK.
        _copy(RunKey, ["run", "target", "key"], ([run.pk, outcome.target, key] for key in outcome.keys))
        _copy(
            RunCell,
            ["run", "target", "key", "column", "value"],
            ([run.pk, outcome.target, key, column, value] for key, column, value in outcome.cells),
        )


def _unfinished_files(run: BackfillRun, result: RunEnd) -> None:
    """Record the workbooks the run opened but never finished reading (the one that failed)."""
    finished = {source.path for source in result.files}
    RunFile.objects.bulk_create(
        RunFile(run=run, path=str(path), size=_size(path), sha256="") for path in result.opened if path not in finished
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # gone or unreadable since it was opened: the record still names it
        return 0


def audit_row_errors(run: BackfillRun, errors: Sequence[RowError]) -> int:
    """Keep ``errors`` with ``run``, each with its row's cells as read; returns how many.
    A month can leave thousands of rows out: COPY, like the keys."""
    _copy(
        RunRowError,
        ["run", "file", "sheet", "row", "column", "value", "message", "source"],
        (
            [
                run.pk,
                error.file,
                error.sheet,
                error.row,
                _cell(error.column),
                _cell(error.value),
                _cell(error.message),
                source_text(error.source),
            ]
            for error in errors
        ),
    )
    return len(errors)


def _cell(value: object) -> str | None:
    """A cell or message as text PostgreSQL stores: a NUL character (a hostile cell) written as ``\\x00``."""
    return None if value is None else str(value).replace("\x00", "\\x00")


AuditDetail = type[RunKey] | type[RunCell] | type[RunRowError]


def _copy(model: AuditDetail, fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY ``rows`` (values of ``fields``, in that order) into the audit table of ``model``."""
    columns = [cast("Field[Any, Any]", model._meta.get_field(name)).column for name in fields]
    copy_rows(quote_ident(model._meta.db_table), columns, rows)


def audit_abandon(*, host: str | None = None) -> list[int]:
    """Mark ``running`` records of this host whose process is gone as ``abandoned``.

    Returns their ids. Writes the database. Records of other hosts are left alone: their
    processes cannot be checked from here.
    """
    host = host or socket.gethostname()
    stale = [
        run.pk for run in BackfillRun.objects.filter(status=RunStatus.RUNNING, host=host) if not process_alive(run.pid)
    ]
    BackfillRun.objects.filter(pk__in=stale, status=RunStatus.RUNNING).update(
        status=RunStatus.ABANDONED,
        finished_at=timezone.now(),
        error="the run's process ended without finishing (killed or crashed); nothing it did was committed",
    )
    return stale


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (ours always does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
