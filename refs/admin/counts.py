"""Per-row counts the admin lists annotate: correlated subqueries, one value per listed row."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Count, F, Func, IntegerField, Subquery
from django.db.models.functions import Coalesce


def array_length(field: str) -> Func:
    """The number of items in JSON array ``field``."""
    return Func(F(field), function="jsonb_array_length", output_field=IntegerField())


def count_of(model: type[models.Model], **filters: Any) -> Coalesce:
    """The number of ``model`` rows matching ``filters`` (``OuterRef`` values correlate), 0 if none."""
    rows = model._default_manager.filter(**filters).order_by().values(*filters).annotate(n=Count("pk"))
    return Coalesce(Subquery(rows.values("n")), 0)
