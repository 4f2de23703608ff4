"""The queries a ``fill_null_only`` backfill is built from, shared by its apply and by the
statements its plan shows (:mod:`refs.backfill`): ``key = ANY(array)`` for the keys to read or
lock, and the NULL-guarded ``COALESCE`` update of the staged rows from their staged values
(:mod:`refs.staging`).
"""

from __future__ import annotations

import functools
import operator
from typing import Any

from django.db import models
from django.db.models import F, Lookup, Q
from django.db.models.functions import Coalesce

from refs.staging import column_field, staged_value


class AnyOf(Lookup):  # type: ignore[type-arg]
    """``key = ANY(%s)`` with the keys as one array parameter. ``pk__in`` sends the same rows but
    prepares each key in Python and one placeholder each."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [list(value)]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def fill_update(
    model: type[models.Model], stage: type[models.Model], columns: list[str]
) -> tuple[models.QuerySet[Any], dict[str, Any]]:
    """The staged rows with a NULL in one of ``columns``, and each column's NULL-guarded new value."""
    null = functools.reduce(operator.or_, (Q(**{f"{column}__isnull": True}) for column in columns))
    values = {
        column: Coalesce(F(column), staged_value(model, stage, column), output_field=column_field(model, column))
        for column in columns
    }
    return model._default_manager.filter(null, pk__in=stage._default_manager.values("pk")), values
