"""Medians, ratios and targets of a benchmark run; the printed table and the JSON document.

Every ratio is a ratio of medians measured in the same run on the same data. The targets are
those of the performance issue (13, item 3), judged on the largest workbook of at least 100,000
rows, and on the big cases (:mod:`bench.batch_report`) when they were run; a target that was not
measured is printed with what measures it.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.batch import BatchRun
from bench.batch_report import batch_json, batch_table, batch_targets
from bench.harness import Check, SizeRun

JSON_SCHEMA = "wdh.bench/1"
TARGET_ROWS = 100_000
MB = 1_000_000

# (stage, the floor it is compared with, its row in the table)
STAGES: tuple[tuple[str, str | None], ...] = (
    ("discover+read", "read floor"),
    ("cleanse", None),
    ("derive", None),
    ("backfill insert_missing", "insert floor"),
    ("backfill fill_null_only", "fill floor"),
    ("fact load", "facts floor"),
    ("audit", None),
    ("plan-only preview", "insert floor"),
    ("whole job", "read floor"),
    ("plan-only job", None),
    ("whole job, re-load", None),  # information: the month loaded again (delete_insert deletes it first)
    ("revert of the re-load", None),  # information, one repetition: revert_run of that re-load
)
FLOORS = ("read floor", "insert floor", "fill floor", "facts floor")
PLAN_ONLY_RATIOS = ("plan-only job / execute job (database stages)", "plan-only job / execute job (whole)")
BOTH_FLOORS = "whole job / (read floor + facts floor)"  # the two floors the job cannot avoid
RATIOS = (*(f"{stage} / {floor}" for stage, floor in STAGES if floor), BOTH_FLOORS, *PLAN_ONLY_RATIOS)
# The steps of the jobs' own timings that are not database work (reading and deriving).
_NOT_DATABASE = ("read", "derive plans", "derive portfolios")


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    limit: float
    unit: str = "×"
    missing: str = ""  # when not measured: the option that measures it

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value <= self.limit


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def stage_medians(run: SizeRun) -> dict[str, float]:
    medians = {stage: median(seconds) for stage, seconds in run.seconds.items()}
    medians["audit"] = median(run.job_timings.get("audit", []))
    return medians


def database_seconds(run: SizeRun) -> dict[str, float]:
    """Each job's wall time minus its own reading and deriving: the database stages (plan or
    backfill, fact plan or load, audit record), per the jobs' timings, medians."""

    def per_run(walls: list[float], timings: dict[str, list[float]]) -> float:
        rest = [sum(timings.get(step, [0.0] * len(walls))[i] for step in _NOT_DATABASE) for i in range(len(walls))]
        return median([wall - other for wall, other in zip(walls, rest, strict=True)])

    return {
        "plan-only job": per_run(run.seconds["plan-only job"], run.plan_timings),
        "whole job": per_run(run.seconds["whole job"], run.job_timings),
    }


def ratios(run: SizeRun) -> dict[str, float]:
    medians = stage_medians(run)
    result = {f"{stage} / {floor}": medians[stage] / medians[floor] for stage, floor in STAGES if floor}
    result[BOTH_FLOORS] = medians["whole job"] / (medians["read floor"] + medians["facts floor"])
    db = database_seconds(run)
    result[PLAN_ONLY_RATIOS[0]] = db["plan-only job"] / db["whole job"]
    result[PLAN_ONLY_RATIOS[1]] = medians["plan-only job"] / medians["whole job"]
    return result


def targets(runs: Sequence[SizeRun], batches: Sequence[BatchRun] = ()) -> list[Target]:
    """Every target of the issue: measured, or (value None) with the option that measures it."""
    large = [run for run in runs if run.workbook.spec.rows >= TARGET_ROWS]
    run = max(large, key=lambda r: r.workbook.spec.rows) if large else None
    measured = ratios(run) if run else {}
    rss = run.child.peak_rss_bytes / MB if run and run.child else None
    missing = "--rows 100000" if run is None else ""
    found = [
        Target("whole job ≤ 1.3× (read floor + facts floor)", measured.get(BOTH_FLOORS), 1.3, missing=missing),
        Target(
            "insert_missing ≤ 2.0× write floor",
            measured.get("backfill insert_missing / insert floor"),
            2.0,
            missing=missing,
        ),
        Target(
            "fill_null_only ≤ 2.0× write floor",
            measured.get("backfill fill_null_only / fill floor"),
            2.0,
            missing=missing,
        ),
        Target("fact load ≤ 1.5× write floor", measured.get("fact load / facts floor"), 1.5, missing=missing),
        Target(
            "plan-only ≤ 1.2× execute's database stages",
            measured.get("plan-only job / execute job (database stages)"),
            1.2,
            missing=missing,
        ),
        Target("peak RSS ≤ 500 MB", rss, 500.0, " MB", missing=missing or ("" if rss else "without --no-rss")),
    ]
    small = min(runs, key=lambda r: r.workbook.spec.rows) if runs else None
    if run and small is not None and small is not run and small.child and run.child:
        # Linear or better: bytes per row at the large size no more than at the small one.
        per_row = run.child.peak_rss_bytes / run.workbook.spec.rows
        growth = per_row / (small.child.peak_rss_bytes / small.workbook.spec.rows)
        name = f"RSS per row, {run.workbook.spec.rows:,} / {small.workbook.spec.rows:,} rows ≤ 1.0"
        found.append(Target(name, growth, 1.0))
    found += [Target(name, value, limit, unit, flag) for name, value, limit, unit, flag in batch_targets(batches)]
    return found


def machine() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": server,
        "database": connection.settings_dict["NAME"],
        "host": connection.settings_dict["HOST"] or "localhost",
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def all_checks_ok(runs: Sequence[SizeRun], batches: Sequence[BatchRun] = ()) -> bool:
    return all(check.ok for check in _checks(runs, batches))


def _checks(runs: Sequence[SizeRun], batches: Sequence[BatchRun]) -> list[Check]:
    return [check for run in runs for check in run.checks] + [check for batch in batches for check in batch.checks]


def bench_json(
    runs: Sequence[SizeRun],
    *,
    options: dict[str, Any],
    machine_info: dict[str, Any],
    batches: Sequence[BatchRun] = (),
) -> dict[str, Any]:
    return {
        "schema": JSON_SCHEMA,
        "machine": machine_info,
        "options": options,
        "checks_ok": all_checks_ok(runs, batches),
        "targets": [
            {"name": t.name, "value": t.value, "limit": t.limit, "met": t.met, "not_run": t.missing or None}
            for t in targets(runs, batches)
        ],
        "sizes": [_size_json(run) for run in runs],
        "batches": [batch_json(batch) for batch in batches],
    }


def _size_json(run: SizeRun) -> dict[str, Any]:
    medians = stage_medians(run)
    rows = run.workbook.spec.rows
    return {
        "rows": rows,
        "workbook": {
            "path": str(run.workbook.path),
            "bytes": run.workbook.size,
            "blank_rows": run.workbook.spec.trailing_blank_rows,
            "plans": len(run.workbook.plan_codes),
            "portfolios": len(run.workbook.portfolio_codes),
        },
        "repetitions": len(run.seconds.get("whole job", [])),
        "stages": {
            stage: {
                "median_s": seconds,
                "rows_per_s": rows / seconds if seconds else None,
                "runs_s": run.seconds.get(stage) or run.job_timings.get(stage, []),
                "statements": run.statements.get(stage),
                "round_trips": run.round_trips.get(stage),  # --rtt-ms only: statements through the proxy
            }
            for stage, seconds in medians.items()
        },
        "ratios": ratios(run),
        "database_stages_s": database_seconds(run),
        "job_timings_s": {step: median(values) for step, values in run.job_timings.items()},
        "plan_only_timings_s": {step: median(values) for step, values in run.plan_timings.items()},
        "reload_timings_s": {step: median(values) for step, values in run.reload_timings.items()},
        "peak_rss_bytes": run.child.peak_rss_bytes if run.child else None,
        "child_job_s": run.child.seconds if run.child else None,
        "counts": run.counts,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in run.checks],
    }


def bench_table(
    runs: Sequence[SizeRun], *, machine_info: dict[str, Any], batches: Sequence[BatchRun] = ()
) -> list[str]:
    """The table as lines of text."""
    lines = [
        f"wdh benchmark · {machine_info['date']} · {machine_info['cpus']} CPUs ({machine_info['cpu']}) · "
        f"Python {machine_info['python']} · PostgreSQL {machine_info['postgresql']}"
        + ("" if machine_info.get("rtt_ms") is None else f" · latency proxy, RTT {machine_info['rtt_ms']:g} ms"),
    ]
    for run in runs:
        lines += ["", *_size_table(run)]
    for batch in batches:
        lines += ["", *batch_table(batch)]
    large = [r.workbook.spec.rows for r in runs if r.workbook.spec.rows >= TARGET_ROWS]
    judged = f"the {max(large):,}-row workbook" if large else "no workbook of 100,000 rows or more"
    lines += ["", f"targets (judged on {judged} and the big cases run):"]
    for target in targets(runs, batches):
        verdict = f"not run ({target.missing})" if target.missing else _verdict(target.met)
        value = "—" if target.value is None else f"{target.value:,.2f}{target.unit}"
        lines.append(f"  {target.name:<62} {value:>12}  {verdict}")
    checks = _checks(runs, batches)
    failed = [check for check in checks if not check.ok]
    total = len(checks)
    lines += ["", f"self-checks: {total - len(failed)}/{total} passed"]
    lines += [f"  FAILED {check.name}: {check.detail}" for check in failed]
    return lines


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "MISSED")


def _size_table(run: SizeRun) -> list[str]:
    spec, workbook = run.workbook.spec, run.workbook
    medians = stage_medians(run)
    lines = [
        f"{spec.rows:,} rows + {spec.trailing_blank_rows:,} blank rows ({workbook.size / MB:.1f} MB), "
        f"{len(workbook.plan_codes):,} plans, {len(workbook.portfolio_codes):,} portfolios, half present · "
        f"median of {len(run.seconds['whole job'])}",
        f"  {'stage':<26}{'median s':>10}{'rows/s':>11}{'stmts':>8}   {'floor':<13}{'floor s':>9}{'ratio':>8}",
    ]
    for stage, floor in STAGES:
        seconds = medians[stage]
        statements = run.statements.get(stage)
        floor_text = f"{floor:<13}{medians[floor]:>9.3f}{seconds / medians[floor]:>7.2f}×" if floor else ""
        lines.append(
            f"  {stage:<26}{seconds:>10.3f}{spec.rows / seconds:>11,.0f}"
            f"{'' if statements is None else statements:>8}   {floor_text}"
        )
    lines.append(
        f"  whole job / (read floor + facts floor): {medians['whole job']:.3f} s / "
        f"({medians['read floor']:.3f} + {medians['facts floor']:.3f}) s = {ratios(run)[BOTH_FLOORS]:.2f}×"
    )
    reload, facts = medians["whole job, re-load"], median(run.job_timings.get("facts", []))
    lines.append(
        f"  re-load of the loaded month: {reload:.3f} s = {reload / medians['whole job']:.2f}× the whole job; "
        f"its facts step {median(run.reload_timings.get('facts', [])):.3f} s, the first load's {facts:.3f} s"
    )
    db = database_seconds(run)
    lines.append(
        f"  database stages: plan-only {db['plan-only job']:.3f} s, execute {db['whole job']:.3f} s "
        f"({db['plan-only job'] / db['whole job']:.2f}×)"
    )
    floor_statements = ", ".join(f"{floor} {run.statements.get(floor, '—')}" for floor in FLOORS[1:])
    lines.append(f"  floor statements (COPY included): {floor_statements}")
    if run.round_trips:
        trips = ", ".join(f"{stage} {count}" for stage, count in run.round_trips.items())
        lines.append(f"  statements through the latency proxy (last repetition): {trips}")
    if run.child:
        lines.append(
            f"  peak RSS of run_job (child process): {run.child.peak_rss_bytes / MB:,.0f} MB "
            f"({run.child.peak_rss_bytes / spec.rows / 1000:.2f} kB per row); its wall time {run.child.seconds:.2f} s"
        )
    return lines
