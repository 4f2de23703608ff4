"""The queries the backfill is built from, shared by its apply and by the statements its plan
shows (:mod:`refs.backfill`): ``key = ANY(array)`` for the keys to read or lock, and
``fill_null_only``'s NULL-guarded ``COALESCE`` update, whose new values the statement carries
itself — one JSON object per column, key → value — so it needs no staging table.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Mapping
from typing import Any, cast

from django.db import models
from django.db.models import F, Func, Lookup, Q, Value
from django.db.models.functions import Cast, Coalesce


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


def text_array(values: Iterable[str]) -> str:
    """``values`` as a PostgreSQL array literal of text: every element double-quoted, its
    backslashes and double quotes escaped (so no element reads as NULL or splits)."""
    quoted = ('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"


class KeyedText(Func):
    """``(mapping ->> key)``: the text a JSON object maps the row's key to; NULL where it has none."""

    template = "(%(expressions)s)"
    arg_joiner = " ->> "
    output_field = models.TextField()


def fill_update(
    model: type[models.Model], cells: Mapping[str, Mapping[str, str]], columns: list[str]
) -> tuple[models.QuerySet[Any], dict[str, Any]]:
    """The rows of ``cells`` (key → column → value) with a NULL in one of ``columns``, and each
    column's NULL-guarded new value: ``COALESCE(column, mapping ->> key)``, one JSON object per
    column mapping each key to its value (a row without a value in it keeps its NULL).

    The value is text, cast to the column's type where the column is not text: COALESCE takes
    no mix of integer and text (a count_distinct column). Text columns take it as it is — a cast
    to varchar(n) would cut a long value, which the checks before the write refuse instead."""
    null = functools.reduce(operator.or_, (Q(**{f"{column}__isnull": True}) for column in columns))
    values = {}
    for column in columns:
        field = cast("models.Field[Any, Any]", model._meta.get_field(column))
        mapping = json.dumps({key: row[column] for key, row in cells.items() if column in row}, ensure_ascii=False)
        value: Any = KeyedText(Cast(Value(mapping), output_field=models.JSONField()), F("pk"))
        if not isinstance(field, models.CharField | models.TextField):
            value = Cast(value, field)
        values[column] = Coalesce(F(column), value, output_field=field)
    return model._default_manager.filter(null, AnyOf(F("pk"), list(cells))), values
