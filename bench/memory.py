"""Peak memory of the whole job, as cron runs it: ``run_job`` in a child process of its own.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class ChildRun:
    peak_rss_bytes: int
    seconds: float  # wall clock of the whole process, Python and Django start-up included
    summary: dict[str, Any]


def job_child_run(path: Path, *, database_url: str) -> ChildRun:
    """Run ``run_job --execute --backfill-refs all --file path`` in a child process against
    ``database_url``. Writes that database. Raises ``RuntimeError`` when the run fails."""
    args = ["run_job", "--execute", "--backfill-refs", "all", "--file", str(path), "--format", "json"]
    env = {**os.environ, "DATABASE_URL": database_url, "WDH_LOG_LEVEL": "WARNING"}
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
            raise RuntimeError(f"run_job child exited {child.returncode}: {child.stderr.decode(errors='replace')}")
        return ChildRun(int(peak.read_text()), seconds, json.loads(child.stdout))
