"""The staging table ``fill_null_only`` reads its values from: the cells still to fill copied
into a temporary text table (dropped at commit), and the model and expressions that read it back.

One NULL-guarded UPDATE of the staged rows then sets each column to ``COALESCE(column, staged
value)`` (:mod:`refs.backfill`). Writes only the session's temporary table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, cast

from django.apps import apps
from django.db import models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Cast

from wdh.config import RefTarget
from wdh.postgres import copy_rows, create_stage_table


def stage_write(target: RefTarget, values: Mapping[str, Mapping[str, str]]) -> type[models.Model]:
    """Copy ``values`` (key → column → planned value) into a new temporary table; its model."""
    columns = [target.key[0], *target.updatable]
    table = create_stage_table(stage_table_name(target), columns)
    copy_rows(table, columns, ([key, *(row.get(c) for c in target.updatable)] for key, row in values.items()))
    return stage_model(target, table, columns)


def stage_table_name(target: RefTarget) -> str:
    return f"wdh_stage_{target.name}"


def stage_model(target: RefTarget, table: str, columns: list[str]) -> type[models.Model]:
    """The unmanaged model of a staging table: every column text, the key first."""
    # One model per column list: another configuration of the same target stages other columns.
    name = f"Stage_{target.name}_{hashlib.sha256(repr(columns).encode()).hexdigest()[:12]}"
    try:
        return apps.get_model("refs", name)
    except LookupError:
        attrs: dict[str, Any] = {
            "__module__": __name__,
            "Meta": type("Meta", (), {"managed": False, "db_table": table, "app_label": "refs"}),
            columns[0]: models.TextField(primary_key=True),
            **{column: models.TextField(null=True) for column in columns[1:]},
        }
        return type(name, (models.Model,), attrs)


def column_field(model: type[models.Model], column: str) -> models.Field[Any, Any]:
    return cast("models.Field[Any, Any]", model._meta.get_field(column))


def staged_value(model: type[models.Model], stage: type[models.Model], column: str) -> Any:
    """The staged (text) value of ``column`` for the row, as the column's type: COALESCE takes
    no mix of integer and text (a count_distinct column). Text columns take it as it is — a
    cast to varchar(n) would cut a long value, which the checks before the write refuse instead."""
    value = Subquery(stage._default_manager.filter(pk=OuterRef("pk")).values(column)[:1])
    field = column_field(model, column)
    return value if isinstance(field, models.CharField | models.TextField) else Cast(value, field)
