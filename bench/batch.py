"""The big cases: several workbooks in one ``run_job`` (a year's re-load: twelve monthly files), or
one very large workbook — measured once each, as cron runs the job: in a child process.

Per file, the floors (:mod:`bench.floors`): the read floor, then the facts floor loading that
file's rows (its scopes are its month's, so each file's load adds to the ones before). Then
``run_job --execute --backfill-refs all`` over every file in one child process (peak RSS, wall
time), and its tables are compared with what the floors loaded (row counts and checksums of the
plans, the portfolios and the facts). Optionally, the reader's own footprint in another child
(:func:`bench.memory.reader_child_run`). Every step starts from the same state
(:func:`bench.database.state_reset`, half of the batch's codes present).

The floors write the rows wdh's cleansing gives, with the candidates derived over the whole batch
(in the job's order) and the company_id the batch's backfill gives single plans (as the job
completes them): the first pass over the files derives, the second times the floors. Writes the
benchmark database.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from bench import floors, stages
from bench.database import Digest, Seed, raw_connection, state_reset, table_columns, table_digest
from bench.harness import DEFAULT_PORTFOLIOS, Check, planned_ids
from bench.memory import ChildRun, job_child_run, reader_child_run
from bench.workbook import Workbook, codes_union
from domains.annuity_performance.models import FACT_COLUMNS
from refs.derivation import CandidateFold, Derivation
from wdh.config import get_config
from wdh.errors import InputError
from wdh.tables import DEFAULT_DOMAIN

Progress = Callable[[str], None]
READ_FLOOR, FACTS_FLOOR = "read floor", "facts floor"


@dataclass
class BatchRun:
    """One big case: its workbooks (one batch), the floors per file, the job's child run."""

    name: str  # "year" or "big"
    workbooks: tuple[Workbook, ...]
    floors: dict[str, list[float]] = field(default_factory=dict)  # floor → seconds per file
    counts: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    child: ChildRun | None = None  # run_job over every file
    reader: ChildRun | None = None  # the read floor's footprint on the largest file (information)
    streaming: ChildRun | None = None  # the reader's own footprint: wdh's reader, rows passed over

    @property
    def rows(self) -> int:
        return sum(workbook.spec.rows for workbook in self.workbooks)

    @property
    def floor_seconds(self) -> float:
        """The sum of the per-file floors: read floor plus facts floor, over every file."""
        return sum(self.floors.get(READ_FLOOR, [])) + sum(self.floors.get(FACTS_FLOOR, []))

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(f"{self.label}: {name}", ok, detail))

    @property
    def label(self) -> str:
        rows = self.workbooks[0].spec.rows
        count = len(self.workbooks)
        return f"{count} workbooks × {rows:,} rows" if count > 1 else f"one {rows:,}-row workbook"


def batch_run(
    name: str,
    workbooks: Sequence[Workbook],
    *,
    database_url: str,
    reader: bool = False,
    progress: Progress | None = None,
) -> BatchRun:
    """Measure ``workbooks`` as one batch (see the module). Writes the benchmark database. A case
    that cannot run to its end (a file wdh refuses, a failing child) is a failed self-check, with
    what it measured so far, rather than the end of the whole benchmark."""
    run = BatchRun(name, tuple(workbooks))
    domain = get_config().domain(DEFAULT_DOMAIN)
    seed = Seed.half_of(*codes_union(workbooks))
    try:
        _measure(run, domain, seed, database_url=database_url, reader=reader, say=progress or (lambda message: None))
    except (InputError, RuntimeError) as error:
        run.check("ran to its end", False, str(error))
    state_reset(domain, seed)
    return run


def _measure(run: BatchRun, domain: Any, seed: Seed, *, database_url: str, reader: bool, say: Progress) -> None:
    say(f"{run.label}: deriving the batch's candidates (untimed)")
    derivations, kept = _derive(run, domain)
    company_ids = planned_ids(domain, seed, derivations)
    state_reset(domain, seed)
    with raw_connection() as raw:
        floors.insert_floor(raw, [d.target for d in derivations], [d.candidates for d in derivations])
    for index, workbook in enumerate(run.workbooks):
        say(f"{run.label}: floors of file {index + 1}/{len(run.workbooks)}")
        _file_floors(run, domain, workbook, company_ids, kept)
        kept = None
    tables = _tables(domain)
    floor_digests = _digests(tables)
    state_reset(domain, seed)
    say(f"{run.label}: run_job over the batch in a child process (peak RSS)")
    run.child = job_child_run([workbook.path for workbook in run.workbooks], database_url=database_url)
    _check_job(run, tables, floor_digests, _digests(tables))
    if reader:
        say(f"{run.label}: the reader's footprint in a child process")
        largest = max(run.workbooks, key=lambda workbook: workbook.spec.rows)
        run.streaming = reader_child_run(largest.path, domain.sheet, stream=True)
        run.reader = reader_child_run(largest.path, domain.sheet)


def _derive(run: BatchRun, domain: Any) -> tuple[list[Derivation], Any]:
    """First pass: read and cleanse every file in order, folding the candidates; checks the rows.
    Returns the derivations and, for a batch of one file, its cleansing (the second pass's)."""
    folds = [CandidateFold(target) for target in domain.targets("plans,portfolios")]
    kept = None
    read = valid = errors = 0
    broken_ok = True
    for workbook in run.workbooks:
        data, rows = stages.read_stage(domain, workbook).value
        cleansed = stages.cleanse_stage(domain, data, rows).value
        del data, rows
        for fold in folds:
            fold.add(cleansed.rows)
        spec = workbook.spec
        broken = min(2, spec.rows // 50) if spec.realities else 0  # facts.sample breaks these on purpose
        broken_ok &= cleansed.rows_read == spec.rows and len(cleansed.errors) == broken
        read, valid, errors = read + cleansed.rows_read, valid + len(cleansed.rows), errors + len(cleansed.errors)
        kept = cleansed if len(run.workbooks) == 1 else None
        del cleansed
    run.counts.update(rows_read=read, rows_valid=valid, row_errors=errors)
    run.check(
        "every file: rows read are its rows, row errors the rows broken on purpose",
        broken_ok and read == run.rows,
        f"{read} read of {run.rows}, {errors} row errors, {valid} valid",
    )
    derivations = [fold.derivation() for fold in folds]
    plans, portfolios = (set(derivation.candidates) for derivation in derivations)
    expected = tuple(map(set, codes_union(run.workbooks)))
    run.counts.update(plan_candidates=len(plans), portfolio_candidates=len(portfolios))
    run.check(
        "candidates are the batch's plans and portfolios",
        plans == expected[0] and portfolios - DEFAULT_PORTFOLIOS == expected[1],
        f"plans {len(plans)} (expected {len(expected[0])}), portfolios {len(portfolios)} "
        f"(expected {len(expected[1])} + defaults)",
    )
    return derivations, kept


def _file_floors(run: BatchRun, domain: Any, workbook: Workbook, company_ids: list[dict[str, str]], kept: Any) -> None:
    """Second pass, one file: the read floor (timed), its cleansed rows completed as the job does
    (untimed), the facts floor loading them (timed)."""
    gc.collect()
    read = floors.read_floor(workbook.path, domain.sheet)
    run.floors.setdefault(READ_FLOOR, []).append(read.seconds)
    if kept is None:
        data, rows = stages.read_stage(domain, workbook).value
        kept = stages.cleanse_stage(domain, data, rows).value
        del data, rows
    for ids in company_ids:
        kept.pending_company_ids.complete(ids)
    gc.collect()
    with raw_connection() as raw:
        facts = floors.facts_floor(raw, domain.facts, kept.rows, FACT_COLUMNS)
    run.floors.setdefault(FACTS_FLOOR, []).append(facts.seconds)
    run.counts["floor_inserted"] = run.counts.get("floor_inserted", 0) + facts.counts["inserted"]
    run.counts["floor_deleted"] = run.counts.get("floor_deleted", 0) + facts.counts["deleted"]


def _tables(domain: Any) -> list[tuple[str, list[str]]]:
    found = []
    with connection.cursor() as cursor:
        for target in domain.targets("plans,portfolios"):
            found.append((target.qualified_name, [name for name, _ in table_columns(cursor, target.qualified_name)]))
    return [*found, (domain.facts.qualified, list(FACT_COLUMNS))]


def _digests(tables: list[tuple[str, list[str]]]) -> list[Digest]:
    with connection.cursor() as cursor:
        return [table_digest(cursor, name, columns) for name, columns in tables]


def _check_job(run: BatchRun, tables: list[tuple[str, list[str]]], floor: list[Digest], job: list[Digest]) -> None:
    assert run.child is not None
    summary = run.child.summary
    facts = summary.get("facts") or {}
    run.counts["tables"] = {name: {"rows": d.rows, "md5": d.md5} for (name, _), d in zip(tables, job, strict=True)}
    run.check("run_job succeeded", summary.get("status") == "succeeded", str(summary.get("status")))
    run.check(
        "tables identical to the insert and facts floors'",
        floor == job,
        "; ".join(
            f"{name}: job {j.rows} rows md5 {j.md5[:12]}, floors {f.rows} rows md5 {f.md5[:12]}"
            for (name, _), j, f in zip(tables, job, floor, strict=True)
        ),
    )
    rows = summary.get("rows") or {}
    found = (rows.get("read"), rows.get("valid"), (summary.get("row_errors") or {}).get("count"))
    expected = (run.counts["rows_read"], run.counts["rows_valid"], run.counts["row_errors"])
    run.check("run_job's rows read, valid and row errors are the bench's", found == expected, f"{found}, {expected}")
    inserted = facts.get("inserted")
    run.check(
        "fact rows inserted equal the floors' and the valid rows",
        inserted == run.counts["floor_inserted"] == run.counts["rows_valid"],
        f"job {inserted}, floors {run.counts['floor_inserted']}, valid rows {run.counts['rows_valid']}",
    )
