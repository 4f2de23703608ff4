"""The admin: backfill runs for reviewers, reference tables for the data team.

- Audit records are evidence: nobody adds, changes or deletes them through the admin,
  superusers included (pghistory's read-only event admin is the model). A run's detail page is
  a readable layout (``admin/refs/backfillrun/detail.html``) whose keys and cells are paginated:
  one run can list tens of thousands.
- Reference rows (年金计划, 组合计划) are browsable and searchable; staff with the model
  permission may add or edit rows by hand, and Django's admin log records each change. Rows are
  never deleted here: fact rows point at them, and the warehouse's owners delete by SQL.

Only active staff reach any of it (``AdminSite.has_permission``). Reads only, except the
reference edits Django's change form saves.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db import models
from django.db.models import Count, Exists, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from refs.models import AnnuityPlan, BackfillRun, Portfolio, RunCell, RunFile, RunKey, RunMode, RunStatus, RunTarget
from wdh.config import DEFAULT_REFS, get_config
from wdh.errors import ConfigError
from wdh.tables import DEFAULT_DOMAIN

PAGE_SIZE = 100  # keys / cells per page on a run's detail page
RELATED_LIMIT = 50  # portfolios listed on a plan's page; the rest via the filtered list

admin.site.site_header = "wdh · reference backfill"
admin.site.site_title = "wdh admin"
admin.site.index_title = "Reference tables and backfill runs"

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
else:  # ModelAdmin is generic only in django-stubs, which is not a runtime dependency
    ModelAdmin = admin.ModelAdmin

_TARGETS: dict[type[models.Model], str] = {AnnuityPlan: "plans", Portfolio: "portfolios"}
_MODEL_NAMES = {"plans": "annuityplan", "portfolios": "portfolio"}


def duration_text(seconds: float | None) -> str:
    """A duration as a person reads it: ``850 ms``, ``12.4 s``, ``3 min 05 s``, ``2 h 07 min``."""
    if seconds is None:
        return "unfinished"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def status_badge(run: BackfillRun, *, short: bool = False) -> SafeString:
    """The status as a coloured label; ``short`` drops the explanation ("failed", "refused")."""
    label = run.get_status_display()
    text = label.split(" (")[0].split(":")[0] if short else label
    title = run.error_where or run.error or label
    return format_html('<span class="wdh-status wdh-status-{}" title="{}">{}</span>', run.status, title, text)


def attention_columns(model: type[models.Model]) -> tuple[str, ...]:
    """The derived columns of ``model``'s target that a person fills when the data lacks them.

    Reads the configuration's ``updatable`` list; a broken configuration (reported by
    ``manage.py check``) falls back to the built-in defaults rather than breaking the admin.
    """
    target = _TARGETS[model]
    try:
        updatable = get_config().domain(DEFAULT_DOMAIN).refs[target].updatable
    except (ConfigError, KeyError):
        updatable = DEFAULT_REFS[target].updatable
    fields = {field.name for field in model._meta.concrete_fields}
    return tuple(column for column in updatable if column in fields)


def _change_url(target: str, key: str) -> str:
    return reverse(f"admin:refs_{_MODEL_NAMES[target]}_change", args=[quote(key)])


def _portfolios_url(plan: str) -> str:
    return reverse("admin:refs_portfolio_changelist") + "?" + urlencode({"年金计划号": plan})


def _creating_runs(target: str, key: str) -> QuerySet[BackfillRun]:
    """Succeeded execute runs that inserted ``key`` into ``target`` (normally one)."""
    inserted = RunKey.objects.filter(run=OuterRef("pk"), target=target, key=key)
    return BackfillRun.objects.filter(Exists(inserted), mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED)


def _array_length(field: str) -> Func:
    return Func(F(field), function="jsonb_array_length", output_field=IntegerField())


def _count(model: type[models.Model], **filters: Any) -> Coalesce:
    rows = model._default_manager.filter(**filters).order_by().values(*filters).annotate(n=Count("pk"))
    return Coalesce(Subquery(rows.values("n")), 0)


# --- list filters -----------------------------------------------------------------------------


class TargetFilter(admin.SimpleListFilter):
    title = "target"
    parameter_name = "target"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("plans", "plans (年金计划)"), ("portfolios", "portfolios (组合计划)"), ("none", "none (facts only)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "none":
            return queryset.filter(targets="")
        if self.value() in {"plans", "portfolios"}:
            return queryset.filter(targets__in=[self.value(), "all"])
        return queryset


class NeedsAttentionFilter(admin.SimpleListFilter):
    """Rows with a derived column NULL or blank: what the data could not supply."""

    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "needs attention (empty derived fields)"), ("no", "complete")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        empty = Q()
        for column in attention_columns(queryset.model):
            empty |= Q(**{f"{column}__isnull": True}) | Q(**{f"{column}__regex": r"^\s*$"})
        if self.value() == "yes":
            return queryset.filter(empty)
        if self.value() == "no":
            return queryset.exclude(empty)
        return queryset


class CreatedByRunFilter(admin.SimpleListFilter):
    """Rows a given run inserted (``?created_by_run=<id>``; any run id works, recent ones listed)."""

    title = "created by run"
    parameter_name = "created_by_run"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        inserted = RunKey.objects.filter(run=OuterRef("pk"), target=_TARGETS[model_admin.model])
        runs = BackfillRun.objects.filter(Exists(inserted), mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED)
        return [(str(run.pk), f"run {run.pk} · {run.started_at:%Y-%m-%d}") for run in runs[:10]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        keys = RunKey.objects.filter(run_id=int(value), target=_TARGETS[queryset.model]).values("key")
        return queryset.filter(pk__in=keys)


# --- audit records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PageView:
    """One page of a run's keys or cells, with the links to its neighbours."""

    page: Page[Any]
    rows: list[dict[str, Any]]
    previous_query: str
    next_query: str


def _page_view(items: QuerySet[Any], params: QueryDict, name: str, *, linked: bool) -> PageView:
    page = Paginator(items, PAGE_SIZE).get_page(params.get(name))

    def query(number: int | None) -> str:
        if number is None:
            return ""
        copy = params.copy()
        copy[name] = str(number)
        return "?" + copy.urlencode()

    rows = [{"item": item, "url": _change_url(item.target, item.key) if linked else ""} for item in page.object_list]
    return PageView(
        page=page,
        rows=rows,
        previous_query=query(page.previous_page_number() if page.has_previous() else None),
        next_query=query(page.next_page_number() if page.has_next() else None),
    )


def _key_filter(run: BackfillRun, params: QueryDict) -> str:
    """The key to narrow the keys and cells to: ``?key=``, else the changelist's search term
    when it names a key of this run (a reviewer who searched Z0047 sees Z0047 first)."""
    explicit = str(params.get("key", "")).strip()
    if explicit:
        return explicit
    term = QueryDict(params.get("_changelist_filters", "")).get("q", "").strip()
    keys = {term, term.upper()}
    if term and (run.keys.filter(key__in=keys).exists() or run.cells.filter(key__in=keys).exists()):
        return term
    return ""


def _warnings(run: BackfillRun, targets: list[RunTarget]) -> list[tuple[str, str]]:
    found = [("run", str(warning)) for warning in run.warnings]
    found += [(target.target, str(warning)) for target in targets for warning in target.warnings]
    return found


def run_detail(run: BackfillRun, params: QueryDict) -> dict[str, Any]:
    """Everything the detail template shows about ``run``. Reads the database."""
    targets = list(run.target_results.all())
    key = _key_filter(run, params)
    keys, cells = run.keys.all(), run.cells.all()
    if key:
        keys, cells = keys.filter(key__icontains=key), cells.filter(key__icontains=key)
    linked = run.mode == RunMode.EXECUTE and run.status == RunStatus.SUCCEEDED
    planned = run.mode == RunMode.PLAN_ONLY
    created = [
        (target.target, target.inserted, reverse(f"admin:refs_{_MODEL_NAMES[target.target]}_changelist"))
        for target in targets
        if linked and target.inserted and target.target in _MODEL_NAMES
    ]
    return {
        "run": run,
        "status": status_badge(run),
        "planned": planned,
        "duration": duration_text(run.duration_seconds),
        "command_line": shlex.join(str(arg) for arg in run.argv) if run.argv else run.command,
        "targets": [(target, sorted(target.cells_filled.items())) for target in targets],
        "warnings": _warnings(run, targets),
        "files": list(run.files.all()),
        "key_filter": key,
        "keys": _page_view(keys, params, "keys_page", linked=linked),
        "cells": _page_view(cells, params, "cells_page", linked=linked),
        "created": created,
        "options_json": json.dumps(run.options, indent=2, ensure_ascii=False),
        "summary_json": json.dumps(run.summary, indent=2, ensure_ascii=False),
    }


def _run_matches(term: str) -> Q:
    """A run matches a whole reference key it inserted or filled, or part of a file name.

    Keys match exactly (the ``key`` indexes serve it); ``Exists`` keeps one row per run however
    many keys or files match, with no DISTINCT over the joined rows.
    """
    keys = {term, term.upper()}
    return (
        Q(Exists(RunKey.objects.filter(run=OuterRef("pk"), key__in=keys)))
        | Q(Exists(RunCell.objects.filter(run=OuterRef("pk"), key__in=keys)))
        | Q(Exists(RunFile.objects.filter(run=OuterRef("pk"), path__icontains=term)))
    )


@admin.register(BackfillRun)
class BackfillRunAdmin(ModelAdmin):
    list_display = (
        "run",
        "status_label",
        "mode",
        "targets_text",
        "started",
        "duration",
        "files_count",
        "inserted",
        "filled",
        "warnings_count",
    )
    list_filter = ("status", "mode", TargetFilter, "started_at")
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
            .annotate(n=Sum(_array_length("warnings")))
        )
        runs: QuerySet[BackfillRun] = super().get_queryset(request)
        return runs.defer("summary", "statements", "options").annotate(
            files_total=_count(RunFile, run=OuterRef("pk")),
            warnings_total=_array_length("warnings") + Coalesce(Subquery(per_target.values("n")), 0),
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[BackfillRun], search_term: str
    ) -> tuple[QuerySet[BackfillRun], bool]:
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
                bit = unescape_string_literal(bit)
            queryset = queryset.filter(_run_matches(bit))
        return queryset, False

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

    @admin.display(description="inserted", ordering="inserted_total")
    def inserted(self, obj: BackfillRun) -> int:
        return obj.inserted_total

    @admin.display(description="filled", ordering="filled_total")
    def filled(self, obj: BackfillRun) -> int:
        return obj.filled_total

    @admin.display(description="warnings", ordering="warnings_total")
    def warnings_count(self, obj: Any) -> str:
        return str(obj.warnings_total or "—")


# --- reference tables -------------------------------------------------------------------------


class ReferenceAdmin(ModelAdmin):
    """Shared by both reference tables: key read-only once saved, no deletes, related links."""

    list_per_page = 100

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        # Changing the primary key in a form would save a second row, not rename this one.
        return (*fields, self.opts.pk.name) if obj is not None else fields

    @admin.display(description="empty derived fields")
    def empty_fields(self, obj: models.Model) -> str:
        empty = [c for c in attention_columns(type(obj)) if not str(getattr(obj, c) or "").strip()]
        return ", ".join(empty) or "—"

    @admin.display(description="created by")
    def created_by(self, obj: models.Model | None) -> SafeString | str:
        if obj is None or obj.pk is None:
            return "—"
        runs = _creating_runs(_TARGETS[type(obj)], str(obj.pk)).prefetch_related("files")
        return render_to_string("admin/refs/created_by.html", {"runs": runs[:10]})


@admin.register(AnnuityPlan)
class AnnuityPlanAdmin(ReferenceAdmin):
    list_display = (
        "年金计划号",
        "计划全称",
        "计划类型",
        "客户名称",
        "主拓机构",
        "管理资格",
        "portfolios",
        "empty_fields",
    )
    search_fields = ("年金计划号", "计划全称", "计划简称", "客户名称")
    search_help_text = "Part of a plan code (年金计划号) or name (计划全称, 计划简称, 客户名称)."
    list_filter = (NeedsAttentionFilter, CreatedByRunFilter, "计划类型")
    readonly_fields = ("created_by", "portfolio_table")
    fieldsets = (
        ("Plan (年金计划)", {"fields": [f.name for f in AnnuityPlan._meta.concrete_fields]}),
        ("Related", {"fields": ["portfolio_table", "created_by"]}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        plans: QuerySet[AnnuityPlan] = super().get_queryset(request)
        return plans.annotate(portfolio_total=_count(Portfolio, 年金计划号=OuterRef("pk")))

    @admin.display(description="portfolios", ordering="portfolio_total")
    def portfolios(self, obj: Any) -> SafeString:
        return format_html('<a href="{}">{}</a>', _portfolios_url(obj.pk), obj.portfolio_total)

    @admin.display(description="portfolios (组合计划)")
    def portfolio_table(self, obj: AnnuityPlan | None) -> SafeString | str:
        if obj is None or obj.pk is None:
            return "—"
        portfolios = Portfolio.objects.filter(年金计划号=obj.pk)
        context = {
            "rows": [(p, _change_url("portfolios", p.pk)) for p in portfolios[:RELATED_LIMIT]],
            "total": portfolios.count(),
            "list_url": _portfolios_url(obj.pk),
        }
        return render_to_string("admin/refs/portfolio_table.html", context)


@admin.register(Portfolio)
class PortfolioAdmin(ReferenceAdmin):
    list_display = ("组合代码", "组合名称", "组合类型", "plan", "组合状态", "备注", "empty_fields")
    search_fields = ("组合代码", "组合名称", "年金计划号")
    search_help_text = "Part of a portfolio code (组合代码), name (组合名称) or plan code (年金计划号)."
    list_filter = (NeedsAttentionFilter, CreatedByRunFilter, "组合类型")
    readonly_fields = ("created_by", "plan")
    fieldsets = (
        ("Portfolio (组合计划)", {"fields": [f.name for f in Portfolio._meta.concrete_fields]}),
        ("Related", {"fields": ["plan", "created_by"]}),
    )

    @admin.display(description="plan", ordering="年金计划号")
    def plan(self, obj: Portfolio | None) -> SafeString | str:
        if obj is None or not obj.年金计划号:
            return "—"
        return format_html('<a href="{}">{}</a>', _change_url("plans", obj.年金计划号), obj.年金计划号)
