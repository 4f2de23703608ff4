"""The reference tables: browsable, searchable, editable by permitted staff, never deleted here
(fact rows point at them; the warehouse's owners delete by SQL). 年金计划 and 组合计划 have
admins of their own; every other declared target gets :class:`DeclaredAdmin`, built from its
declaration (:func:`declared_admin`)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString

from refs.admin.counts import count_of
from refs.admin.targets import TARGETS, ModelAdmin, change_url, creating_runs, portfolios_url
from refs.declared.models import DECLARED
from refs.models import AnnuityPlan, BackfillRun, Portfolio, RunKey, RunMode, RunStatus
from wdh.config import DEFAULT_REFS, RefTarget, get_config
from wdh.errors import ConfigError
from wdh.tables import DEFAULT_DOMAIN, declared_targets

RELATED_LIMIT = 50  # portfolios listed on a plan's page; the rest via the filtered list


def attention_columns(model: type[models.Model]) -> tuple[str, ...]:
    """The derived columns of ``model``'s target that a person fills when the data lacks them.

    Reads the configuration's ``updatable`` list; a broken configuration (reported by
    ``manage.py check``) falls back to the built-in defaults rather than breaking the admin.
    """
    target = TARGETS[model]
    try:
        updatable = get_config().domain(DEFAULT_DOMAIN).refs[target].updatable
    except (ConfigError, KeyError):
        default = DEFAULT_REFS.get(target)
        updatable = default.updatable if default else ()
    fields = {field.name for field in model._meta.concrete_fields}
    return tuple(column for column in updatable if column in fields)


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
        inserted = RunKey.objects.filter(run=OuterRef("pk"), target=TARGETS[model_admin.model])
        runs = BackfillRun.objects.filter(Exists(inserted), mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED)
        return [(str(run.pk), f"run {run.pk} · {run.started_at:%Y-%m-%d}") for run in runs[:10]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        keys = RunKey.objects.filter(run_id=int(value), target=TARGETS[queryset.model]).values("key")
        return queryset.filter(pk__in=keys)


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
        runs = creating_runs(TARGETS[type(obj)], str(obj.pk)).prefetch_related("files")
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
        return plans.annotate(portfolio_total=count_of(Portfolio, 年金计划号=OuterRef("pk")))

    @admin.display(description="portfolios", ordering="portfolio_total")
    def portfolios(self, obj: Any) -> SafeString:
        return format_html('<a href="{}">{}</a>', portfolios_url(obj.pk), obj.portfolio_total)

    @admin.display(description="portfolios (组合计划)")
    def portfolio_table(self, obj: AnnuityPlan | None) -> SafeString | str:
        if obj is None or obj.pk is None:
            return "—"
        portfolios = Portfolio.objects.filter(年金计划号=obj.pk)
        context = {
            "rows": [(p, change_url("portfolios", p.pk)) for p in portfolios[:RELATED_LIMIT]],
            "total": portfolios.count(),
            "list_url": portfolios_url(obj.pk),
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
        return format_html('<a href="{}">{}</a>', change_url("plans", obj.年金计划号), obj.年金计划号)


class DeclaredAdmin(ReferenceAdmin):
    """A table declared only in the configuration: its key and derived columns listed, searched
    by key and by its text columns, filtered by what still needs a person."""

    list_filter = (NeedsAttentionFilter, CreatedByRunFilter)
    readonly_fields = ("created_by",)


def declared_admin(target: RefTarget, model: type[models.Model]) -> type[DeclaredAdmin]:
    """The admin class of a declared target's ``model``."""
    derived = [rule.column for rule in target.columns if rule.column not in target.key]
    texts = [f.name for f in model._meta.concrete_fields if isinstance(f, models.CharField)]
    attrs = {
        "list_display": (*target.key, *derived, "empty_fields"),
        "search_fields": tuple(texts),
        "search_help_text": f"Part of {', '.join(texts)}.",
    }
    return type(f"{model.__name__}Admin", (DeclaredAdmin,), attrs)


def declared_admins_register() -> None:
    """Register the admin of every declared target's model (importing this module does)."""
    for target in declared_targets():
        admin.site.register(DECLARED[target.name], declared_admin(target, DECLARED[target.name]))


declared_admins_register()
