"""What the operator asked a job run for (:class:`JobRequest`), after flag validation, and what
a saved plan keeps of it (``saved_request``), so that ``--apply RUN_ID`` runs with the same choices.

``execute`` is read once, where a run starts (:func:`jobs.job_run.job_run` turns it into the
result's mode and branches on it); below that, the plan and the apply take no mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facts.loading import FactMode
from refs.backfill import BackfillMode


@dataclass(frozen=True)
class JobRequest:
    """What the operator asked for, after flag validation."""

    command: str
    domain: str
    execute: bool
    targets: str | None  # plans / portfolios / all; None: no backfill
    backfill_mode: BackfillMode = BackfillMode.INSERT_MISSING
    fact_mode: FactMode | None = None  # None: the command has no fact step (backfill_refs)
    skip_facts: bool = False
    check: bool = False  # backfill_refs --check: a plan that is not empty ends with exit 4
    data_dir: Path | None = None
    files: tuple[Path, ...] = ()
    max_files: int | None = None
    sheet: str | int | None = None
    chunk_size: int = 1000
    argv: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    working_dir: str = ""  # where the command was started: what relative paths in argv meant
    applies: int | None = None  # --apply RUN_ID: execute exactly the plan that run saved

    @property
    def loads_facts(self) -> bool:
        return self.fact_mode is not None and not self.skip_facts


def saved_request(request: JobRequest) -> dict[str, Any]:
    """What ``--apply`` runs a saved plan with: the planned run's own choices. Pure."""
    return {
        "domain": request.domain,
        "targets": request.targets,
        "backfill_mode": request.backfill_mode.value,
        "fact_mode": request.fact_mode.value if request.fact_mode else None,
        "skip_facts": request.skip_facts,
        "sheet": request.sheet,
        "chunk_size": request.chunk_size,
    }
