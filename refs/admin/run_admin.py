"""The audit records' list and read-only page: nobody adds, changes or deletes a run here. The
one change the admin makes is a reviewer's decision on a saved plan (refs.admin.plan_review)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.safestring import SafeString

from refs.admin.counts import array_length, count_of
from refs.admin.plan_filter import PlanStateFilter
from refs.admin.plan_panel import plan_badge
from refs.admin.plan_review import may_review, review_post
from refs.admin.run_display import duration_text, failure_reason, status_badge
from refs.admin.run_page import run_detail
from refs.admin.run_search import run_matches, run_search
from refs.admin.targets import MODELS, ModelAdmin
from refs.models import BackfillRun, RunFile, RunMode, RunTarget


class TargetFilter(admin.SimpleListFilter):
    title = "target"
    parameter_name = "target"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        named = [(name, f"{name} ({model._meta.db_table})") for name, model in MODELS.items()]
        return [*named, ("none", "none (facts only)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "none":
            return queryset.filter(targets="")
        if value in MODELS:  # "all", or the name among the comma-separated ones
            return queryset.filter(Q(targets="all") | Q(targets__regex=rf"(^|,){re.escape(value)}(,|$)"))
        return queryset


@admin.register(BackfillRun)
class BackfillRunAdmin(ModelAdmin):
    list_display = (
        "run",
        "command",
        "status_label",
        "mode",
        "targets_text",
        "started",
        "duration",
        "files_count",
        "inserted",
        "filled",
        "warnings_count",
        "reason",
        "plan_state",
    )
    list_filter = ("status", "mode", PlanStateFilter, TargetFilter, "started_at")
    date_hierarchy = "started_at"
    ordering = ("-started_at",)  # newest first; the changelist breaks ties by id
    search_fields = ("keys__key", "cells__key", "files__path")  # shows the box; see get_search_results
    search_help_text = "A whole reference key (e.g. P0047 or QTAN001), or part of a workbook's file name."
    list_per_page = 50
    actions = None
    change_list_template = "admin/refs/backfillrun/change_list.html"
    detail_template = "admin/refs/backfillrun/detail.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        per_target = (
            RunTarget.objects.filter(run=OuterRef("pk"))
            .order_by()
            .values("run")
            .annotate(n=Sum(array_length("warnings")))
        )
        runs: QuerySet[BackfillRun] = super().get_queryset(request)
        return runs.defer("summary", "statements", "options").annotate(
            plan=F("saved_plan__state"),
            files_total=count_of(RunFile, run=OuterRef("pk")),
            warnings_total=array_length("warnings") + Coalesce(Subquery(per_target.values("n")), 0),
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[BackfillRun], search_term: str
    ) -> tuple[QuerySet[BackfillRun], bool]:
        search = run_search(search_term)
        if search.problem:
            messages.warning(request, search.problem)
            return queryset.none(), False
        for term in search.terms:
            queryset = queryset.filter(run_matches(term))
        return queryset, False

    def get_urls(self) -> list[URLPattern]:
        review = path(
            "<path:object_id>/review/",
            self.admin_site.admin_view(review_post),
            name=f"{self.opts.app_label}_{self.opts.model_name}_review",
        )
        return [review, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method not in {"GET", "HEAD"}:
            raise PermissionDenied("backfill runs are audit records and cannot be changed")
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404(f"There is no backfill run {object_id!r}.")
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **run_detail(run, request.GET),
            "opts": self.opts,
            "title": f"Run {run.pk} · {run.command} · {run.get_mode_display()}",
            "original": run,
            "has_view_permission": True,
            "may_review": may_review(request),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.detail_template, context)

    @admin.display(description="run", ordering="id")
    def run(self, obj: BackfillRun) -> str:
        return f"#{obj.pk}"

    @admin.display(description="status", ordering="status")
    def status_label(self, obj: BackfillRun) -> SafeString:
        return status_badge(obj, short=True)

    @admin.display(description="targets", ordering="targets")
    def targets_text(self, obj: BackfillRun) -> str:
        return obj.targets or "—"

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: BackfillRun) -> str:
        return f"{timezone.localtime(obj.started_at):%Y-%m-%d %H:%M}"

    @admin.display(description="duration")
    def duration(self, obj: BackfillRun) -> str:
        return duration_text(obj.duration_seconds)

    @admin.display(description="files", ordering="files_total")
    def files_count(self, obj: Any) -> int:
        return int(obj.files_total)

    @admin.display(description="keys", ordering="inserted_total")
    def inserted(self, obj: BackfillRun) -> str:
        return _count_text(obj, obj.inserted_total, done="inserted", would="would insert")

    @admin.display(description="cells", ordering="filled_total")
    def filled(self, obj: BackfillRun) -> str:
        return _count_text(obj, obj.filled_total, done="filled", would="would fill")

    @admin.display(description="reason")
    def reason(self, obj: BackfillRun) -> SafeString | str:
        return failure_reason(obj)

    @admin.display(description="plan", ordering="plan")
    def plan_state(self, obj: Any) -> SafeString | str:
        return plan_badge(obj.plan) if obj.plan else "—"

    @admin.display(description="warnings", ordering="warnings_total")
    def warnings_count(self, obj: Any) -> str:
        return str(obj.warnings_total or "—")


def _count_text(run: BackfillRun, count: int, *, done: str, would: str) -> str:
    """``5 inserted``, or for a plan-only run ``would insert 5``; ``—`` for none."""
    if not count:
        return "—"
    return f"{would} {count:,}" if run.mode == RunMode.PLAN_ONLY else f"{count:,} {done}"
