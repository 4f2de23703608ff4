"""The reference models as the admin names them: target ↔ model, their pages, their creators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils.http import urlencode

from refs.models import BackfillRun, RunKey, RunMode, RunStatus, target_models

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
else:  # ModelAdmin is generic only in django-stubs, which is not a runtime dependency
    ModelAdmin = admin.ModelAdmin

MODELS: dict[str, type[models.Model]] = target_models()  # target name → model, in dependency order
TARGETS: dict[type[models.Model], str] = {model: name for name, model in MODELS.items()}


def _url_name(target: str, view: str) -> str:
    opts = MODELS[target]._meta
    return f"admin:{opts.app_label}_{opts.model_name}_{view}"


def change_url(target: str, key: str) -> str:
    """The admin page of reference row ``key`` of ``target`` ("" for a target the admin lacks:
    a record of a run under another configuration)."""
    return reverse(_url_name(target, "change"), args=[quote(key)]) if target in MODELS else ""


def changelist_url(target: str) -> str:
    """The admin list of ``target``'s table ("" for a target the admin lacks)."""
    return reverse(_url_name(target, "changelist")) if target in MODELS else ""


def portfolios_url(plan: str) -> str:
    """The portfolio list narrowed to the portfolios of ``plan``."""
    return changelist_url("portfolios") + "?" + urlencode({"年金计划号": plan})


def creating_runs(target: str, key: str) -> QuerySet[BackfillRun]:
    """Succeeded execute runs that inserted ``key`` into ``target`` (normally one)."""
    inserted = RunKey.objects.filter(run=OuterRef("pk"), target=target, key=key)
    return BackfillRun.objects.filter(Exists(inserted), mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED)
