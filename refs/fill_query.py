"""The queries the backfill is built from, shared by its apply and by the statements its plan
shows (:mod:`refs.backfill`): ``key = ANY(array)`` for the keys to read or lock, and
``fill_null_only``'s NULL-guarded ``COALESCE`` update, whose new values the statement carries
itself — one JSON object per column, key → value — so it needs no staging table.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Mapping
from typing import Any, cast

from django.db import models
from django.db.models import F, Func, Lookup, Q, Value
from django.db.models.functions import Cast, Coalesce

from wdh.postgres import text_array


class AnyOf(Lookup):  # type: ignore[type-arg]
    """``key = ANY(%s::text[])`` with the keys as one parameter: the text of a PostgreSQL array,
    which the server reads as one value. ``pk__in`` sends the same rows but prepares each key in
    Python and one placeholder each; a Python list goes as ``ARRAY['…', …]``, one quoted
    literal per key for psycopg2 to escape and the server to parse."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s::text[]", [text_array(value)]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


class KeyedText(Func):
    """``(mapping ->> key)``: the text a JSON object maps the row's key to; NULL where it has none."""

    template = "(%(expressions)s)"
    arg_joiner = " ->> "
    output_field = models.TextField()


def fill_update(
    model: type[models.Model], values: Mapping[str, Mapping[str, str]], keys: list[str]
) -> tuple[models.QuerySet[Any], dict[str, Any]]:
    """The rows of ``keys`` with a NULL in one of the columns of ``values`` (column → key →
    value), and each column's NULL-guarded new value: ``COALESCE(column, mapping ->> key)``, the
    column's mapping as one JSON object (a row it has no value for keeps its NULL).

    The value is text, cast to the column's type where the column is not text: COALESCE takes
    no mix of integer and text (a count_distinct column). Text columns take it as it is — a cast
    to varchar(n) would cut a long value, which the checks before the write refuse instead."""
    null = functools.reduce(operator.or_, (Q(**{f"{column}__isnull": True}) for column in values))
    updates = {}
    for column, cells in values.items():
        field = cast("models.Field[Any, Any]", model._meta.get_field(column))
        document = Cast(Value(json.dumps(cells, ensure_ascii=False)), output_field=models.JSONField())
        mapping = KeyedText(document, F("pk"))
        value = mapping if isinstance(field, models.CharField | models.TextField) else Cast(mapping, field)
        updates[column] = Coalesce(F(column), value, output_field=field)
    return model._default_manager.filter(null, AnyOf(F("pk"), keys)), updates
