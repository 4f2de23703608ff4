"""The run list's "plan" filter and column: plan-only runs by the state of their saved plan."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from refs.models import PlanState


class PlanStateFilter(admin.SimpleListFilter):
    """planned, approved, rejected, superseded, applied or refused; runs without a saved plan
    (execute runs, failed plan-only runs) match none of them."""

    title = "plan"
    parameter_name = "plan"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(state.value, state.label) for state in PlanState]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in PlanState.values:
            return queryset.filter(saved_plan__state=self.value())
        return queryset
