"""One run of the monthly job: discover → read → cleanse → derive → backfill → load facts.

``job_run`` is what both commands call (``backfill_refs`` is the job without its fact step). It
starts the run's audit record and branches once, on the request's mode; both branches build the
run's plan with the same function (:func:`jobs.job_plan.job_plan`, reads only), and only execute
hands it to :func:`jobs.job_apply.job_apply` (writes only):

- plan-only: read, then plan in a read-only, repeatable-read transaction; nothing can be
  written. The plan is shown and kept with the audit record (``--apply RUN_ID`` applies it).
- execute: the workbooks checked against the reader's limits (no lock held meanwhile), then the
  backfill advisory lock (taken before the slow reading, so a second run is refused at once),
  then ONE transaction that plans, checks, applies every target and the fact load, in that
  order, and writes the audit record's success. ``--apply RUN_ID`` is execute with the saved
  plan compared with the fresh one before the first write (refused, exit 2, on any drift).

Both check the plan against the warehouse before the first write (``job_preflight``): what
the database would refuse half-way is refused up front, exit 2, with the plan still shown.

The terminal text, the JSON and the audit record are all rendered from the run's one
:class:`~jobs.run_result.RunResult`. Every run leaves exactly one audit record, whatever its end.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from facts.batch import batch_check, batch_check_forget
from facts.domain import domain_configured
from jobs.job_apply import job_apply
from jobs.job_plan import DomainRead, Progress, job_plan, job_preflight, job_read, job_validate, lookup_tables
from jobs.job_request import JobRequest
from jobs.report import record_json
from jobs.run_ending import RunNotStartedError, audit_unwritten, locked_error, run_failed
from jobs.run_result import RunResult
from refs.audit import audit_abandon, audit_finish, audit_start
from refs.drift import PlanDriftError, inputs_drift, plan_drift
from refs.models import BackfillRun, RunMode, RunStatus
from refs.saved_plans import SavedPlan, plan_load, plan_save
from wdh.config import Config, DomainConfig, get_config
from wdh.domain_choice import MULTI_DOMAIN_APPLY, MULTI_DOMAIN_SHEET, domains_chosen
from wdh.errors import ConfigError, ExitCode, InputError, WdhError
from wdh.identifiers import quote_ident
from wdh.interruption import Interruption, RunInterrupted, interruptible
from wdh.postgres import advisory_lock_release, advisory_lock_try, read_only_transaction
from wdh.session import session_configure

logger = logging.getLogger("wdh.jobs")


def job_run(request: JobRequest, *, progress: Progress | None = None) -> RunResult:
    """Run the job and record it. Never raises for a run that failed or was interrupted: the
    result says how it ended (status, error, exit code) and the audit record says the same.
    Raises :class:`RunNotStartedError` when the run's audit record cannot be created, and
    :class:`RunInterrupted` for a signal received before it was."""
    result = RunResult(request=request, mode=RunMode.EXECUTE if request.execute else RunMode.PLAN_ONLY)
    with _no_cycle_collection(), interruptible() as interruption:
        interruption.where = lambda: result.stage
        run = _start(request, result)  # interrupted here: RunInterrupted, the record is left to abandon_runs
        try:
            _run(request, result, run, progress, interruption)
            interruption.hold()
        except (Exception, RunInterrupted) as exc:  # every failure is recorded before it is reported
            interruption.hold()
            run_failed(result, exc, interrupted_by=interruption.signal_name, during=interruption.signal_stage)
            _finish(run, result)
            if not isinstance(exc, WdhError | DatabaseError | RunInterrupted):
                logger.exception("run %s failed unexpectedly", run.pk)
    logger.info(
        "run %s %s %s: %s (exit %s)",
        run.pk,
        request.command,
        "execute" if result.mode is RunMode.EXECUTE else "plan-only",
        result.status,
        int(result.exit_code),
    )
    return result


def _start(request: JobRequest, result: RunResult) -> BackfillRun:
    """Mark earlier unfinished runs abandoned and commit this run's ``running`` record."""
    config = _config_or_none()
    try:
        abandoned = audit_abandon()  # earlier runs of this host killed before they could finish
        run = audit_start(
            command=request.command,
            domain=request.domain,
            mode=result.mode,
            backfill_mode=request.backfill_mode.value if request.targets else "",
            targets=request.targets or "",
            argv=request.argv,
            options=request.options,
            working_dir=request.working_dir,
            config_path=str(config.path) if config else str(settings.WDH_DATA_SOURCES),  # broken: still name it
            config_digest=config.digest if config else "",
            applies=request.applies,
        )
    except DatabaseError as exc:
        raise RunNotStartedError(exc) from exc
    result.audit_id = run.pk
    if abandoned:
        ids = ", ".join(map(str, abandoned))
        result.warnings.append(
            f"marked unfinished run(s) {ids} abandoned: their process on this host ended without "
            "finishing (killed or crashed), so nothing they did was committed"
        )
        logger.warning("marked unfinished run(s) %s abandoned", ids)
    return run


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector for the run. The run's data (100,000 row dicts of str,
    Decimal and date, their candidates and plans) holds no reference cycles, yet building it
    makes the collector traverse all of it again each time the heap grows by a quarter, and
    those pauses land in whatever step allocates next. Reference counting still frees
    everything as usual; the few cycles a run leaves are collected once it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _config_or_none() -> Config | None:
    try:
        return get_config()
    except ConfigError:
        return None  # reported by _run with its key path


def _run(
    request: JobRequest, result: RunResult, run: BackfillRun, progress: Progress | None, interruption: Interruption
) -> None:
    interruption.cancel = session_configure(run.pk)
    config = get_config()
    domains = [domain_configured(config.domain(name)) for name in domains_chosen(config, request.domain)]
    result.domains = tuple(domain.name for domain in domains)
    result.config_digest = config.digest
    for domain in domains:
        result.warnings += job_validate(domain, request)
    if request.applies is not None and result.several:
        raise InputError(MULTI_DOMAIN_APPLY)
    if request.sheet is not None and result.several:  # one sheet for every domain would misread all but one
        raise InputError(MULTI_DOMAIN_SHEET)
    reads: list[DomainRead] = []  # each domain's, as read: their staging tables dropped at the end
    try:
        if result.mode is RunMode.EXECUTE:  # the one branch between plan-only and execute
            _execute(domains, request, result, run, progress, interruption, reads)
        else:
            _plan_only(domains, request, result, run, progress, interruption, reads)
    finally:
        for read in reads:
            read.discard()


def _plan_only(
    domains: list[DomainConfig],
    request: JobRequest,
    result: RunResult,
    run: BackfillRun,
    progress: Progress | None,
    interruption: Interruption,
    reads: list[DomainRead],
) -> None:
    _read(domains, request, result, progress, reads)
    with read_only_transaction():  # the staging tables are temporary: PostgreSQL lets it update them
        plan = job_plan(reads, request, config_digest=result.config_digest, steps=result)
        result.planned(plan)
        result.shows(plan)
        result.at("preflight")
        job_preflight(plan)  # the plan stays shown when it fails
    result.saved = plan.saved
    interruption.check()  # a signal whose exception was lost on the way (wdh/interruption.py)
    result.status = RunStatus.PLANNED
    result.finished_at = timezone.now()
    result.exit_code = _success_code(request, result)
    if result.saved is not None:  # a plan of several domains is not saved (README: --apply)
        with transaction.atomic():
            plan_save(run, result.saved)
    _finish(run, result)


def _execute(
    domains: list[DomainConfig],
    request: JobRequest,
    result: RunResult,
    run: BackfillRun,
    progress: Progress | None,
    interruption: Interruption,
    reads: list[DomainRead],
) -> None:
    result.at("check")
    with result.timed("check"):  # the workbooks' limits, before the lock: a bad file holds nothing up
        for domain in domains:
            batch_check(
                domain, data_dir=request.data_dir, files=list(request.files), max_files=request.max_files,
                sheet=request.sheet,
            )  # fmt: skip
    locked = False
    try:
        result.at("lock")
        locked = advisory_lock_try()
        if not locked:
            raise locked_error()
        saved = _saved_inputs(request, result)
        _read(domains, request, result, progress, reads)
        with transaction.atomic():
            plan = job_plan(reads, request, config_digest=result.config_digest, steps=result)
            result.planned(plan)
            if saved is not None and request.applies is not None and (fresh := plan.saved) is not None:
                result.at("compare with the saved plan")
                changes = plan_drift(saved, fresh)
                if changes:
                    raise PlanDriftError(request.applies, changes)
            result.at("preflight")
            job_preflight(plan)  # before the first write
            assert result.audit_id is not None  # the record exists before the run reads anything
            result.applied(job_apply(plan, run_id=result.audit_id, steps=result, progress=progress))
            result.status = RunStatus.SUCCEEDED
            result.exit_code = _success_code(request, result)
            result.finished_at = timezone.now()
            result.at("audit record", quote_ident(BackfillRun._meta.db_table))
            with result.timed("audit"):
                audit_finish(run, result.audit_end(record_json(result)))  # commits with the warehouse
            interruption.check()  # a signal whose exception was lost on the way (wdh/interruption.py)
            interruption.hold()  # a signal from here on must not stop the COMMIT half-way
    finally:
        batch_check_forget()  # a run that ended before its reading took what the check kept
        if locked:
            _release_lock()


def _read(
    domains: list[DomainConfig],
    request: JobRequest,
    result: RunResult,
    progress: Progress | None,
    reads: list[DomainRead],
) -> None:
    """Each domain's sheet read and cleansed with its own rules, in the configuration's order,
    into ``reads`` (whose staging tables the run drops when it ends)."""
    for domain in domains:
        step = f"read {domain.name}" if result.several else "read"
        result.at("read", *lookup_tables(domain))
        with result.timed(step):
            read = job_read(domain, request, progress=progress, opened=result.opened.append)
        reads.append(read)
        result.read(domain.name, read.batch)


def _success_code(request: JobRequest, result: RunResult) -> ExitCode:
    """0, or 4 for ``--check`` when the plan is not empty: set before the output and the audit
    record are rendered, so both carry the exit code the process ends with."""
    return ExitCode.CHANGES_PENDING if request.check and result.pending else ExitCode.SUCCESS


def _release_lock() -> None:
    try:
        advisory_lock_release()
    except DatabaseError:
        connection.close()  # the connection is gone, and PostgreSQL released the lock with it


def _saved_inputs(request: JobRequest, result: RunResult) -> SavedPlan | None:
    """``--apply``: the saved plan, refused before reading when its files or configuration changed.
    Runs under the lock, so no other apply of the same plan can start meanwhile."""
    if request.applies is None:
        return None
    result.at("saved plan")
    saved = plan_load(request.applies)
    changes = inputs_drift(saved, config_digest=result.config_digest)
    if changes:
        raise PlanDriftError(request.applies, changes)
    return saved


def _finish(run: BackfillRun, result: RunResult) -> None:
    """Record the end of a plan-only, failed, refused or interrupted run, in its own transaction.

    When the failure was the connection itself (server restart, terminated backend), the first
    attempt fails too: reconnect once and write the record on a fresh connection. When that
    fails as well, the result says so and exits 1 (never raises): the record stays ``running``.
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                audit_finish(run, result.audit_end(record_json(result)))
            return
        except DatabaseError as exc:
            if attempt == 2:
                audit_unwritten(result, exc)
                return
            connection.close()
