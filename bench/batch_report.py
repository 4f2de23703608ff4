"""The big cases in the report: their targets, their lines of the table, their JSON.

Targets (issue 13, item 3): twelve monthly workbooks of 50,000 rows in one run — peak RSS ≤ 600 MB
and the whole job ≤ 1.3× the sum of the per-file floors (read floor + facts floor); a
1,000,000-row workbook (999,998 rows below the header: wdh refuses a value past row 999,999) —
peak RSS ≤ 1.6 GB and ≤ the reader's own footprint + 300 MB, the reader's footprint being a
child that reads the sheet with wdh's reader (pieces included) keeping no row. A case
that was not run still gets its lines, marked with the flag that runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.batch import FACTS_FLOOR, READ_FLOOR, BatchRun

MB = 1_000_000
YEAR, BIG = "year", "big"
FLAGS = {YEAR: "--year", BIG: "--big"}


def batch_targets(batches: Sequence[BatchRun]) -> list[tuple[str, float | None, float, str, str]]:
    """(name, value, limit, unit, what runs it when not run) of every big-case target."""
    by_name = {run.name: run for run in batches}
    year, big = by_name.get(YEAR), by_name.get(BIG)
    year_label = year.label if year else "12 workbooks × 50,000 rows"
    big_label = big.label if big else "one 999,998-row workbook"  # the most rows wdh reads (bench.__main__)
    year_rss = year.child.peak_rss_bytes / MB if year and year.child else None
    year_ratio = year.child.command_seconds / year.floor_seconds if year and year.child else None
    big_rss = big.child.peak_rss_bytes / MB if big and big.child else None
    over = (
        (big.child.peak_rss_bytes - big.streaming.peak_rss_bytes) / MB if big and big.child and big.streaming else None
    )
    year_flag, big_flag = ("" if year else FLAGS[YEAR]), ("" if big else FLAGS[BIG])
    return [
        (f"{year_label}: peak RSS ≤ 600 MB", year_rss, 600.0, " MB", year_flag),
        (f"{year_label}: whole job ≤ 1.3× per-file floors", year_ratio, 1.3, "×", year_flag),
        (f"{big_label}: peak RSS ≤ 1,600 MB", big_rss, 1600.0, " MB", big_flag),
        (f"{big_label}: peak RSS ≤ reader's footprint + 300 MB", over, 300.0, " MB", big_flag),
    ]


def batch_table(run: BatchRun) -> list[str]:
    """The case's lines of the printed table."""
    first = run.workbooks[0]
    size = sum(workbook.size for workbook in run.workbooks)
    lines = [
        f"{run.label} + {first.spec.trailing_blank_rows:,} blank rows{' each' * (len(run.workbooks) > 1)} "
        f"({size / MB:,.1f} MB), "
        f"{run.rows:,} rows in one run_job, {run.counts.get('plan_candidates', 0):,} plans, "
        f"{run.counts.get('portfolio_candidates', 0):,} portfolios, half present · one repetition",
    ]
    read, facts = sum(run.floors.get(READ_FLOOR, [])), sum(run.floors.get(FACTS_FLOOR, []))
    lines.append(
        f"  per-file floors, summed: read floor {read:.2f} s + facts floor {facts:.2f} s = {run.floor_seconds:.2f} s"
    )
    if run.child:
        ratio = run.child.command_seconds / run.floor_seconds if run.floor_seconds else float("nan")
        lines.append(
            f"  run_job (child process): {run.child.command_seconds:.2f} s ({ratio:.2f}× the floors; "
            f"{run.rows / run.child.command_seconds:,.0f} rows/s), "
            f"peak RSS {run.child.peak_rss_bytes / MB:,.0f} MB "
            f"({run.child.peak_rss_bytes / run.rows / 1000:.2f} kB per row)"
        )
    if run.streaming:
        over = (run.child.peak_rss_bytes - run.streaming.peak_rss_bytes) / MB if run.child else float("nan")
        lines.append(
            f"  reader's own footprint (imports + wdh's reader passing over the rows, none kept; child process): "
            f"{run.streaming.peak_rss_bytes / MB:,.0f} MB; run_job above it: {over:+,.0f} MB"
        )
    if run.reader:
        lines.append(
            f"  the read floor's footprint (python-calamine to a list of rows; information): "
            f"{run.reader.peak_rss_bytes / MB:,.0f} MB"
        )
    return lines


def batch_json(run: BatchRun) -> dict[str, Any]:
    return {
        "case": run.name,
        "label": run.label,
        "files": [
            {"path": str(w.path), "bytes": w.size, "rows": w.spec.rows, "month": w.spec.month} for w in run.workbooks
        ],
        "rows": run.rows,
        "blank_rows": run.workbooks[0].spec.trailing_blank_rows,
        "repetitions": 1,
        "floors_s": {floor: {"per_file": seconds, "sum": sum(seconds)} for floor, seconds in run.floors.items()},
        "floors_sum_s": run.floor_seconds,
        "job_s": run.child.command_seconds if run.child else None,
        "job_process_s": run.child.seconds if run.child else None,
        "job_over_floors": run.child.command_seconds / run.floor_seconds if run.child and run.floor_seconds else None,
        "peak_rss_bytes": run.child.peak_rss_bytes if run.child else None,
        "reader_peak_rss_bytes": run.reader.peak_rss_bytes if run.reader else None,
        "reader_s": run.reader.command_seconds if run.reader else None,
        "reader_streaming_peak_rss_bytes": run.streaming.peak_rss_bytes if run.streaming else None,
        "counts": run.counts,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in run.checks],
    }
