"""What a ``revert_run`` was asked (:class:`RevertRequest`) and how it ended (:class:`RevertResult`).

A module of its own below both the revert's orchestration (:mod:`jobs.reversal`) and its rendering
(:mod:`jobs.revert_report`): the orchestration renders the audit record's summary itself, with
the same function the command uses for ``--format json``, and neither imports the other's types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from refs.models import RunMode, RunStatus
from refs.revert import RevertPlan
from wdh.errors import ExitCode, InputError


class RevertRefusedError(InputError):
    """Something of the run must be kept, and ``--partial`` was not given."""


@dataclass(frozen=True)
class RevertRequest:
    run_id: int
    execute: bool
    partial: bool
    argv: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    working_dir: str = ""


@dataclass
class RevertResult:
    request: RevertRequest
    mode: RunMode
    audit_id: int | None = None
    plan: RevertPlan | None = None
    status: RunStatus = RunStatus.RUNNING
    exit_code: ExitCode = ExitCode.SUCCESS
    error: str = ""
    error_where: str = ""  # the stage a failed or interrupted revert names
