"""Unmanaged models of the reference tables declared only in the configuration.

``年金计划`` and ``组合计划`` have explicit models (:mod:`refs.models`: their production layouts
carry columns of their own widths). Every other target (``product_lines``, ``branches``, one a
user adds) gets a model built from its declaration: the key a ``varchar`` primary key, each
derived column a ``varchar`` (``count_distinct``: an ``integer``), each ``other_columns`` entry
as typed there. The targets the configuration declares are built when Django loads this module,
so the admin and the permissions see them; any other declaration (a test's) gets its model on
first use. Never touches the database.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import models

from wdh.config import Aggregation, ColumnType, RefTarget
from wdh.tables import declared_targets

APP_LABEL = "declared"
_TYPES: dict[ColumnType, type[models.Field[Any, Any]]] = {
    ColumnType.TEXT: models.CharField,
    ColumnType.INTEGER: models.IntegerField,
}
_MODELS: dict[str, type[models.Model]] = {}  # layout signature → model


def model_name(target: RefTarget) -> str:
    """``product_lines`` → ``ProductLines``: the model (and admin URL) name of a declared target."""
    return "".join(part[:1].upper() + part[1:] for part in target.name.split("_") if part) or "Target"


def declared_model(target: RefTarget) -> type[models.Model]:
    """The unmanaged model of ``target``'s table, created once per table and layout.

    The first layout of a name takes the plain name (``ProductLines``); another layout under the
    same name (a test's table) takes the name with a digest of its layout."""
    fields = _fields(target)
    signature = repr((target.qualified_name, [(column, field.deconstruct()[1:]) for column, field in fields]))
    if signature in _MODELS:
        return _MODELS[signature]
    name = model_name(target)
    if any(model.__name__ == name for model in _MODELS.values()):
        name = f"{name}_{hashlib.sha256(signature.encode()).hexdigest()[:12]}"
    meta = type(
        "Meta",
        (),
        {
            "app_label": APP_LABEL,
            "managed": False,  # a warehouse table: created by warehouse_ddl, never by migrations
            "db_table": target.qualified_name,
            "verbose_name": f"{target.name.replace('_', ' ')} ({target.table})",
            "verbose_name_plural": f"{target.name.replace('_', ' ')} ({target.table})",
            "ordering": [target.key[0]],
        },
    )
    attrs: dict[str, Any] = {"__module__": __name__, "Meta": meta, "__str__": _text, **dict(fields)}
    model = _MODELS[signature] = type(name, (models.Model,), attrs)
    return model


def _text(self: models.Model) -> str:
    return str(self.pk)


def _fields(target: RefTarget) -> list[tuple[str, models.Field[Any, Any]]]:
    fields: list[tuple[str, models.Field[Any, Any]]] = [(target.key[0], models.CharField(primary_key=True))]
    for rule in target.columns:
        if rule.column not in target.key:
            kind = ColumnType.INTEGER if rule.agg is Aggregation.COUNT_DISTINCT else ColumnType.TEXT
            fields.append((rule.column, _TYPES[kind](null=True, blank=True)))
    fields += [(column, _TYPES[kind](null=True, blank=True)) for column, kind in target.other_columns]
    return fields


DECLARED: dict[str, type[models.Model]] = {target.name: declared_model(target) for target in declared_targets()}
"""The configured targets' models by target name (the first declaration of each name)."""
