"""wdh's stages, measured by calling its public services the way ``jobs/job_run.py`` does.

Each function runs one stage on the current Django connection and returns a :class:`Measured`:
wall-clock seconds (a database stage includes its commit), the SQL statements Django sent (COPY
and transaction control are not counted: they bypass Django's execute wrappers), and the
stage's result. The whole job runs through ``call_command('run_job', …)``, as a user runs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import StringIO
from typing import Any, cast

from django.core.management import call_command
from django.db import connection, transaction

from bench.workbook import Workbook
from domains.annuity_performance.cleansing import HEADER_RENAMES, check_columns, cleanse_sheet
from facts.discovery import discover_files
from facts.domain import domain_get
from facts.duplicates import file_sha256
from facts.excel import SheetData, read_sheet
from facts.fact_staging import FactStaging
from facts.loading import FactMode, facts_apply, facts_plan, facts_validate
from refs.backfill import BackfillMode, backfill_apply, backfill_plan, backfill_validate, plan_outcome
from refs.derivation import Derivation, derive_candidates
from refs.lookup_reading import lookups_read
from wdh.postgres import read_only_transaction


@dataclass
class Measured:
    seconds: float = 0.0
    statements: int = 0
    value: Any = None


class _Counter:
    """A Django execute wrapper that counts the statements sent."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


@contextlib.contextmanager
def measuring() -> Iterator[Measured]:
    """Time the block and count the statements it sends through Django."""
    measured, counter = Measured(), _Counter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        yield measured
        measured.seconds = time.perf_counter() - started
    measured.statements = counter.count


class _Replay:
    """A sheet's row stream, replayed from rows already read (so cleansing is timed alone)."""

    def __init__(self, rows: list[tuple[int, tuple[Any, ...]]], blank_rows: int) -> None:
        self.rows, self.blank_rows = rows, blank_rows

    def take(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        return iter(self.rows)


def read_stage(domain: Any, workbook: Workbook) -> Measured:
    """Discover the workbook under its folder, read the sheet's header and every non-blank row,
    hash the file (as ``batch_read`` does). Value: ``(SheetData, rows)``. Reads files only."""
    with measuring() as measured:
        (source,) = discover_files(domain, data_dir=workbook.data_dir)
        data = read_sheet(source.path, domain.sheet, renames=HEADER_RENAMES)
        rows = list(data.iter_rows())
        file_sha256(source.path)
    measured.value = (data, rows)
    return measured


def cleanse_stage(domain: Any, data: SheetData, rows: list[tuple[int, tuple[Any, ...]]]) -> Measured:
    """Read the lookups, check the columns, cleanse every row. Value: the cleansing result."""
    replay = dataclasses.replace(data, _stream=cast(Any, _Replay(rows, data.blank_rows)))
    with measuring() as measured:
        lookups = lookups_read(domain)
        check_columns(replay)
        measured.value = cleanse_sheet(replay, mappings=domain.mappings, lookups=lookups)
    return measured


def derive_stage(domain: Any, rows: Sequence[dict[str, Any]]) -> Measured:
    """Candidates of plans, then portfolios. Value: the derivations. Pure."""
    with measuring() as measured:
        measured.value = [derive_candidates(rows, target) for target in domain.targets("plans,portfolios")]
    return measured


def backfill_stage(domain: Any, derivations: Sequence[Derivation], mode: BackfillMode, chunk_size: int) -> Measured:
    """Validate, plan and apply every target in one transaction (committed), as an execute run
    does. Value: the targets' outcomes. Writes the database."""
    with measuring() as measured, transaction.atomic():
        for derivation in derivations:
            backfill_validate(derivation.target, mode, domain=domain.name)
        plans = [backfill_plan(derivation=d, mode=mode, chunk_size=chunk_size) for d in derivations]
        measured.value = [backfill_apply(plan, chunk_size=chunk_size) for plan in plans]
    return measured


def _staged(domain: Any, rows: Sequence[dict[str, Any]]) -> FactStaging:
    """The rows in a staging table, as reading leaves them for the load (there, copied while the
    next chunk is cleansed). Writes the session's temporary table."""
    staging = FactStaging.create(domain.name, domain.facts.qualified, domain_get(domain.name).fact_columns)
    staging.add(rows)
    return staging


def _scopes(domain: Any, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return list(dict.fromkeys(tuple(row[column] for column in domain.facts.pk) for row in rows))


def facts_stage(domain: Any, rows: Sequence[dict[str, Any]]) -> Measured:
    """Stage the rows (COPY into the run's temporary table), then validate, plan and apply the
    delete_insert fact load in one transaction (committed). Value: the fact outcome. Writes the
    database."""
    with measuring() as measured:
        staging = _staged(domain, rows)
        with transaction.atomic():
            facts_validate(domain.facts, domain=domain.name)
            plan = facts_plan(
                table=domain.facts, staging=staging, scopes=_scopes(domain, rows), mode=FactMode.DELETE_INSERT,
                domain=domain.name,
            )  # fmt: skip
            measured.value = facts_apply(plan)
        staging.drop()
    return measured


def preview_stage(domain: Any, derivations: Sequence[Derivation], rows: Sequence[dict[str, Any]]) -> Measured:
    """Plan-only's database part: plan every target (insert_missing) and the fact load in a
    read-only transaction. Value: the targets' planned outcomes. Reads the database."""
    staging = _staged(domain, rows)  # reading's work, not the preview's
    with measuring() as measured, read_only_transaction():
        plans = [backfill_plan(derivation=d, mode=BackfillMode.INSERT_MISSING, chunk_size=1000) for d in derivations]
        facts_plan(
            table=domain.facts, staging=staging, scopes=_scopes(domain, rows), mode=FactMode.DELETE_INSERT,
            domain=domain.name,
        )  # fmt: skip
    staging.drop()
    measured.value = [plan_outcome(plan) for plan in plans]
    return measured


def job_stage(workbook: Workbook, *, execute: bool) -> Measured:
    """``manage.py run_job --execute|--plan-only --backfill-refs all --file …`` in-process.
    Value: its JSON summary. Raises ``CommandError`` when the run fails."""
    out = StringIO()
    mode = "--execute" if execute else "--plan-only"
    args = ["run_job", mode, "--backfill-refs", "all", "--file", str(workbook.path), "--format", "json"]
    with measuring() as measured:
        call_command(*args, stdout=out, stderr=StringIO())
    measured.value = json.loads(out.getvalue())
    return measured


def revert_stage(run_id: int) -> Measured:
    """``manage.py revert_run RUN_ID --execute`` in-process. Value: its JSON summary. Raises
    ``CommandError`` when the revert fails or is refused."""
    out = StringIO()
    with measuring() as measured:
        call_command("revert_run", str(run_id), "--execute", "--format", "json", stdout=out, stderr=StringIO())
    measured.value = json.loads(out.getvalue())
    return measured
