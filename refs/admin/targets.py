"""The reference models as the admin names them: target ↔ model, their pages, their creators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils.http import urlencode

from refs.models import AnnuityPlan, BackfillRun, Portfolio, RunKey, RunMode, RunStatus

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
else:  # ModelAdmin is generic only in django-stubs, which is not a runtime dependency
    ModelAdmin = admin.ModelAdmin

TARGETS: dict[type[models.Model], str] = {AnnuityPlan: "plans", Portfolio: "portfolios"}
MODEL_NAMES = {"plans": "annuityplan", "portfolios": "portfolio"}


def change_url(target: str, key: str) -> str:
    """The admin page of reference row ``key`` of ``target``."""
    return reverse(f"admin:refs_{MODEL_NAMES[target]}_change", args=[quote(key)])


def portfolios_url(plan: str) -> str:
    """The portfolio list narrowed to the portfolios of ``plan``."""
    return reverse("admin:refs_portfolio_changelist") + "?" + urlencode({"年金计划号": plan})


def creating_runs(target: str, key: str) -> QuerySet[BackfillRun]:
    """Succeeded execute runs that inserted ``key`` into ``target`` (normally one)."""
    inserted = RunKey.objects.filter(run=OuterRef("pk"), target=target, key=key)
    return BackfillRun.objects.filter(Exists(inserted), mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED)
