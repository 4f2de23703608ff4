"""A revert's result as the terminal shows it and as ``--format json`` (and its audit record)
keeps it: the conditional for plan-only ("would delete"), the past for execute ("deleted")."""

from __future__ import annotations

from typing import Any

from jobs.revert_result import RevertResult
from refs.models import RunMode, RunStatus

SAMPLE = 20


def revert_json(result: RevertResult, *, verbosity: int) -> dict[str, Any]:
    """The result as one JSON object; every key and cell at verbosity 2, a sample below."""
    plan = result.plan
    shown = None if verbosity >= 2 else SAMPLE
    summary: dict[str, Any] = {
        "audit_id": result.audit_id,
        "command": "revert_run",
        "reverted_run": result.request.run_id,
        "mode": "execute" if result.mode is RunMode.EXECUTE else "plan_only",
        "partial": result.request.partial,
        "status": str(result.status),
        "exit_code": int(result.exit_code),
        "error": result.error,
    }
    if plan is not None:
        summary |= {
            "keys_deleted": [f"{key.target}:{key.key}" for key in plan.keys][:shown],
            "keys_deleted_count": len(plan.keys),
            "cells_cleared": [f"{cell.target}:{cell.key}.{cell.column}" for cell in plan.cells][:shown],
            "cells_cleared_count": len(plan.cells),
            "facts_deleted": plan.facts_deleted,
            "facts_restored": plan.facts_restored,
            "kept": [{"what": kept.what, "reason": kept.reason} for kept in plan.kept],
            "statements": plan.statements,
        }
    return summary


def revert_lines(result: RevertResult, *, verbosity: int) -> list[str]:
    """The result for the terminal, one line per fact."""
    plan = result.plan
    done = result.status is RunStatus.SUCCEEDED
    head = f"revert of run {result.request.run_id}: {result.status.label} [audit record {result.audit_id}]"
    if plan is None:
        return [head]
    keys = _sample([f"{key.target}:{key.key}" for key in plan.keys], verbosity)
    cells = _sample([f"{cell.target}:{cell.key}.{cell.column}" for cell in plan.cells], verbosity)
    lines = [
        head,
        f"  {_verb(done, 'deleted', 'delete')} {len(plan.keys)} reference key(s){keys}",
        f"  {_verb(done, 'cleared', 'clear')} {len(plan.cells)} filled cell(s){cells}",
        f"  {_verb(done, 'deleted', 'delete')} {plan.facts_deleted} fact row(s) the run inserted, "
        f"{_verb(done, 'restored', 'restore')} {plan.facts_restored} it deleted",
    ]
    lines += [f"  kept {kept.what}: {kept.reason}" for kept in plan.kept]
    return lines


def _verb(done: bool, past: str, present: str) -> str:
    return past if done else f"would {present}"


def _sample(items: list[str], verbosity: int) -> str:
    if not items or verbosity < 1:
        return ""
    shown = items if verbosity >= 2 else items[:SAMPLE]
    more = f" … (+{len(items) - len(shown)})" if len(shown) < len(items) else ""
    return ": " + ", ".join(shown) + more
