"""Peak memory of the whole job, as cron runs it: ``run_job`` in a child process of its own; and
the reader's own footprint, for comparison: a child that imports what the job imports and reads
the sheet with python-calamine, as the read floor does.

The child (:mod:`bench.peak`) reports its own high-water mark; see there why ``wait4()``'s
``ru_maxrss`` would not do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from bench.peak import READ_SHEET, STREAM_SHEET


@dataclass(frozen=True)
class ChildRun:
    peak_rss_bytes: int
    seconds: float  # wall clock of the whole process, Python and Django start-up included
    summary: dict[str, Any]
    command_seconds: float = 0.0  # wall clock of the command alone (Django's set-up included)


def job_child_run(path: Path | Sequence[Path], *, database_url: str) -> ChildRun:
    """Run ``run_job --execute --backfill-refs all --file path …`` (one ``--file`` per workbook, in
    order: one batch) in a child process against ``database_url``. Writes that database. Raises
    ``RuntimeError`` when the run fails."""
    paths = [path] if isinstance(path, Path) else list(path)
    files = [arg for each in paths for arg in ("--file", str(each))]
    args = ["run_job", "--execute", "--backfill-refs", "all", *files, "--format", "json"]
    report, seconds, stdout = _child(args, database_url)
    return ChildRun(report["peak_rss_bytes"], seconds, json.loads(stdout), report["seconds"])


def reader_child_run(path: Path, sheet: str, *, stream: bool = False) -> ChildRun:
    """A reader's footprint: a child that imports what ``run_job`` imports and reads ``sheet`` of
    ``path`` into a list of rows with python-calamine (the read floor), or (``stream``) reads it
    with wdh's own reader and passes over its rows without keeping them. Reads the file only."""
    report, seconds, _ = _child([STREAM_SHEET if stream else READ_SHEET, str(path), sheet], None)
    return ChildRun(report["peak_rss_bytes"], seconds, {}, report["seconds"])


def _child(args: list[str], database_url: str | None) -> tuple[dict[str, Any], float, bytes]:
    env = {**os.environ, "WDH_LOG_LEVEL": "WARNING"}
    if database_url:
        env["DATABASE_URL"] = database_url
    with tempfile.TemporaryDirectory() as scratch:
        peak = Path(scratch) / "peak"
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "bench.peak", str(peak), *args],
            capture_output=True,
            env=env,
            cwd=settings.BASE_DIR,
            check=False,
        )
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            raise RuntimeError(f"{args[0]} child exited {child.returncode}: {child.stderr.decode(errors='replace')}")
        return json.loads(peak.read_text()), seconds, child.stdout
