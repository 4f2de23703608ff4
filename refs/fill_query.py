"""The queries a ``fill_null_only`` backfill is built from, shared by its apply and by the
statements its plan shows (:mod:`refs.backfill`): ``key = ANY(array)`` for a chunk of keys, the
NULL-guarded ``COALESCE`` update from the staged candidate values, and the model of the stage table.
"""

from __future__ import annotations

import functools
import operator
from typing import Any, cast

from django.apps import apps
from django.db import models
from django.db.models import F, Lookup, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from wdh.config import RefTarget


class AnyOf(Lookup):  # type: ignore[type-arg]
    """``key = ANY(%s)`` with the chunk's keys as one array parameter. ``pk__in`` sends the
    same rows but prepares each of up to chunk_size keys in Python and one placeholder each."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [list(value)]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def fill_update(
    model: type[models.Model], stage: type[models.Model], columns: list[str], keys: list[str]
) -> tuple[models.QuerySet[Any], dict[str, Any]]:
    """The rows of ``keys`` with a NULL in one of ``columns``, and each column's NULL-guarded new value."""
    null = functools.reduce(operator.or_, (Q(**{f"{column}__isnull": True}) for column in columns))
    values = {
        column: Coalesce(
            F(column),
            Subquery(stage._default_manager.filter(pk=OuterRef("pk")).values(column)[:1]),
            output_field=cast("models.Field[Any, Any]", model._meta.get_field(column)),
        )
        for column in columns
    }
    return model._default_manager.filter(null, AnyOf(F("pk"), keys)), values


def stage_model(target: RefTarget, table: str, columns: list[str]) -> type[models.Model]:
    """An unmanaged model of ``target``'s stage table (the key, then text columns), made once."""
    name = f"Stage_{target.name}"
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
