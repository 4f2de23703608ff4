"""The result of one job run (:class:`RunResult`): everything it did or would do, and how it ended.

One value feeds the terminal summary and the JSON output (``jobs.report``) and the audit record
(``refs.audit.RunEnd``, built by :meth:`RunResult.audit_end` from the same value and its JSON
summary). It lives in a module of its own, below the orchestration (``jobs.job_run``), its rendering
(``jobs.report``) and how a failed run ends (``jobs.run_ending``), so that all three import it and
none imports another for its types. The audit layer below does not know it: it is handed a
``RunEnd``, which it defines itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from facts.batch import FactBatch, SourceSummary
from facts.loading import FactOutcome
from facts.row_errors import RowErrors
from jobs.job_apply import JobOutcome
from jobs.job_plan import JobPlan
from jobs.job_request import JobRequest
from refs.audit import RunEnd
from refs.backfill import TargetOutcome
from refs.models import RunMode, RunStatus
from refs.saved_plans import SavedPlan
from wdh.errors import ExitCode


@dataclass
class DomainPart:
    """One domain's part of a run: its sheet's files, rows, row errors and fact load."""

    domain: str
    files: list[SourceSummary] = field(default_factory=list)
    rows_read: int = 0
    rows_valid: int = 0
    row_errors: int = 0
    company_id_missing: int = 0
    facts: FactOutcome | None = None


@dataclass
class RunResult:
    """Everything a run did or would do; feeds the terminal, the JSON output and the audit."""

    request: JobRequest
    mode: RunMode  # plan-only or execute: chosen once, where the run starts
    status: RunStatus = RunStatus.RUNNING
    audit_id: int | None = None
    started_at: datetime = field(default_factory=timezone.now)
    finished_at: datetime | None = None
    config_digest: str = ""
    files: list[SourceSummary] = field(default_factory=list)
    rows_read: int = 0
    rows_valid: int = 0
    row_errors: RowErrors = field(default_factory=RowErrors)  # the batches', in order (bounded memory)
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
    domains: tuple[str, ...] = ()  # the domains the run processes, in the configuration's order
    parts: list[DomainPart] = field(default_factory=list)  # each domain's part, as far as it got

    @property
    def several(self) -> bool:
        """Whether the run processes several domains (a part per domain, facts per part)."""
        return len(self.domains) > 1

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

    def read(self, domain: str, batch: FactBatch) -> None:
        """Take in what reading a domain's sheet found: kept even when planning fails afterwards."""
        self.parts.append(
            DomainPart(
                domain=domain,
                files=batch.files,
                rows_read=batch.rows_read,
                rows_valid=batch.rows_valid,
                row_errors=len(batch.errors),
            )
        )
        self.files = [*self.files, *batch.files]
        self.rows_read += batch.rows_read
        self.rows_valid += batch.rows_valid
        self.row_errors.extend(batch.errors)
        prefix = f"{domain}: " if self.several else ""
        self.warnings += [prefix + warning for warning in batch.warnings]
        if batch.errors:
            self.warnings.append(f"{prefix}{len(batch.errors)} row(s) failed cleansing and are left out of the load")
        self.warnings += [prefix + warning for warning in batch.spellings.warnings()]

    def planned(self, plan: JobPlan) -> None:
        """Take in what planning found: the rows still without a company_id."""
        for part, domain_plan in zip(self.parts, plan.parts, strict=True):
            part.company_id_missing = domain_plan.batch.company_id_missing
        self.company_id_missing = sum(part.company_id_missing for part in self.parts)
        self.warnings += plan.warnings

    def shows(self, plan: JobPlan) -> None:
        """Plan-only: the plan's outcomes, in the conditional."""
        self.targets = plan.target_outcomes()
        self._facts([part.fact_outcome(plan.request) for part in plan.parts])

    def applied(self, outcome: JobOutcome) -> None:
        """Execute: what the database says applying the plan did."""
        self.targets = outcome.targets
        self._facts(outcome.facts)

    def rolled_back(self) -> None:
        """Execute that failed: nothing of the plan happened."""
        self.targets, self.facts = [], None
        for part in self.parts:
            part.facts = None

    def _facts(self, outcomes: list[FactOutcome | None]) -> None:
        for part, facts in zip(self.parts, outcomes, strict=True):
            part.facts = facts
        # one domain: its fact load; several: their totals, for the audit record's counters
        self.facts = outcomes[0] if len(outcomes) == 1 else _facts_total(outcomes)

    def audit_end(self, summary: dict[str, Any]) -> RunEnd:
        """The record of this result, with ``summary`` (its JSON) kept beside it. Pure."""
        return RunEnd(
            status=self.status,
            exit_code=int(self.exit_code),
            finished_at=self.finished_at,
            statements=self.statements,
            warnings=self.warnings,
            summary=summary,
            error=self.error,
            error_where=self.error_where,
            stage=self.stage,
            config_digest=self.config_digest,
            files=self.files,
            opened=self.opened,
            row_errors=self.row_errors,
            targets=self.targets,
            facts=self.facts,
        )


def _facts_total(outcomes: list[FactOutcome | None]) -> FactOutcome | None:
    """Several domains' fact loads as one: the tables named, the rows counted together."""
    loads = [outcome for outcome in outcomes if outcome is not None]
    if not loads:
        return None
    return FactOutcome(
        table=", ".join(outcome.table for outcome in loads),
        mode=loads[0].mode,
        planned=loads[0].planned,
        skipped=all(outcome.skipped for outcome in loads),
        deleted=sum(outcome.deleted for outcome in loads),
        inserted=sum(outcome.inserted for outcome in loads),
        scopes=[scope for outcome in loads for scope in outcome.scopes],
        statements=[statement for outcome in loads for statement in outcome.statements],
    )
