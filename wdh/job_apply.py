"""Applying a :class:`~wdh.job_plan.JobPlan`: ``job_apply`` writes exactly the plan it is given —
every target's inserts or fills, in the plan's order, then the fact load — and reports what the
database says it did (:class:`JobOutcome`). It decides nothing: what to write was decided by
``job_plan``, and the statements it sends are those the plan lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from facts.loading import FactOutcome, facts_apply
from refs.archive import RunArchive
from refs.backfill import TargetOutcome, backfill_apply
from wdh.job_plan import JobPlan, Progress, Steps, skipped_facts


@dataclass(frozen=True)
class JobOutcome:
    """What applying a plan did: per target, and the fact load (None: the command has none)."""

    targets: list[TargetOutcome]
    facts: FactOutcome | None


def job_apply(plan: JobPlan, *, run_id: int, steps: Steps, progress: Progress | None = None) -> JobOutcome:
    """Write ``plan``: must run inside the run's one transaction (no savepoint around it), after
    the plan was checked (``job_preflight``). Writes the warehouse, and keeps the fact rows the
    load deletes and inserts in run ``run_id``'s archive (for ``revert_run``)."""
    targets = []
    for target in plan.targets:
        steps.at(f"backfill {target.target.name}", target.target.qualified_name)
        if progress:
            progress(f"backfilling {target.target.name}", 0, None)
        with steps.timed(f"backfill {target.target.name}"):
            targets.append(backfill_apply(target, chunk_size=plan.request.chunk_size))
    if plan.facts is None:
        return JobOutcome(targets=targets, facts=skipped_facts(plan, planned=False))
    steps.at("facts", plan.domain.facts.qualified)
    if progress:
        progress(f"loading {len(plan.facts.rows)} fact rows", 0, None)
    with steps.timed("facts"):
        facts = facts_apply(plan.facts, archive=RunArchive(run_id=run_id, table=plan.domain.facts))
    return JobOutcome(targets=targets, facts=facts)
