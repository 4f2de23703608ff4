"""One ``revert_run``: its own audit record, then the revert's plan — read-only for plan-only;
for execute under the backfill advisory lock and in ONE transaction with its writes and the
record's success, as every execute run.

The revert is refused (exit 2, nothing written, the list in the output and the record) when
anything must be kept (``refs.revert``) and ``--partial`` was not given; plan-only refuses the
same way, so it ends as the execute run would.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs.revert_report import revert_json
from jobs.revert_result import RevertRefusedError, RevertRequest, RevertResult
from jobs.run_ending import database_failure_text, locked_error
from refs.audit import run_origin
from refs.models import BackfillRun, RunMode, RunStatus
from refs.revert import RevertPlan, revert_apply, revert_plan
from wdh.config import get_config
from wdh.errors import ExitCode, InputError, RunLockedError, WdhError
from wdh.interruption import Interruption, RunInterrupted, interruptible
from wdh.postgres import advisory_lock_release, advisory_lock_try, read_only_transaction
from wdh.session import session_configure

logger = logging.getLogger("wdh.reversal")
COMMAND = "revert_run"
LISTED = 20  # kept items named in the error message itself
STAGE = "revert"  # the stage a failed or interrupted revert names


def revert_run(request: RevertRequest) -> RevertResult:
    """Revert (or plan reverting) run ``request.run_id`` and record it. Raises
    :class:`~wdh.errors.InputError` when there is no such run; otherwise never raises: the
    result and the record say how it ended. The one place that reads ``request.execute``:
    plan-only builds the revert's plan in a read-only transaction; execute builds the same plan
    and hands it to ``revert_apply`` under the lock, in one transaction."""
    reverted = BackfillRun.objects.filter(pk=request.run_id).first()
    if reverted is None:
        raise InputError(f"no audit record {request.run_id}: see python manage.py show_run --latest")
    result = RevertResult(request=request, mode=RunMode.EXECUTE if request.execute else RunMode.PLAN_ONLY)
    with interruptible() as interruption:
        record = _start(result, reverted)  # interrupted here: the record is left to abandon_runs
        result.audit_id = record.pk
        try:
            interruption.cancel = session_configure(record.pk)
            if result.mode is RunMode.EXECUTE:
                _execute(request, result, reverted, record, interruption)
            else:
                with read_only_transaction():
                    result.plan = revert_plan(reverted, config=get_config())
                _refuse_unless_partial(result.plan, request)
                interruption.check()  # a signal whose exception was lost on the way (wdh/interruption.py)
                result.status = RunStatus.PLANNED
                interruption.hold()
                _finish(record, result)
        except (Exception, RunInterrupted) as exc:  # every failure is recorded before it is reported
            interruption.hold()
            _failed(result, exc, interruption.signal_name, _tables(reverted))
            if not isinstance(exc, WdhError | DatabaseError | RunInterrupted):
                logger.exception("revert run %s failed unexpectedly", record.pk)
            _finish(record, result)
    return result


def _failed(result: RevertResult, exc: BaseException, signal_name: str, tables: tuple[str, ...]) -> None:
    """How the revert ended, from ``exc`` or the signal that interrupted it."""
    execute = result.mode is RunMode.EXECUTE
    result.status = RunStatus.REFUSED_LOCKED if isinstance(exc, RunLockedError) else RunStatus.FAILED
    result.exit_code = exc.exit_code if isinstance(exc, WdhError) else ExitCode.FAILURE
    result.error = str(exc)
    if execute and not isinstance(exc, RevertRefusedError):
        result.plan = None  # rolled back: nothing of it happened
    if signal_name or isinstance(exc, RunInterrupted):
        done = "the revert's transaction was rolled back, so" if execute else "plan-only,"
        result.status, result.exit_code, result.error_where = RunStatus.INTERRUPTED, ExitCode.FAILURE, STAGE
        name = signal_name or getattr(exc, "signal_name", "a signal")
        result.error = f"interrupted by {name} during {STAGE}: {done} nothing was written. Run it again when ready."
    elif isinstance(exc, DatabaseError):
        result.error, result.error_where = database_failure_text(exc, STAGE, tables), STAGE


def _tables(reverted: BackfillRun) -> tuple[str, ...]:
    """The warehouse tables a revert of ``reverted`` may write: its domain's references and facts."""
    domain = get_config().domains.get(reverted.domain)
    if domain is None:
        return ()
    return (*(target.qualified_name for target in domain.refs.values()), domain.facts.qualified)


def _execute(
    request: RevertRequest,
    result: RevertResult,
    reverted: BackfillRun,
    record: BackfillRun,
    interruption: Interruption,
) -> None:
    if not advisory_lock_try():
        raise locked_error()
    try:
        with transaction.atomic():
            result.plan = revert_plan(reverted, config=get_config())
            _refuse_unless_partial(result.plan, request)
            revert_apply(result.plan, config=get_config(), domain=reverted.domain)
            result.status = RunStatus.SUCCEEDED
            _record(record, result)  # commits with the revert
            interruption.check()  # a signal whose exception was lost on the way (wdh/interruption.py)
            interruption.hold()  # a signal from here on must not stop the COMMIT half-way
    finally:
        try:
            advisory_lock_release()
        except DatabaseError:
            connection.close()  # the connection is gone, and PostgreSQL released the lock with it


def _refuse_unless_partial(plan: RevertPlan, request: RevertRequest) -> None:
    if plan.kept and not request.partial:
        listed = "; ".join(f"{kept.what}: {kept.reason}" for kept in plan.kept[:LISTED])
        if len(plan.kept) > LISTED:
            listed += f"; … (+{len(plan.kept) - LISTED}, every one in the output and the audit record)"
        raise RevertRefusedError(
            f"run {plan.run_id} cannot be reverted whole; {len(plan.kept)} item(s) must be kept — {listed}. "
            "Nothing was written. Add --partial to revert the rest and keep these."
        )


def _start(result: RevertResult, reverted: BackfillRun) -> BackfillRun:
    config, request = get_config(), result.request
    with transaction.atomic():
        return BackfillRun.objects.create(
            command=COMMAND,
            domain=reverted.domain,
            mode=result.mode,
            started_at=timezone.now(),
            **run_origin(),
            argv=list(request.argv),
            options=request.options,
            working_dir=request.working_dir,
            config_path=str(config.path),
            config_digest=config.digest,
            reverted_run=reverted,
        )


def _record(record: BackfillRun, result: RevertResult) -> None:
    """The record's end, rendered from the same result the terminal and ``--format json`` show."""
    plan = result.plan
    record.status = result.status
    record.finished_at = timezone.now()
    record.error = result.error
    record.error_where = result.error_where
    record.summary = revert_json(result, verbosity=2)
    if plan is not None:
        record.statements = plan.statements
        record.warnings = [f"kept {kept.what}: {kept.reason}" for kept in plan.kept]
        record.facts_deleted = plan.facts_deleted
        record.facts_inserted = plan.facts_restored
    record.save()


def _finish(record: BackfillRun, result: RevertResult) -> None:
    """Record the end of a plan-only, refused or failed revert, in its own transaction; when
    the failure was the connection itself, once more on a fresh one. When that fails too, the
    result says so (exit 1) and the record stays ``running`` for ``abandon_runs``."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                _record(record, result)
            return
        except DatabaseError as exc:
            if attempt == 2:
                result.exit_code = ExitCode.FAILURE
                result.error = f"{result.error or 'the revert ended'}; its audit record could not be finished: {exc}"
                return
            connection.close()
