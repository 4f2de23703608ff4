"""Applying a :class:`~jobs.job_plan.JobPlan`: ``job_apply`` writes exactly the plan it is given —
every target's inserts or fills, in the plan's order, then the fact load — and reports what the
database says it did (:class:`JobOutcome`). It decides nothing: what to write was decided by
``job_plan``, and the statements it sends are those the plan lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from facts.loading import FactOutcome, facts_apply
from jobs.job_plan import JobPlan, Progress, Steps, skipped_facts
from refs.archive import RunArchive
from refs.backfill import TargetOutcome, backfill_apply


@dataclass(frozen=True)
class JobOutcome:
    """What applying a plan did: per target, and per domain its fact load (None: the command has
    none), in the plan's domain order."""

    targets: list[TargetOutcome]
    facts: list[FactOutcome | None]


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
    facts: list[FactOutcome | None] = []
    several = len(plan.parts) > 1
    for part in plan.parts:
        if part.facts is None:
            facts.append(skipped_facts(part.domain, plan.request, planned=False))
            continue
        step = f"facts {part.domain.name}" if several else "facts"
        steps.at(step, part.domain.facts.qualified)
        if progress:
            progress(f"loading {part.facts.rows} fact rows" + f" ({part.domain.name})" * several, 0, None)
        with steps.timed(step):
            facts.append(facts_apply(part.facts, archive=RunArchive(run_id=run_id, table=part.domain.facts)))
    return JobOutcome(targets=targets, facts=facts)
