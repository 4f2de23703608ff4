"""A SIGTERM whose exception Python lost on the way — the run's handler raised it inside code
whose exceptions Python ignores (an at-fork hook as a worker was forked, a finalizer) — still
stops the run: before it commits (execute) or records its plan (plan-only), it is interrupted,
exit 1, and nothing is written. Found by the signal tests once the cleansing worker forked at
the start of the read: the run went on to its end and exited 0 (wdh/interruption.py,
wdh/worker_process.py, which now also holds the signals back while it forks)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from facts import batch
from refs.models import BackfillRun, RunStatus
from tests.processes import warehouse_contents
from tests.test_backfill import run_failing
from wdh.interruption import RunInterrupted


@pytest.mark.parametrize("mode", [["--execute"], []], ids=["execute", "plan-only"])
def test_a_signal_whose_exception_was_lost_still_interrupts_the_run(
    seeded: dict[str, Any], job_file: Path, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    reject_empty = batch._reject_empty

    def losing(*args: Any) -> None:  # the rows are read and staged, no statement runs
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs here, raising
        except RunInterrupted:
            pass  # as an at-fork hook or a finalizer loses it
        reject_empty(*args)

    monkeypatch.setattr(batch, "_reject_empty", losing)
    error, summary = run_failing("run_job", "--file", str(job_file), "--backfill-refs", "all", *mode)

    assert error.returncode == 1 and summary["status"] == "interrupted"
    # the stage named is the one the signal came during, not the one where it was caught
    assert summary["error"]["message"].startswith("interrupted by SIGTERM during read:")
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.INTERRUPTED
    assert warehouse_contents() == seeded
