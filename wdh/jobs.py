"""One run of the monthly job: discover → read → cleanse → derive → backfill → load facts.

``job_run`` is what both commands call (``backfill_refs`` is the job without its fact step).
Plan-only and execute run the same steps and build the same plans; the only branch is which
transaction they run in and whether the plans are applied:

- plan-only: a read-only, repeatable-read transaction; nothing can be written.
- execute: the workbooks checked against the reader's limits (no lock held meanwhile), then the
  backfill advisory lock (taken before the slow reading, so a second run is refused at once),
  then ONE transaction for every target and the fact load, in that order, with the audit
  record's success written inside it.

Both check the plans against the warehouse before the first write (``wdh.preflight``): what
the database would refuse half-way is refused up front, exit 2, with the plan still shown.

Every run leaves exactly one audit record, whatever its end.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from facts.batch import FactBatch, SourceSummary, batch_check, batch_read
from facts.cleansing import RowError
from facts.loading import FactMode, FactOutcome, FactPlan, facts_apply, facts_plan, facts_validate, facts_write
from facts.loading import plan_outcome as facts_plan_outcome
from facts.lookups import lookups_read
from refs.archive import RunArchive
from refs.audit import audit_abandon, audit_finish, audit_start
from refs.backfill import (
    BackfillMode,
    BackfillPlan,
    TargetOutcome,
    backfill_apply,
    backfill_plan,
    backfill_validate,
    backfill_write,
    plan_outcome,
    reference_limits,
)
from refs.checks import refs_problems
from refs.company_ids import planned_company_ids
from refs.conflicts import expected_shared
from refs.derivation import derive_candidates
from refs.drift import PlanDriftError, inputs_drift, plan_drift
from refs.models import BackfillRun, RunStatus
from refs.saved_plans import SavedPlan, plan_load, plan_save, saved_plan_of
from wdh.config import Config, DomainConfig, get_config
from wdh.errors import ConfigError, ExitCode, WdhError
from wdh.identifiers import quote_ident
from wdh.interruption import Interruption, RunInterrupted, interruptible
from wdh.postgres import advisory_lock_release, advisory_lock_try, read_only_transaction
from wdh.preflight import domain_reads, preflight_reads, preflight_writes
from wdh.run_ending import RunNotStartedError, audit_unwritten, locked_error, run_failed
from wdh.session import session_configure

logger = logging.getLogger("wdh.jobs")
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class JobRequest:
    """What the operator asked for, after flag validation."""

    command: str
    domain: str
    execute: bool
    targets: str | None  # plans / portfolios / all; None: no backfill
    backfill_mode: BackfillMode = BackfillMode.INSERT_MISSING
    fact_mode: FactMode | None = None  # None: the command has no fact step (backfill_refs)
    skip_facts: bool = False
    check: bool = False  # backfill_refs --check: a plan that is not empty ends with exit 4
    data_dir: Path | None = None
    files: tuple[Path, ...] = ()
    max_files: int | None = None
    sheet: str | int | None = None
    chunk_size: int = 1000
    argv: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    working_dir: str = ""  # where the command was started: what relative paths in argv meant
    applies: int | None = None  # --apply RUN_ID: execute exactly the plan that run saved


@dataclass
class RunResult:
    """Everything a run did or would do; feeds the terminal, the JSON output and the audit."""

    request: JobRequest
    status: RunStatus = RunStatus.RUNNING
    audit_id: int | None = None
    started_at: datetime = field(default_factory=timezone.now)
    finished_at: datetime | None = None
    config_digest: str = ""
    refs_defaulted: bool = False
    files: list[SourceSummary] = field(default_factory=list)
    rows_read: int = 0
    rows_valid: int = 0
    row_errors: list[RowError] = field(default_factory=list)
    company_id_missing: int = 0
    targets: list[TargetOutcome] = field(default_factory=list)
    facts: FactOutcome | None = None
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    error_where: str = ""
    exit_code: ExitCode = ExitCode.SUCCESS
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, in run order
    stage: str = "validate"  # the step under way (words in refs.run_stages), and the tables it works on
    stage_tables: tuple[str, ...] = ()
    opened: list[Path] = field(default_factory=list)  # workbooks opened, the one that failed too
    saved: SavedPlan | None = None  # plan-only: the plan kept with the audit record

    def at(self, stage: str, *tables: str) -> None:
        self.stage, self.stage_tables = stage, tables

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - started

    @property
    def statements(self) -> list[str]:
        statements = [s for outcome in self.targets for s in outcome.statements]
        return statements + (self.facts.statements if self.facts else [])

    @property
    def pending(self) -> bool:
        """Whether the plan is not empty: something would be inserted or filled."""
        return any(outcome.inserted or outcome.cells_filled for outcome in self.targets)


def job_run(
    request: JobRequest, *, progress: Progress | None = None, render: Callable[[RunResult], dict[str, Any]]
) -> RunResult:
    """Run the job and record it. Never raises for a run that failed or was interrupted: the
    result says how it ended (status, error, exit code) and the audit record says the same.
    Raises :class:`RunNotStartedError` when the run's audit record cannot be created, and
    :class:`RunInterrupted` for a signal received before it was."""
    result = RunResult(request=request)
    with _no_cycle_collection(), interruptible() as interruption:
        run = _start(request, result)  # interrupted here: RunInterrupted, the record is left to abandon_runs
        try:
            _run(request, result, run, render, progress, interruption)
            interruption.hold()
        except (Exception, RunInterrupted) as exc:  # every failure is recorded before it is reported
            interruption.hold()
            run_failed(result, exc, interrupted_by=interruption.signal_name)
            _finish(run, result, render)
            if not isinstance(exc, WdhError | DatabaseError | RunInterrupted):
                logger.exception("run %s failed unexpectedly", run.pk)
    logger.info(
        "run %s %s %s: %s (exit %s)",
        run.pk,
        request.command,
        "execute" if request.execute else "plan-only",
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
            request,
            config_path=str(config.path) if config else str(settings.WDH_DATA_SOURCES),  # broken: still name it
            config_digest=config.digest if config else "",
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
    request: JobRequest,
    result: RunResult,
    run: BackfillRun,
    render: Callable[[RunResult], dict[str, Any]],
    progress: Progress | None,
    interruption: Interruption,
) -> None:
    interruption.cancel = session_configure(run.pk)
    config = get_config()
    domain = config.domain(request.domain)
    result.config_digest = config.digest
    _validate(domain, request, result)
    if not request.execute:
        _plan_only(domain, request, result, progress)
        result.exit_code = _success_code(request, result)
        _save(run, result)
        _finish(run, result, render)
        return
    result.at("check")
    with result.timed("check"):  # the workbooks' limits, before the lock: a bad file holds nothing up
        batch_check(
            domain,
            data_dir=request.data_dir,
            files=list(request.files),
            max_files=request.max_files,
            sheet=request.sheet,
        )
    result.at("lock")
    if not advisory_lock_try():
        raise locked_error()
    try:
        saved = _saved_inputs(request, result)
        result.at("read", *_lookup_tables(domain))
        with result.timed("read"):
            batch = _read(domain, request, result, progress)
        _absorb(result, batch)
        with transaction.atomic():
            _execute(domain, request, result, batch, progress, saved=saved)
            result.status = RunStatus.SUCCEEDED
            result.exit_code = _success_code(request, result)
            result.finished_at = timezone.now()
            result.at("audit record", quote_ident(BackfillRun._meta.db_table))
            with result.timed("audit"):
                audit_finish(run, result, render(result))  # commits with the warehouse changes
            interruption.hold()  # a signal from here on must not stop the COMMIT half-way
    finally:
        _release_lock()


def _success_code(request: JobRequest, result: RunResult) -> ExitCode:
    """0, or 4 for ``--check`` when the plan is not empty: set before the output and the audit
    record are rendered, so both carry the exit code the process ends with."""
    return ExitCode.CHANGES_PENDING if request.check and result.pending else ExitCode.SUCCESS


def _release_lock() -> None:
    try:
        advisory_lock_release()
    except DatabaseError:
        connection.close()  # the connection is gone, and PostgreSQL released the lock with it


def _validate(domain: DomainConfig, request: JobRequest, result: RunResult) -> None:
    problems = refs_problems(domain)
    if problems:
        path, problem = problems[0]
        raise ConfigError(path, problem, source=str(get_config().path))
    if request.targets:
        domain.targets(request.targets)
        if domain.refs_defaulted:
            result.refs_defaulted = True
            result.warnings.append(
                f"domains.{domain.name}.refs is absent: using the built-in defaults "
                "(unqualified 年金计划 / 组合计划, keys 年金计划号 / 组合代码)"
            )
    targets = domain.targets(request.targets) if request.targets else ()
    counts_facts = _loads_facts(request) and request.fact_mode is FactMode.DELETE_INSERT
    preflight_reads(domain_reads(domain, targets=targets, facts=counts_facts))


def _lookup_tables(domain: DomainConfig) -> list[str]:
    """The tables reading consults (branch codes, plans' company ids)."""
    plans = [domain.refs["plans"].qualified_name] if "plans" in domain.refs else []
    return [domain.branches.qualified, *plans] if domain.branches else plans


def _read(domain: DomainConfig, request: JobRequest, result: RunResult, progress: Progress | None) -> FactBatch:
    lookups = lookups_read(domain)
    return batch_read(
        domain,
        data_dir=request.data_dir,
        files=list(request.files),
        max_files=request.max_files,
        sheet=request.sheet,
        lookups=lookups,
        progress=progress,
        opened=result.opened.append,
        reference_limits=reference_limits(domain.targets(request.targets)) if request.targets else (),
    )


def _absorb(result: RunResult, batch: FactBatch) -> None:
    result.files = batch.files
    result.rows_read = batch.rows_read
    result.rows_valid = len(batch.rows)
    result.row_errors = batch.errors
    result.warnings += batch.warnings
    if batch.errors:
        result.warnings.append(f"{len(batch.errors)} row(s) failed cleansing and are left out of the load")
    result.warnings += batch.spellings.warnings()


def _absorb_company_ids(result: RunResult, batch: FactBatch) -> None:
    """After the plans: the rows this run's 年金计划 backfill gives a company_id have one."""
    result.company_id_missing = batch.company_id_missing
    if batch.company_id_missing:
        result.warnings.append(f"{batch.company_id_missing} row(s) have no company_id (left empty, never invented)")


def _plan_only(domain: DomainConfig, request: JobRequest, result: RunResult, progress: Progress | None) -> None:
    result.at("read", *_lookup_tables(domain))
    with result.timed("read"):
        batch = _read(domain, request, result, progress)
    _absorb(result, batch)
    with read_only_transaction():
        plans = _plans(domain, request, result, batch)
        result.targets = [plan_outcome(plan) for plan in plans]
        _absorb_company_ids(result, batch)
        if _loads_facts(request):
            result.at("plan facts", domain.facts.qualified)
        fact_plan = _fact_plan(domain, request, batch)
        result.facts = facts_plan_outcome(fact_plan) if fact_plan else _skipped_facts(domain, request)
        result.at("preflight")
        _preflight(domain, request, plans, fact_plan)  # the plan stays shown when it fails
    result.saved = _saved_plan(request, result, plans, fact_plan)
    result.status = RunStatus.PLANNED
    result.finished_at = timezone.now()


def _execute(
    domain: DomainConfig,
    request: JobRequest,
    result: RunResult,
    batch: FactBatch,
    progress: Progress | None,
    *,
    saved: SavedPlan | None = None,
) -> None:
    fact_plan = _fact_plan(domain, request, batch)
    plans = _plans(domain, request, result, batch)
    _absorb_company_ids(result, batch)
    if saved is not None and request.applies is not None:
        result.at("compare with the saved plan")
        changes = plan_drift(saved, _saved_plan(request, result, plans, fact_plan))
        if changes:
            raise PlanDriftError(request.applies, changes)
    result.at("preflight")
    _preflight(domain, request, plans, fact_plan)  # before the first write
    for plan in plans:
        result.at(f"backfill {plan.target.name}", plan.target.qualified_name)
        if progress:
            progress(f"backfilling {plan.target.name}", 0, None)
        with result.timed(f"backfill {plan.target.name}"):
            result.targets.append(backfill_apply(plan, chunk_size=request.chunk_size))
    if fact_plan:
        result.at("facts", domain.facts.qualified)
        if progress:
            progress(f"loading {len(batch.rows)} fact rows", 0, None)
        with result.timed("facts"):
            assert result.audit_id is not None  # the record exists before the run reads anything
            result.facts = facts_apply(fact_plan, archive=RunArchive(run_id=result.audit_id, table=domain.facts))
    else:
        result.facts = _skipped_facts(domain, request)


def _fact_plan(domain: DomainConfig, request: JobRequest, batch: FactBatch) -> FactPlan | None:
    if not _loads_facts(request):
        return None
    facts_validate(domain.facts, domain=domain.name)
    return facts_plan(table=domain.facts, rows=batch.rows, mode=_fact_mode(request))


def _preflight(
    domain: DomainConfig, request: JobRequest, plans: list[BackfillPlan], fact_plan: FactPlan | None
) -> None:
    """Refuse, before the first write, what the database would refuse half-way (wdh.preflight)."""
    writes = [backfill_write(plan) for plan in plans] + ([facts_write(fact_plan)] if fact_plan else [])
    run_job = request.fact_mode is not None  # backfill_refs spells the same flags differently
    flag, mode_flag = ("--backfill-refs", "--backfill-mode") if run_job else ("--targets", "--mode")
    filling = request.targets and request.backfill_mode is BackfillMode.FILL_NULL_ONLY
    then = f" with {mode_flag} insert_missing" if filling else ""
    preflight_writes(writes, fixes={t.qualified_name: f"add {flag} {t.name}{then}" for t in domain.targets("all")})


def _plans(domain: DomainConfig, request: JobRequest, result: RunResult, batch: FactBatch) -> list[BackfillPlan]:
    if not request.targets:
        return []
    targets = domain.targets(request.targets)
    for target in targets:
        backfill_validate(target, request.backfill_mode, domain=domain.name)
    plans = []
    for target in targets:
        result.at(f"plan {target.name}", target.qualified_name)
        with result.timed(f"derive {target.name}"):
            derivation = derive_candidates(batch.rows, target, shared=expected_shared(domain))
        with result.timed(f"plan {target.name}"):
            plans.append(
                backfill_plan(derivation=derivation, mode=request.backfill_mode, chunk_size=request.chunk_size)
            )
        # Single plans' rows take the company_id this backfill gives their plan, as a rerun would.
        batch.company_id_missing -= batch.pending_company_ids.complete(planned_company_ids(plans[-1]))
    return plans


def _saved_plan(
    request: JobRequest, result: RunResult, plans: list[BackfillPlan], fact_plan: FactPlan | None
) -> SavedPlan:
    return saved_plan_of(
        command=request.command,
        request=saved_request(request),
        config_digest=result.config_digest,
        files=result.files,
        plans=plans,
        fact_plan=fact_plan,
    )


def saved_request(request: JobRequest) -> dict[str, Any]:
    """What ``--apply`` runs a saved plan with: the planned run's own choices."""
    return {
        "domain": request.domain,
        "targets": request.targets,
        "backfill_mode": request.backfill_mode.value,
        "fact_mode": request.fact_mode.value if request.fact_mode else None,
        "skip_facts": request.skip_facts,
        "sheet": request.sheet,
        "chunk_size": request.chunk_size,
    }


def _save(run: BackfillRun, result: RunResult) -> None:
    if result.saved is not None:
        with transaction.atomic():
            plan_save(run, result.saved)


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


def _loads_facts(request: JobRequest) -> bool:
    return request.fact_mode is not None and not request.skip_facts


def _fact_mode(request: JobRequest) -> FactMode:
    assert request.fact_mode is not None
    return request.fact_mode


def _skipped_facts(domain: DomainConfig, request: JobRequest) -> FactOutcome | None:
    if request.fact_mode is None:
        return None
    return FactOutcome(table=domain.facts.qualified, mode=request.fact_mode, planned=not request.execute, skipped=True)


def _finish(run: BackfillRun, result: RunResult, render: Callable[[RunResult], dict[str, Any]]) -> None:
    """Record the end of a plan-only, failed, refused or interrupted run, in its own transaction.

    When the failure was the connection itself (server restart, terminated backend), the first
    attempt fails too: reconnect once and write the record on a fresh connection. When that
    fails as well, the result says so and exits 1 (never raises): the record stays ``running``.
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                audit_finish(run, result, render(result))
            return
        except DatabaseError as exc:
            if attempt == 2:
                audit_unwritten(result, exc)
                return
            connection.close()
