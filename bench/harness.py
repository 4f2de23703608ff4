"""One benchmark run: every stage of wdh and its floor, side by side, repeated, self-checked.

For each workbook size and repetition, floor and wdh run on identical starting states
(:func:`bench.database.state_reset` before each), on the same data (the floors write the very
candidates and rows wdh derived), in alternating order (floor first on even repetitions, wdh
first on odd ones) so that drift of a noisy machine spreads over both. After each pair the
resulting tables are compared by row count and checksum, and the counts wdh reports against
the floor's: a fast wrong answer fails the run.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection

from bench import floors, stages
from bench.database import Digest, Seed, archived_deleted_rows, raw_connection, state_reset, table_digest
from bench.memory import ChildRun, job_child_run
from bench.network import Traffic
from bench.workbook import Workbook, workbook_for
from domains.annuity_performance.models import FACT_COLUMNS
from facts.company_ids import PendingRows
from refs.backfill import BackfillMode, backfill_plan
from refs.company_ids import planned_company_ids
from wdh.config import get_config
from wdh.postgres import read_only_transaction
from wdh.tables import DEFAULT_DOMAIN

Progress = Callable[[str], None]
Measured = Any  # stages.Measured or floors.Floor: seconds, statements, and a result
DEFAULT_PORTFOLIOS = frozenset({"QTAN001", "QTAN002", "QTAN003"})


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class SizeRun:
    """Everything measured for one workbook size."""

    workbook: Workbook
    seconds: dict[str, list[float]] = field(default_factory=dict)  # stage → one entry per repetition
    statements: dict[str, int] = field(default_factory=dict)  # stage → SQL statements (last repetition)
    job_timings: dict[str, list[float]] = field(default_factory=dict)  # the execute job's own timings
    plan_timings: dict[str, list[float]] = field(default_factory=dict)  # the plan-only job's own timings
    reload_timings: dict[str, list[float]] = field(default_factory=dict)  # the re-load's own timings
    counts: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    child: ChildRun | None = None
    traffic: Traffic | None = None  # --rtt-ms: the latency proxy's statement counter
    round_trips: dict[str, int] = field(default_factory=dict)  # stage → statements through the proxy

    def measure(self, stage: str, call: Callable[[], Measured]) -> Measured:
        """Run ``call`` (a stage or a floor) and record its time and statements under ``stage``."""
        gc.collect()  # garbage of earlier stages is not this stage's cost
        before = self.traffic.statements if self.traffic else 0
        measured = call()
        if self.traffic:
            self.round_trips[stage] = self.traffic.statements - before
        self.seconds.setdefault(stage, []).append(measured.seconds)
        self.statements[stage] = measured.statements
        return measured

    def check(self, name: str, ok: bool, detail: str) -> None:
        if not any(c.name == name and c.ok == ok for c in self.checks):  # once per outcome, not per repetition
            self.checks.append(Check(name, ok, detail))


@dataclass(frozen=True)
class BenchOptions:
    sizes: tuple[int, ...]
    repeat: int
    blank_rows: int
    workdir: Path
    chunk_size: int = 1000
    child_database_url: str | None = None  # None: no child process, no peak RSS
    traffic: Traffic | None = None


def bench_run(options: BenchOptions, progress: Progress | None = None) -> list[SizeRun]:
    """Measure every size. Writes the current database (which must be a benchmark or test one)."""
    say = progress or (lambda message: None)
    runs = []
    for rows in options.sizes:
        say(f"{rows:,} rows: preparing the workbook")
        workbook = workbook_for(rows, blank_rows=options.blank_rows, directory=options.workdir)
        runs.append(_size_run(workbook, options, say))
    return runs


def _size_run(workbook: Workbook, options: BenchOptions, say: Progress) -> SizeRun:
    domain = get_config().domain(DEFAULT_DOMAIN)
    run = SizeRun(workbook, traffic=options.traffic)
    seed = Seed.half_of(workbook.plan_codes, workbook.portfolio_codes)
    for repetition in range(options.repeat):
        say(f"{workbook.spec.rows:,} rows: repetition {repetition + 1}/{options.repeat}")
        last = repetition == options.repeat - 1
        _repetition(run, domain, seed, options, wdh_first=bool(repetition % 2), revert=last)
    if options.child_database_url:
        say(f"{workbook.spec.rows:,} rows: peak RSS of run_job in a child process")
        state_reset(domain, seed)
        run.child = job_child_run(workbook.path, database_url=options.child_database_url)
        run.check("child run_job succeeded", run.child.summary["status"] == "succeeded", run.child.summary["status"])
    state_reset(domain, seed)
    return run


def _repetition(run: SizeRun, domain: Any, seed: Seed, options: BenchOptions, *, wdh_first: bool, revert: bool) -> None:
    floor_rows, (data, raw_rows) = _read_pair(run, domain, wdh_first=wdh_first)
    state_reset(domain, seed)  # the lookups cleansing reads come from the starting state
    cleansed = run.measure("cleanse", lambda: stages.cleanse_stage(domain, data, raw_rows)).value
    derived = run.measure("derive", lambda: stages.derive_stage(domain, cleansed.rows)).value
    rows = cleansed.rows
    _check_input(run, floor_rows, len(raw_rows), cleansed, derived)
    run.counts["company_ids_completed"] = company_ids_complete(domain, seed, derived, cleansed.pending_company_ids)
    _preview(run, domain, seed, derived, rows)
    candidates = [derivation.candidates for derivation in derived]
    for mode in BackfillMode:
        _pair(run, domain, seed, wdh_first, _backfill_pair(domain, mode, derived, candidates, options))
    _pair(run, domain, seed, wdh_first, _facts_pair(domain, rows))
    _jobs(run, domain, seed, revert=revert)


# --- floor against wdh, on identical states ----------------------------------------------------


def _read_pair(run: SizeRun, domain: Any, *, wdh_first: bool) -> tuple[int, Any]:
    """The read floor and wdh's reading, in this repetition's order: (floor's rows, wdh's value)."""
    path = run.workbook.path
    measured: dict[str, Any] = {}
    for side in ("wdh", "floor") if wdh_first else ("floor", "wdh"):
        if side == "floor":
            measured[side] = run.measure("read floor", lambda: floors.read_floor(path, domain.sheet))
        else:
            measured[side] = run.measure("discover+read", lambda: stages.read_stage(domain, run.workbook))
    return measured["floor"].counts["rows"], measured["wdh"].value


@dataclass(frozen=True)
class _Pair:
    stage: str
    floor_stage: str
    tables: list[tuple[str, list[str]]]  # (qualified name, columns) compared afterwards
    floor: Callable[[Any], floors.Floor]
    wdh: Callable[[], stages.Measured]
    compare: Callable[[floors.Floor, stages.Measured], tuple[bool, str]]


def _pair(run: SizeRun, domain: Any, seed: Seed, wdh_first: bool, pair: _Pair) -> None:
    digests: dict[str, list[Digest]] = {}
    measured: dict[str, Any] = {}
    for side in ("wdh", "floor") if wdh_first else ("floor", "wdh"):
        state_reset(domain, seed)
        if side == "floor":
            with raw_connection() as raw:
                measured[side] = run.measure(pair.floor_stage, functools.partial(pair.floor, raw))
        else:
            measured[side] = run.measure(pair.stage, pair.wdh)
        with connection.cursor() as cursor:
            digests[side] = [table_digest(cursor, table, columns) for table, columns in pair.tables]
    same = digests["floor"] == digests["wdh"]
    run.counts[pair.stage] = _digest_report(digests["wdh"])
    run.check(f"{pair.stage}: tables identical to the floor's", same, _digest_detail(pair.tables, digests))
    ok, detail = pair.compare(measured["floor"], measured["wdh"])
    run.check(f"{pair.stage}: counts equal the floor's", ok, detail)


def _backfill_pair(
    domain: Any, mode: BackfillMode, derivations: Sequence[Any], candidates: list[Any], options: BenchOptions
) -> _Pair:
    targets = [derivation.target for derivation in derivations]
    tables = [(t.qualified_name, _columns(t.qualified_name)) for t in targets]
    insert = mode is BackfillMode.INSERT_MISSING
    return _Pair(
        stage=f"backfill {mode.value}",
        floor_stage=f"{'insert' if insert else 'fill'} floor",
        tables=tables,
        floor=lambda raw: (floors.insert_floor if insert else floors.fill_floor)(raw, targets, candidates),
        wdh=lambda: stages.backfill_stage(domain, derivations, mode, options.chunk_size),
        compare=_compare_inserts if insert else _compare_fills,
    )


def _compare_inserts(floor: floors.Floor, measured: stages.Measured) -> tuple[bool, str]:
    wdh = {outcome.target: {"inserted": outcome.inserted} for outcome in measured.value}
    return wdh == floor.counts, f"wdh {wdh}, floor {floor.counts}"


def _compare_fills(floor: floors.Floor, measured: stages.Measured) -> tuple[bool, str]:
    wdh = {
        outcome.target: {"rows_changed": outcome.rows_changed, "cells_filled": dict(outcome.cells_filled)}
        for outcome in measured.value
    }
    return wdh == floor.counts, f"wdh {wdh}, floor {floor.counts}"


def _facts_pair(domain: Any, rows: list[dict[str, Any]]) -> _Pair:
    def compare(floor: floors.Floor, measured: stages.Measured) -> tuple[bool, str]:
        wdh = {"deleted": measured.value.deleted, "inserted": measured.value.inserted}
        return wdh == floor.counts and wdh["inserted"] == len(rows), f"wdh {wdh}, floor {floor.counts}"

    return _Pair(
        stage="fact load",
        floor_stage="facts floor",
        tables=[(domain.facts.qualified, list(FACT_COLUMNS))],
        floor=lambda raw: floors.facts_floor(raw, domain.facts, rows, FACT_COLUMNS),
        wdh=lambda: stages.facts_stage(domain, rows),
        compare=compare,
    )


def _columns(qualified_name: str) -> list[str]:
    from bench.database import table_columns

    with connection.cursor() as cursor:
        return [name for name, _ in table_columns(cursor, qualified_name)]


def _digest_report(digests: list[Digest]) -> dict[str, Any]:
    return {"rows": [d.rows for d in digests], "md5": [d.md5 for d in digests]}


def _digest_detail(tables: list[tuple[str, list[str]]], digests: dict[str, list[Digest]]) -> str:
    return "; ".join(
        f"{name}: wdh {w.rows} rows md5 {w.md5[:12]}, floor {f.rows} rows md5 {f.md5[:12]}"
        for (name, _), w, f in zip(tables, digests["wdh"], digests["floor"], strict=True)
    )


# --- input, preview and the whole job ----------------------------------------------------------


def _check_input(run: SizeRun, floor_rows: int, read_rows: int, cleansed: Any, derivations: Sequence[Any]) -> None:
    spec = run.workbook.spec
    broken = min(2, spec.rows // 50) if spec.realities else 0  # facts.sample breaks these on purpose
    run.counts.update(rows_read=cleansed.rows_read, rows_valid=len(cleansed.rows), row_errors=len(cleansed.errors))
    run.check(
        "rows read equal the read floor's non-blank rows",
        floor_rows == read_rows == cleansed.rows_read == spec.rows,
        f"floor {floor_rows}, wdh read {read_rows}, cleansed {cleansed.rows_read}, workbook {spec.rows}",
    )
    run.check(
        "row errors are exactly the rows broken on purpose",
        len(cleansed.errors) == broken and len(cleansed.rows) == spec.rows - broken,
        f"{len(cleansed.errors)} errors, {len(cleansed.rows)} valid; expected {broken} errors",
    )
    plans, portfolios = (set(derivation.candidates) for derivation in derivations)
    run.counts.update(plan_candidates=len(plans), portfolio_candidates=len(portfolios))
    expected = set(run.workbook.plan_codes), set(run.workbook.portfolio_codes)
    run.check(
        "candidates are the workbook's plans and portfolios",
        plans == expected[0] and portfolios - DEFAULT_PORTFOLIOS == expected[1],
        f"plans {len(plans)} (expected {len(expected[0])}), portfolios {len(portfolios)} "
        f"(expected {len(expected[1])} + defaults {sorted(portfolios & DEFAULT_PORTFOLIOS)})",
    )


def company_ids_complete(domain: Any, seed: Seed, derivations: Sequence[Any], pending: PendingRows) -> int:
    """Give single plans' rows the company_id the run's insert_missing backfill gives their plan,
    as ``run_job`` does after planning 年金计划 (ANNUITY_PERFORMANCE.md §3, company_id rule 3;
    :mod:`facts.company_ids`): the fact rows the floor and the fact load write are then the job's.
    Returns how many rows took one. Resets the database to ``seed`` (see :func:`planned_ids`)."""
    waiting = sum(map(len, pending.rows.values()))
    for ids in planned_ids(domain, seed, derivations):
        pending.complete(ids)
    return waiting - sum(map(len, pending.rows.values()))


def planned_ids(domain: Any, seed: Seed, derivations: Sequence[Any]) -> list[dict[str, str]]:
    """Per target, plan code → the company_id its insert_missing plan writes, planned from
    ``seed``'s state in a read-only transaction (untimed). Resets the database to ``seed``."""
    state_reset(domain, seed)
    with read_only_transaction():
        plans = [backfill_plan(derivation=d, mode=BackfillMode.INSERT_MISSING, chunk_size=1000) for d in derivations]
    return [planned_company_ids(plan) for plan in plans]


def _preview(run: SizeRun, domain: Any, seed: Seed, derivations: Sequence[Any], rows: list[dict[str, Any]]) -> None:
    state_reset(domain, seed)
    measured = run.measure("plan-only preview", lambda: stages.preview_stage(domain, derivations, rows))
    would = {outcome.target: outcome.inserted for outcome in measured.value}
    expected = {
        "plans": len(set(run.workbook.plan_codes) - set(seed.plans)),
        "portfolios": len(set(run.workbook.portfolio_codes) - set(seed.portfolios)) + len(_defaults(derivations)),
    }
    run.check("plan-only preview: would insert every absent key", would == expected, f"{would}, expected {expected}")


def _defaults(derivations: Sequence[Any]) -> set[str]:
    return set(derivations[1].candidates) & DEFAULT_PORTFOLIOS


def _jobs(run: SizeRun, domain: Any, seed: Seed, *, revert: bool) -> None:
    tables = [(t.qualified_name, _columns(t.qualified_name)) for t in domain.targets("plans,portfolios")]
    tables.append((domain.facts.qualified, list(FACT_COLUMNS)))
    state_reset(domain, seed)
    with connection.cursor() as cursor:
        before = [table_digest(cursor, name, columns) for name, columns in tables]
    plan_only = run.measure("plan-only job", lambda: stages.job_stage(run.workbook, execute=False))
    with connection.cursor() as cursor:
        unchanged = [table_digest(cursor, name, columns) for name, columns in tables] == before
    run.check("plan-only job wrote nothing", unchanged, "tables compared before and after")
    state_reset(domain, seed)
    execute = run.measure("whole job", lambda: stages.job_stage(run.workbook, execute=True))
    with connection.cursor() as cursor:
        after = [table_digest(cursor, name, columns) for name, columns in tables]
    expected = run.counts["backfill insert_missing"]["md5"] + run.counts["fact load"]["md5"]
    differing = ", ".join(name for (name, _), d, md5 in zip(tables, after, expected, strict=True) if d.md5 != md5)
    run.check(
        "whole job: tables identical to the insert and facts floors'",
        [d.md5 for d in after] == expected and execute.value["status"] == "succeeded",
        f"status {execute.value['status']}; {[d.rows for d in after]} rows; differing: {differing or 'none'}",
    )
    run.check(
        "plan-only job reports what the execute job did",
        _job_counts(plan_only.value) == _job_counts(execute.value),
        f"plan-only {_job_counts(plan_only.value)}, execute {_job_counts(execute.value)}",
    )
    reload = _reload(run, tables, expected, execute.value, revert=revert)
    for timings, summary in (
        (run.plan_timings, plan_only.value), (run.job_timings, execute.value), (run.reload_timings, reload)
    ):  # fmt: skip
        for step, seconds in summary["timings"].items():
            timings.setdefault(step, []).append(seconds)


RELOAD = "whole job, re-load"


def _reload(
    run: SizeRun, tables: list[tuple[str, list[str]]], expected: list[str], first: dict[str, Any], *, revert: bool
) -> dict[str, Any]:
    """The whole job again on the month it just loaded, as a monthly re-load of a corrected
    workbook runs: delete_insert deletes every row the first run inserted, keeping them in the
    run's fact archive. With ``revert``, then ``revert_run`` of it (once per size: its time is
    printed as information), which must leave every table as the first run did, ids included.
    Returns the re-load's JSON summary."""
    facts = tables[-1]  # the fact table, last of the job's tables
    with connection.cursor() as cursor:
        loaded = table_digest(cursor, facts[0], ["id", *facts[1]])
    measured = run.measure(RELOAD, lambda: stages.job_stage(run.workbook, execute=True))
    summary: dict[str, Any] = measured.value
    with connection.cursor() as cursor:
        after = [table_digest(cursor, name, columns) for name, columns in tables]
        archived = archived_deleted_rows(cursor, int(summary["audit_id"]))
    run.check(
        f"{RELOAD}: tables identical to the whole job's",
        [d.md5 for d in after] == expected and summary["status"] == "succeeded",
        f"status {summary['status']}; {[d.rows for d in after]} rows",
    )
    counts = (summary["facts"]["deleted"], summary["facts"]["inserted"], archived)
    rows = first["facts"]["inserted"]
    run.check(
        f"{RELOAD}: deletes, archives and inserts every row of the month",
        counts == (rows, rows, rows),
        f"deleted, inserted, archived {counts}; the whole job inserted {rows}",
    )
    if revert:
        undone = run.measure("revert of the re-load", lambda: stages.revert_stage(int(summary["audit_id"])))
        with connection.cursor() as cursor:
            restored = table_digest(cursor, facts[0], ["id", *facts[1]])
        run.check(
            "revert of the re-load: the whole job's fact rows back, ids included",
            restored == loaded and undone.value["facts_restored"] == rows,
            f"{restored.rows} rows md5 {restored.md5[:12]}; before the re-load {loaded.rows} md5 {loaded.md5[:12]}",
        )
    return summary


def _job_counts(summary: dict[str, Any]) -> dict[str, Any]:
    targets = {t["target"]: (t["inserted"], t["already_present"]) for t in summary["backfill"]["targets"]}
    return {"targets": targets, "facts": (summary["facts"]["deleted"], summary["facts"]["inserted"])}
