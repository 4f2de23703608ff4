"""How the backfill inserts candidate rows: an insert model per table that names only the
columns an INSERT must send, and the values it sends for each candidate.

``backfill_apply`` inserts with it, ``backfill_sql`` compiles its statement, and
``insertion_write`` describes the same INSERT — its columns and every value — for the checks
made before the first write (:mod:`wdh.preflight`), so they check exactly what is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.apps.registry import Apps
from django.db import connection, models
from django.db.models.base import ModelState

from refs.models import reference_model
from wdh.config import RefTarget
from wdh.postgres import column_defaults, text_array
from wdh.preflight import TableWrite

Row = dict[str, str | None]


@dataclass(frozen=True)
class Inserter:
    """The model ``bulk_create`` inserts the candidates with, and how to build its instances.

    The reference model lists every column of the table, so Django would send an explicit NULL
    for each column no rule derives (most of 组合计划's). The insert model keeps only the columns
    whose value is not that NULL-for-want-of-a-value: the derived columns, fields with a Django
    default (sent as today), and any column the table itself gives a default (sent NULL as
    today, so the table's default never applies where it did not). Every other column is left
    out of the INSERT, which stores the same NULL. Instances are built as ``Model.__init__``
    leaves them (its attributes and a fresh ``ModelState``), without its per-field work.
    """

    model: type[models.Model]
    fields: tuple[str, ...]  # attnames, in the insert model's field order
    defaults: tuple[tuple[int, models.Field[Any, Any]], ...]  # (position, field) filled by get_default()

    @classmethod
    def of(cls, target: RefTarget) -> Inserter:
        model = reference_model(target)
        derived = {rule.column for rule in target.columns}  # every candidate holds exactly these
        table_defaults = column_defaults(target.qualified_name)
        kept = tuple(
            f
            for f in model._meta.concrete_fields
            if f.attname in derived
            or f.primary_key
            or f.has_default()
            or f.db_default is not models.NOT_PROVIDED
            or f.column in table_defaults
        )
        names = tuple(f.attname for f in kept)
        defaults = tuple((i, f) for i, f in enumerate(kept) if f.attname not in derived)
        return cls(_insert_model(model, target.qualified_name, kept), names, defaults)

    def objects(self, rows: Iterable[Row]) -> list[models.Model]:
        """Unsaved instances holding each row's values — what ``Model(*values)`` builds, without
        its per-field loop: the insert model is private, has no signal receivers, and sets every
        field's attribute (as :meth:`values` gives it) and its ``ModelState``."""
        model, fields, defaults = self.model, self.fields, self.defaults
        new = model.__new__
        built = []
        for row in rows:
            instance = new(model)
            attributes: dict[str, Any] = {name: row.get(name) for name in fields}
            for index, field in defaults:
                attributes[fields[index]] = field.get_default()
            attributes["_state"] = ModelState()
            instance.__dict__ = attributes
            built.append(instance)
        return built

    def insert(self, rows: Sequence[Row], *, batch_size: int) -> None:
        """``bulk_create(ignore_conflicts=True)`` of ``rows``, ``batch_size`` rows per INSERT, each
        INSERT's text arrays sent as array literals (:func:`unnest_text_arrays`)."""
        with connection.execute_wrapper(unnest_text_arrays):
            self.model._default_manager.bulk_create(self.objects(rows), batch_size=batch_size, ignore_conflicts=True)

    def values(self, rows: Iterable[Row]) -> Iterator[list[Any]]:
        """Each row's values in ``fields`` order: what the INSERT sends."""
        fields, defaults = self.fields, self.defaults
        for row in rows:
            values: list[Any] = [row.get(name) for name in fields]
            for index, f in defaults:
                values[index] = f.get_default()
            yield values

    @property
    def columns(self) -> tuple[str, ...]:
        """The INSERT's column list."""
        return tuple(f.column for f in self.model._meta.concrete_fields)


def unnest_text_arrays(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """A Django execute wrapper for the backfill's INSERTs: Django sends a multi-row INSERT as
    ``SELECT * FROM UNNEST((%s)::varchar[], …)`` with one Python list per column, which psycopg2
    writes as ``ARRAY['…', '…', …]`` — a literal to escape in Python and to parse on the server
    per cell. A column of text (and NULL) goes instead as the text of one PostgreSQL array
    (:func:`wdh.postgres.text_array`'s quoting, NULL unquoted), which the same ``::varchar[]``
    reads as one value; the statement and the values it inserts are the same. Any other column
    (numbers, dates) is left to psycopg2."""
    if not many and params and sql.startswith("INSERT INTO ") and " FROM UNNEST(" in sql:
        params = [_text_array_or(value) for value in params]
    return execute(sql, params, many, context)


def _text_array_or(value: Any) -> Any:
    if value.__class__ is not list or not set(map(type, value)) <= _TEXT:
        return value
    return text_array(value)


_TEXT = {str, type(None)}


_INSERT_APPS = Apps(installed_apps=())  # insert models stay out of the project's app registry
_INSERT_MODELS: dict[tuple[str, tuple[str, ...]], type[models.Model]] = {}


def _insert_model(
    model: type[models.Model], table: str, fields: Sequence[models.Field[Any, Any]]
) -> type[models.Model]:
    signature = (table, tuple(f.attname for f in fields))
    if signature in _INSERT_MODELS:
        return _INSERT_MODELS[signature]
    meta = type("Meta", (), {"managed": False, "db_table": table, "app_label": "refs", "apps": _INSERT_APPS})
    attrs: dict[str, Any] = {"__module__": __name__, "Meta": meta, **{f.name: _insert_field(f) for f in fields}}
    name = f"Insert_{model.__name__}_{len(_INSERT_MODELS)}"
    _INSERT_MODELS[signature] = narrowed = type(name, (models.Model,), attrs)
    return narrowed


class _TextValue:
    """A text field whose ``str``/None value goes to the database as it is: the INSERT compiler
    prepares every cell through get_db_prep_save → get_db_prep_value → get_prep_value →
    to_python, which for text returns the very value. Anything else takes that path."""

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if value is None or value.__class__ is str:
            return value
        return super().get_db_prep_save(value, connection)  # type: ignore[misc]


class _CharValue(_TextValue, models.CharField):  # type: ignore[type-arg]
    pass


class _TextFieldValue(_TextValue, models.TextField):  # type: ignore[type-arg]
    pass


def _insert_field(field: models.Field[Any, Any]) -> models.Field[Any, Any]:
    """A copy of ``field`` for the insert model; plain text fields get the direct text path."""
    kind = {models.CharField: _CharValue, models.TextField: _TextFieldValue}.get(type(field))
    if kind is None:
        return cast("models.Field[Any, Any]", cast(Any, field).clone())
    _, _, args, kwargs = field.deconstruct()
    return kind(*args, **kwargs)


def insertion_write(target: RefTarget, rows: Sequence[Row], insert: Inserter | None) -> TableWrite:
    """The INSERT of ``rows`` into ``target``'s table by ``insert`` (None: there are no rows) as
    the checks before the first write see it: its column list and, per row, every value it sends."""
    purpose = f"the {target.name} backfill"
    if not rows or insert is None:
        return TableWrite(table=target.qualified_name, purpose=purpose)
    columns = insert.columns
    sent = [dict(zip(columns, values, strict=True)) for values in insert.values(rows)]
    return TableWrite(table=target.qualified_name, purpose=purpose, columns=columns, rows=sent, label=target.key)
