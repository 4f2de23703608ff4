"""The result of one job run (:class:`RunResult`): everything it did or would do, and how it ended.

One value feeds the terminal summary and the JSON output (``wdh.report``) and the audit record
(``refs.audit.RunEnd``, built by :meth:`RunResult.audit_end` from the same value and its JSON
summary). It lives in a module of its own, below the orchestration (``wdh.jobs``), its rendering
(``wdh.report``) and how a failed run ends (``wdh.run_ending``), so that all three import it and
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
from facts.cleansing import RowError
from facts.loading import FactOutcome
from refs.audit import RunEnd
from refs.backfill import TargetOutcome
from refs.models import RunMode, RunStatus
from refs.saved_plans import SavedPlan
from wdh.errors import ExitCode
from wdh.job_apply import JobOutcome
from wdh.job_plan import JobPlan
from wdh.job_request import JobRequest


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

    def read(self, batch: FactBatch) -> None:
        """Take in what reading found: kept even when planning fails afterwards."""
        self.files = batch.files
        self.rows_read = batch.rows_read
        self.rows_valid = len(batch.rows)
        self.row_errors = batch.errors
        self.warnings += batch.warnings
        if batch.errors:
            self.warnings.append(f"{len(batch.errors)} row(s) failed cleansing and are left out of the load")
        self.warnings += batch.spellings.warnings()

    def planned(self, plan: JobPlan) -> None:
        """Take in what planning found: the rows still without a company_id."""
        self.company_id_missing = plan.batch.company_id_missing
        self.warnings += plan.warnings

    def shows(self, plan: JobPlan) -> None:
        """Plan-only: the plan's outcomes, in the conditional."""
        self.targets = plan.target_outcomes()
        self.facts = plan.fact_outcome()

    def applied(self, outcome: JobOutcome) -> None:
        """Execute: what the database says applying the plan did."""
        self.targets = outcome.targets
        self.facts = outcome.facts

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
