"""A run page's "Saved plan" section: the plan's state and the runs linked to it, both ways.

A plan-only run's page shows its plan's state (planned → approved, rejected or superseded →
applied or refused), who reviewed it, the newer plan that superseded it or the older ones it
superseded, and every run that applied it or tried to. An apply run's page links back to the
plan it applies and shows that plan's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from refs.models import BackfillRun, PlanState, RunPlan


@dataclass(frozen=True)
class PanelRun:
    """A run the section links to: its id, its page, and its status in words (the text links
    of show_run and the "Linked runs" section are :class:`refs.run_links.RunLink`)."""

    pk: int
    url: str
    status: str


@dataclass(frozen=True)
class PlanPanel:
    """What the section shows. ``plan`` is the plan-only run's own plan, or for an apply run
    the plan it applies (``applies``)."""

    plan: RunPlan
    badge: SafeString
    applies: PanelRun | None = None  # an apply run: the plan-only run whose plan it applies
    superseded_by: PanelRun | None = None
    supersedes: list[PanelRun] = field(default_factory=list)
    outcome: PanelRun | None = None  # the run that applied the plan, or refused to
    attempts: list[PanelRun] = field(default_factory=list)  # every run that applied or tried to

    @property
    def reviewable(self) -> bool:
        return self.applies is None and self.plan.state == PlanState.PLANNED


def run_link(run: BackfillRun) -> PanelRun:
    return PanelRun(run.pk, reverse("admin:refs_backfillrun_change", args=[run.pk]), run.get_status_display())


def plan_badge(state: str) -> SafeString:
    """The plan's state as a coloured label, as on the run list."""
    return format_html('<span class="wdh-plan wdh-plan-{}">{}</span>', state, PlanState(state).label)


def plan_panel(run: BackfillRun) -> PlanPanel | None:
    """The section for ``run``, or ``None`` when it has no plan and applies none. Reads."""
    applies = run.applies
    planned_by = applies if applies is not None else run
    plan = RunPlan.objects.defer("data").filter(run=planned_by).select_related("superseded_by", "outcome_run").first()
    if plan is None:
        return None
    superseded = BackfillRun.objects.filter(saved_plan__superseded_by=planned_by).order_by("pk")
    return PlanPanel(
        plan=plan,
        badge=plan_badge(plan.state),
        applies=run_link(applies) if applies is not None else None,
        superseded_by=run_link(plan.superseded_by) if plan.superseded_by else None,
        supersedes=[run_link(older) for older in superseded],
        outcome=run_link(plan.outcome_run) if plan.outcome_run else None,
        attempts=[run_link(attempt) for attempt in planned_by.applied_by.order_by("pk")],
    )
