"""The life of a saved plan (issue 12 items 3 and 5), and every change to it.

A plan-only run's :class:`~refs.models.RunPlan` starts ``planned``. Then:

- a reviewer with ``refs.approve_run`` approves or rejects it in the admin (``plan_review``),
  once: the decision is recorded with who, when and the comment;
- a newer plan-only run for the same domain and month supersedes it, approved or not
  (``plans_supersede``, when the newer plan is saved): an approved plan of a month someone has
  planned again is stale, and cron must never apply it while a newer plan exists;
- an apply run (``--apply RUN_ID``, ``run_job --apply-approved``) settles it (``plan_settle``):
  ``applied`` in the apply's own transaction, or ``refused`` with the reason when the apply
  ended with exit 2 (the plan no longer holds).

Only ``planned`` and ``approved`` can still change, and every change is one conditional UPDATE
of wdh's own table (``WHERE state IN (…)``): of two sessions racing for the same plan, exactly
one wins and the other is told what happened. Nothing here touches the warehouse.

A plan's *months* are the ``YYYY-MM`` its workbooks name — the file name, else the nearest
folder, as discovery reads them (``facts.discovery.year_month_of``). Two plans are "for the same
month" when their domains are equal and their months share one; a plan whose files name no month
supersedes nothing and is superseded by nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from facts.discovery import year_month_of
from refs.models import BackfillRun, PlanState, RunPlan, RunStatus
from wdh.errors import ExitCode, InputError
from wdh.postgres import plan_states_lock

OPEN = (PlanState.PLANNED, PlanState.APPROVED)  # the states an apply or a newer plan may still change
COMMENT_LIMIT = 2000  # characters of a review comment


class ReviewRefused(InputError):
    """The plan cannot be approved or rejected (any more); nothing was changed."""


class PlanClosedError(InputError):
    """An apply run found its plan no longer open (superseded or rejected meanwhile); rolled back."""


def plan_months(paths: Iterable[str]) -> list[str]:
    """``YYYY-MM`` of every month the workbooks at ``paths`` name, sorted. Pure."""
    found = {year_month_of(PurePath(path)) for path in paths}
    return sorted(f"{year:04d}-{month:02d}" for year, month in (m for m in found if m is not None))


def plans_supersede(plan: RunPlan) -> None:
    """Settle ``plan`` (just saved) against the other plans of its domain and months: older open
    plans become superseded by it, and it is itself superseded by a newer plan saved before it
    (a plan-only run that started later but ended first). Writes ``RunPlan`` rows; call it in
    the transaction that saves ``plan``."""
    if not plan.months:
        return
    plan_states_lock()  # concurrent saves of the same month see each other
    run = plan.run
    same = RunPlan.objects.filter(run__domain=run.domain, months__overlap=plan.months).exclude(pk=plan.pk)
    older = list(same.filter(run_id__lt=run.pk).values_list("pk", flat=True))
    # The state test on the UPDATE itself (no join, no subquery): PostgreSQL re-checks it on a
    # row an apply run changed meanwhile, so an applied plan never becomes superseded.
    _open(pk__in=older).update(state=PlanState.SUPERSEDED, superseded_by=run)
    newer = same.filter(run_id__gt=run.pk).order_by("-run_id").values_list("run_id", flat=True).first()
    if newer is not None:
        RunPlan.objects.filter(pk=plan.pk).update(state=PlanState.SUPERSEDED, superseded_by_id=newer)


def plan_review(run_id: int, *, approve: bool, user: str, comment: str) -> RunPlan:
    """Approve or reject the plan of run ``run_id`` as ``user``. Writes one ``RunPlan`` row and
    nothing else. Raises :class:`ReviewRefused` when that run has no plan, its plan is not
    ``planned`` any more (the message says what it is), or its run never recorded its end."""
    if len(comment) > COMMENT_LIMIT:
        raise ReviewRefused(f"the comment has {len(comment):,} characters; at most {COMMENT_LIMIT:,} are kept")
    state = PlanState.APPROVED if approve else PlanState.REJECTED
    plan = RunPlan.objects.select_related("run").defer("data").filter(run_id=run_id).first()
    if plan is None:
        raise ReviewRefused(f"run {run_id} kept no plan to review: only a plan-only run that ended planned has one")
    if plan.run.status != RunStatus.PLANNED:  # its end was never recorded: apply would refuse it
        raise ReviewRefused(f"run {run_id} is {plan.run.get_status_display()}, not a plan-only run that ended planned")
    with transaction.atomic():
        planned = RunPlan.objects.filter(run_id=run_id, state=PlanState.PLANNED)
        changed = planned.update(state=state, reviewed_by=user, reviewed_at=timezone.now(), review_comment=comment)
        plan.refresh_from_db(fields=["state", "reviewed_by", "reviewed_at", "superseded_by", "outcome_run"])
    if not changed:
        verb = "approved" if approve else "rejected"
        raise ReviewRefused(f"the plan of run {run_id} was not {verb}: it is {plan_state_text(plan)}")
    return plan


def plans_approved() -> list[int]:
    """The plan-only runs whose plans are approved and unapplied, oldest first. Reads."""
    approved = RunPlan.objects.filter(state=PlanState.APPROVED, run__status=RunStatus.PLANNED)
    approved = approved.order_by("run__started_at", "run_id")
    return list(approved.values_list("run_id", flat=True))


def plan_settle(run: BackfillRun, *, exit_code: int) -> None:
    """Record what apply run ``run`` did to the plan it applies: ``applied`` when it succeeded
    (call it inside the apply's transaction: raises :class:`PlanClosedError`, rolling the apply
    back, when the plan was superseded or rejected meanwhile), ``refused`` with its error when it
    ended with exit 2; other ends (locked, interrupted, a failure) leave the plan as it was."""
    if run.applies_id is None:
        return
    still_open = _open(run_id=run.applies_id)
    if run.status == RunStatus.SUCCEEDED:
        if not still_open.update(state=PlanState.APPLIED, outcome_run=run):
            plan = RunPlan.objects.get(run_id=run.applies_id)
            raise PlanClosedError(
                f"--apply {run.applies_id}: not applied, the plan is {plan_state_text(plan)} now; nothing was written"
            )
    elif run.status == RunStatus.FAILED and exit_code == ExitCode.USER_ERROR:
        still_open.update(state=PlanState.REFUSED, outcome_run=run, refusal=run.error)


def _open(**lookups: Any) -> QuerySet[RunPlan]:
    """The plans matching ``lookups`` that are still open, for an UPDATE of wdh's own table
    whose conditions are all on its own columns (re-checked by PostgreSQL on a changed row)."""
    return RunPlan.objects.filter(state__in=OPEN, **lookups)


def plan_state_text(plan: RunPlan) -> str:
    """The plan's state in words, with who or which run set it: for refusals and the admin."""
    when = f"{timezone.localtime(plan.reviewed_at):%Y-%m-%d %H:%M}" if plan.reviewed_at else ""
    reviewed = f" by {plan.reviewed_by} at {when}" if when else ""
    if plan.state == PlanState.SUPERSEDED:
        return f"superseded by run {plan.superseded_by_id} (a newer plan for the same month; review that one)"
    if plan.state == PlanState.APPLIED:
        return f"already applied by run {plan.outcome_run_id}"
    if plan.state == PlanState.REFUSED:
        return f"refused by run {plan.outcome_run_id} when applied (it no longer held; plan again)"
    if plan.state in {PlanState.APPROVED, PlanState.REJECTED}:
        return f"{plan.state}{reviewed}"
    return "planned, waiting for review"
