"""Reference tables (unmanaged, production layout): their models and the model bound to a target.

The reference models map existing warehouse tables: Django never creates, alters or drops them
(``managed = False``); ``manage.py warehouse_ddl`` creates them for new environments and tests.
Their ``db_table`` is the configured, quoted, schema-qualified name (``"mapping"."年金计划"``):
Django's PostgreSQL backend leaves an already-quoted name untouched.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.apps import apps
from django.db import models

from refs.declared.models import DECLARED, declared_model
from wdh.config import RefTarget
from wdh.tables import reference_table


class AnnuityPlanColumns(models.Model):
    """Columns of ``年金计划`` (ANNUITY_PERFORMANCE.md §4)."""

    年金计划号 = models.CharField(primary_key=True, max_length=255)
    计划简称 = models.CharField(max_length=255, null=True, blank=True)
    计划全称 = models.CharField(max_length=255, null=True, blank=True)
    主拓代码 = models.CharField(max_length=10, null=True, blank=True)
    计划类型 = models.CharField(max_length=255, null=True, blank=True)
    客户名称 = models.CharField(max_length=255, null=True, blank=True)
    company_id = models.CharField(max_length=255, null=True, blank=True)
    管理资格 = models.CharField(max_length=255, null=True, blank=True)
    计划状态 = models.CharField(max_length=255, null=True, blank=True)
    主拓机构 = models.CharField(max_length=10, null=True, blank=True)
    组合数 = models.IntegerField(null=True, blank=True)
    是否统括 = models.SmallIntegerField(null=True, blank=True, default=0)
    备注 = models.TextField(null=True, blank=True)

    class Meta:
        abstract = True


class PortfolioColumns(models.Model):
    """Columns of ``组合计划`` (ANNUITY_PERFORMANCE.md §4).

    ``年金计划号`` is a plain column, not a ForeignKey: the constraint exists in some warehouses
    and not in others, and the backfill writes plans first either way.
    """

    组合代码 = models.CharField(primary_key=True, max_length=255)
    年金计划号 = models.CharField(max_length=255, null=True, blank=True)
    组合名称 = models.CharField(max_length=255, null=True, blank=True)
    组合简称 = models.CharField(max_length=255, null=True, blank=True)
    组合状态 = models.CharField(max_length=255, null=True, blank=True)
    运作开始日 = models.DateField(null=True, blank=True)
    组合类型 = models.CharField(max_length=255, null=True, blank=True)
    子分类 = models.CharField(max_length=255, null=True, blank=True)
    受托人 = models.CharField(max_length=255, null=True, blank=True)
    是否存款组合 = models.SmallIntegerField(null=True, blank=True)
    是否外部组合 = models.SmallIntegerField(null=True, blank=True)
    是否PK组合 = models.SmallIntegerField(null=True, blank=True)
    投资管理人 = models.CharField(max_length=255, null=True, blank=True)
    受托管理人 = models.CharField(max_length=255, null=True, blank=True)
    投资组合代码 = models.CharField(max_length=255, null=True, blank=True)
    投资组合名称 = models.CharField(max_length=255, null=True, blank=True)
    备注 = models.TextField(null=True, blank=True)

    class Meta:
        abstract = True


class AnnuityPlan(AnnuityPlanColumns):
    class Meta:
        managed = False  # a warehouse table: created by warehouse_ddl, never by migrations
        db_table = reference_table("plans")
        verbose_name = "annuity plan (年金计划)"
        verbose_name_plural = "annuity plans (年金计划)"
        ordering = ["年金计划号"]

    def __str__(self) -> str:
        return f"{self.年金计划号} {self.计划全称 or ''}".strip()


class Portfolio(PortfolioColumns):
    class Meta:
        managed = False  # a warehouse table: created by warehouse_ddl, never by migrations
        db_table = reference_table("portfolios")
        verbose_name = "portfolio (组合计划)"
        verbose_name_plural = "portfolios (组合计划)"
        ordering = ["组合代码"]

    def __str__(self) -> str:
        return f"{self.组合代码} {self.组合名称 or ''}".strip()


_COLUMNS: dict[str, type[models.Model]] = {"plans": AnnuityPlanColumns, "portfolios": PortfolioColumns}
_BOUND: dict[str, type[models.Model]] = {"plans": AnnuityPlan, "portfolios": Portfolio}


def reference_model(target: RefTarget) -> type[models.Model]:
    """The model bound to ``target``'s table.

    ``plans`` / ``portfolios``: the configured table at start-up is the static model; any other
    (tests, a second domain) gets an unmanaged subclass of the same columns bound to that table,
    created once. Every other target's model is built from its declaration
    (:mod:`refs.declared.models`).
    """
    if target.name not in _BOUND:
        return declared_model(target)
    bound = _BOUND[target.name]
    if bound._meta.db_table == target.qualified_name:
        return bound
    suffix = hashlib.sha256(target.qualified_name.encode()).hexdigest()[:12]
    name = f"{bound.__name__}_{suffix}"
    try:
        return apps.get_model("refs", name)
    except LookupError:
        meta = type("Meta", (), {"managed": False, "db_table": target.qualified_name})
        attrs: dict[str, Any] = {"__module__": __name__, "Meta": meta}
        return type(name, (_COLUMNS[target.name],), attrs)


def target_models() -> dict[str, type[models.Model]]:
    """Target name → model of the configured reference tables (what the admin shows): the seed
    tables' explicit models, then the declared ones in dependency order."""
    return {**_BOUND, **DECLARED}
