"""The plan of one job run, as a value: :class:`JobPlan`, built by ``job_plan``, which only reads.

A plan holds everything the run would write and why: the files read (path, size, SHA-256) and
their rows, the configuration digest, per target the exact inserts (key and row) and fills (key,
column, new value), the fact load's delete scopes with the rows each holds now and the rows to
load, the warnings, and the statements ``job_apply`` sends for it (templates, with the chunk
count where they repeat). Plan-only renders it; execute hands the same value to
:func:`jobs.job_apply.job_apply`; ``--apply RUN_ID`` compares its saved form
(:attr:`JobPlan.saved`) with the one saved by the planned run first.

Reading the workbooks (``job_read``) is a step of its own: it runs outside the transaction
(execute reads under the lock but before its one transaction, so the slow read holds no
snapshot), and its result is kept by the run's result even when planning fails afterwards. The
rows flow through it chunk by chunk (issue 13 item 1): each target's candidates are folded as
they come (:class:`refs.derivation.CandidateFold`) and the fact rows go to the session's staging
table (:mod:`facts.fact_staging`), which the run drops when it ends (:meth:`DomainRead.discard`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from django.db import DatabaseError

from facts.batch import FactBatch, SourceSummary, batch_read
from facts.domain import domain_get
from facts.fact_staging import FactStaging
from facts.loading import FactMode, FactOutcome, FactPlan, facts_plan, facts_validate, facts_write
from facts.loading import plan_outcome as facts_plan_outcome
from jobs.job_request import JobRequest, saved_request
from refs.backfill import (
    BackfillMode,
    BackfillPlan,
    TargetOutcome,
    backfill_plan,
    backfill_validate,
    backfill_write,
    plan_outcome,
    reference_limits,
)
from refs.candidate_merge import DomainDerivation, candidates_merged, target_differences
from refs.checks import refs_problems
from refs.company_ids import COMPANY_ID, PLAN_CODE, planned_company_ids
from refs.conflicts import expected_shared
from refs.derivation import CandidateFold
from refs.lookup_reading import lookups_read
from refs.saved_plans import SavedPlan, saved_plan_of
from wdh.config import DomainConfig, RefTarget, get_config
from wdh.errors import ConfigError
from wdh.preflight import domain_reads, preflight_reads, preflight_writes

Progress = Callable[[str, int, int | None], None]


class Steps(Protocol):
    """Where the run records the step under way (for its audit record and error messages) and
    how long each step took. :class:`jobs.run_result.RunResult` is one."""

    def at(self, stage: str, *tables: str) -> None: ...

    def timed(self, step: str) -> AbstractContextManager[None]: ...


@dataclass
class DomainRead:
    """One domain's sheet read: its batch (counts, row errors, warnings, its rows staged) and,
    per target it backfills, the fold of its candidates (``job_read``)."""

    domain: DomainConfig
    batch: FactBatch
    folds: dict[str, CandidateFold] = field(default_factory=dict)

    def discard(self) -> None:
        """Drop the staging table (the run ends, whatever its end). Never raises for a
        connection that is gone: PostgreSQL dropped the table with the session."""
        staging = self.batch.staging
        if staging is not None:
            with contextlib.suppress(DatabaseError):
                staging.drop()


@dataclass(frozen=True)
class DomainPlan:
    """One domain's part of a plan: its sheet's files and counts, and its fact load."""

    domain: DomainConfig
    batch: FactBatch  # the files read, the valid rows' counts and staging, row errors, warnings
    facts: FactPlan | None  # None: no fact step, or --skip-facts

    def fact_outcome(self, request: JobRequest) -> FactOutcome | None:
        """The fact load as applying would report it now; skipped with ``--skip-facts``."""
        if self.facts is not None:
            return facts_plan_outcome(self.facts)
        return skipped_facts(self.domain, request, planned=True)


@dataclass(frozen=True)
class JobPlan:
    """What the run would write, against the warehouse as ``job_plan`` read it: every target
    once (candidates merged across the domains, refs.candidate_merge), then each domain's part."""

    request: JobRequest
    config_digest: str
    targets: tuple[BackfillPlan, ...]
    parts: tuple[DomainPlan, ...]  # in the configuration's domain order

    @property
    def files(self) -> list[SourceSummary]:
        return [source for part in self.parts for source in part.batch.files]

    @property
    def statements(self) -> list[str]:
        """The statements ``job_apply`` sends, in its order (values bound, not shown)."""
        statements = [s for plan in self.targets for s in plan.statements]
        return statements + [s for part in self.parts if part.facts for s in part.facts.statements]

    @property
    def warnings(self) -> list[str]:
        """What planning adds to the reading's warnings."""
        prefix = len(self.parts) > 1
        return [
            f"{part.domain.name}: " * prefix + f"{missing} row(s) have no company_id (left empty, never invented)"
            for part in self.parts
            if (missing := part.batch.company_id_missing)
        ]

    @property
    def saved(self) -> SavedPlan | None:
        """The plan as a plan-only run keeps it and ``--apply`` compares it; None for a plan of
        several domains, which is not saved (README: --apply takes one domain's plan). Reads the
        staging table (the fact rows' digest): take it once."""
        if len(self.parts) != 1:
            return None
        part = self.parts[0]
        return saved_plan_of(
            command=self.request.command,
            request=saved_request(self.request),
            config_digest=self.config_digest,
            files=self.files,
            plans=self.targets,
            fact_plan=part.facts,
        )

    def target_outcomes(self) -> list[TargetOutcome]:
        """Per target, what applying would report now (in the conditional)."""
        return [plan_outcome(plan) for plan in self.targets]


def skipped_facts(domain: DomainConfig, request: JobRequest, *, planned: bool) -> FactOutcome | None:
    """The outcome of a fact step left out by ``--skip-facts`` (None: the command has none)."""
    if request.fact_mode is None:
        return None
    return FactOutcome(table=domain.facts.qualified, mode=request.fact_mode, planned=planned, skipped=True)


def job_validate(domain: DomainConfig, request: JobRequest) -> list[str]:
    """Check the configuration and the tables the run reads, before anything is read; return the
    warnings to show. Reads the database (catalog). Raises :class:`ConfigError` with its key path."""
    problems = refs_problems(domain)
    if problems:
        path, problem = problems[0]
        raise ConfigError(path, problem, source=str(get_config().path))
    warnings = []
    targets = domain.targets(request.targets) if request.targets else ()
    if targets and domain.refs_defaulted:
        warnings.append(
            f"domains.{domain.name}.refs is absent: using the built-in defaults "
            "(unqualified 年金计划 / 组合计划, keys 年金计划号 / 组合代码)"
        )
    counts_facts = request.loads_facts and request.fact_mode is FactMode.DELETE_INSERT
    preflight_reads(domain_reads(domain, targets=targets, facts=counts_facts))
    return warnings


def lookup_tables(domain: DomainConfig) -> list[str]:
    """The tables reading consults (branch codes, plans' company ids)."""
    plans = [domain.refs["plans"].qualified_name] if "plans" in domain.refs else []
    return [domain.branches.qualified, *plans] if domain.branches else plans


def job_read(
    domain: DomainConfig, request: JobRequest, *, progress: Progress | None, opened: Callable[[Path], None]
) -> DomainRead:
    """Read and cleanse the request's workbooks, folding each target's candidates and staging
    the fact rows (when the run loads them) as they come. Reads the files and the lookup tables;
    writes only the session's staging table, which the caller drops (:meth:`DomainRead.discard`)."""
    targets = domain.targets(request.targets) if request.targets else ()
    shared = expected_shared(domain) if targets else {}
    folds = {target.name: CandidateFold(target, shared=shared) for target in targets}
    lookups = lookups_read(domain)
    staging = None
    if request.loads_facts or _reads_completed_company_ids(targets):
        staging = FactStaging.create(domain.name, domain.facts.qualified, domain_get(domain.name).fact_columns)
    try:
        batch = batch_read(
            domain,
            data_dir=request.data_dir,
            files=list(request.files),
            max_files=request.max_files,
            sheet=request.sheet,
            lookups=lookups,
            progress=progress,
            opened=opened,
            reference_limits=reference_limits(targets) if targets else (),
            sinks=list(folds.values()),
            staging=staging,
        )
    except BaseException:
        DomainRead(domain, FactBatch(staging=staging)).discard()
        raise
    return DomainRead(domain, batch, folds)


def job_plan(reads: Sequence[DomainRead], request: JobRequest, *, config_digest: str, steps: Steps) -> JobPlan:
    """The run's whole plan: every target once, in order, then each domain's fact load. Reads the
    database and writes nothing in it; run it in the transaction the plan is to hold for
    (read-only for plan-only, the write transaction for execute). Completes the staged rows'
    company ids from the plans' (an UPDATE of the session's temporary staging table, which even a
    read-only transaction allows). ``reads``: each domain's, in the configuration's order."""
    targets = _target_plans(reads, request, steps)
    parts = []
    for read in reads:
        domain, batch = read.domain, read.batch
        facts = None
        if request.loads_facts:
            steps.at("plan facts", domain.facts.qualified)
            assert request.fact_mode is not None and batch.staging is not None
            facts_validate(domain.facts, domain=domain.name)
            batch.staging.complete_company_ids(batch.pending_company_ids.completed)
            facts = facts_plan(
                table=domain.facts, staging=batch.staging, scopes=batch.scopes, mode=request.fact_mode,
                domain=domain.name,
            )  # fmt: skip
        parts.append(DomainPlan(domain=domain, batch=batch, facts=facts))
    return JobPlan(request=request, config_digest=config_digest, targets=targets, parts=tuple(parts))


def _target_plans(reads: Sequence[DomainRead], request: JobRequest, steps: Steps) -> tuple[BackfillPlan, ...]:
    if not request.targets:
        return ()
    declared = [(read.domain, target) for read in reads for target in read.domain.targets(request.targets)]
    problems = target_differences([(domain.name, target) for domain, target in declared])
    if problems:
        raise ConfigError(*problems[0], source=str(get_config().path))
    for domain, target in declared:
        backfill_validate(target, request.backfill_mode, domain=domain.name)
    names = list(dict.fromkeys(target.name for _, target in declared))  # each domain's order kept
    plans: list[BackfillPlan] = []
    for name in names:
        derived: list[DomainDerivation] = []
        shared: set[str] = set()
        for read in reads:
            own = read.domain.refs.get(name)  # every domain declaring it (all declare a named choice)
            if own is None:
                continue
            steps.at(f"plan {name}", own.qualified_name)
            shared.update(expected_shared(read.domain))
            with steps.timed(f"derive {name}"):
                derivation = _fold(read, own).derivation()
            derived.append(DomainDerivation(read.domain.name, derivation))
        with steps.timed(f"plan {name}"):
            plans.append(
                backfill_plan(
                    derivation=candidates_merged(derived, shared=shared),
                    mode=request.backfill_mode,
                    chunk_size=request.chunk_size,
                )
            )
        # Single plans' rows take the company_id this backfill gives their plan, as a rerun would.
        for read in reads:
            read.batch.company_id_missing -= read.batch.pending_company_ids.complete(planned_company_ids(plans[-1]))
    return tuple(plans)


def _completes_company_ids(target: RefTarget) -> bool:
    """Whether ``target``'s plan gives single plans' rows a company_id (refs.company_ids)."""
    return target.key_rule.source == PLAN_CODE and any(rule.source == COMPANY_ID for rule in target.columns)


def _reads_company_id(target: RefTarget) -> bool:
    return any(COMPANY_ID in rule.sources for rule in target.columns)


def _reads_completed_company_ids(targets: Sequence[RefTarget]) -> bool:
    """Whether a target reads the fact company_id after one that completes it: its candidates
    must see the completed ids, as a rerun's would, so it is folded again from the staged rows."""
    first = next((index for index, target in enumerate(targets) if _completes_company_ids(target)), None)
    return first is not None and any(map(_reads_company_id, targets[first + 1 :]))


def _fold(read: DomainRead, target: RefTarget) -> CandidateFold:
    """``target``'s fold of ``read``: the one fed while reading, or — when it reads the fact
    company_id and an earlier target completed some — one fed again from the staged rows, their
    company ids completed first (as the rerun's lookup in 年金计划 would give them)."""
    batch = read.batch
    if not (batch.pending_company_ids.completed and _reads_company_id(target) and batch.staging is not None):
        return read.folds[target.name]
    batch.staging.complete_company_ids(batch.pending_company_ids.completed)
    fold = CandidateFold(target, shared=expected_shared(read.domain))
    for rows in batch.staging.read_back():
        fold.add(rows)
    return fold


def job_preflight(plan: JobPlan) -> None:
    """Refuse, before the first write, what the database would refuse half-way (wdh.preflight).
    Reads the database; raises the refusal with the fix, in the flags of the plan's command."""
    request = plan.request
    writes = [backfill_write(target) for target in plan.targets]
    writes += [facts_write(part.facts) for part in plan.parts if part.facts]
    run_job = request.fact_mode is not None  # backfill_refs spells the same flags differently
    flag, mode_flag = ("--backfill-refs", "--backfill-mode") if run_job else ("--targets", "--mode")
    filling = request.targets and request.backfill_mode is BackfillMode.FILL_NULL_ONLY
    then = f" with {mode_flag} insert_missing" if filling else ""
    fixes = {t.qualified_name: f"add {flag} {t.name}{then}" for part in plan.parts for t in part.domain.targets("all")}
    preflight_writes(writes, fixes=fixes)
