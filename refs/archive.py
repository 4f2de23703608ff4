"""The fact archive: per execute run, the fact rows its load deleted (whole) and inserted (their
ids), one archive row per delete scope, kept in :class:`~refs.models.FactArchive` so
``revert_run`` can take the load back.

Raw SQL, because the ORM cannot express what this needs:

- ``INSERT … SELECT array_agg(ARRAY[column::text, …]) … GROUP BY`` the scope's columns: the rows
  about to be deleted, copied by the server (100,000 rows never pass through Python) as one array
  per row of each column's text (its type's output function: exact, NULL kept as NULL), in
  blocks of at most :data:`BLOCK` ids per archive row, with the table's column names. One
  ``to_jsonb`` archive row per fact row (as runs before migration 0010 kept them) added 1.4 s to
  the fact load of a 100,000-row month loaded again, this 0.7 s (the output functions, the sort
  by id, 47 MB written; 2026-12-06); ``ORDER BY id`` in the aggregate makes the server group
  sorted input, one block in memory at a time, where a hash would hold them all. The settings
  that change a value's text (``DateStyle``, ``IntervalStyle``, ``extra_float_digits``) are
  pinned while writing and reading it (:func:`_text_settings`);
- ``INSERT … SELECT array_agg(id) … GROUP BY`` the scope's columns: the inserted rows' ids, one
  archive row per scope (its array stored uncompressed, migration 0009) — an archive row per
  inserted fact row cost the load a third of its time (0.4 s of CPU for 100,000 rows, against
  0.1 s now);
- ``xmin``: which rows of the batch's scopes this transaction inserted (the run writes without
  savepoints, so a row we inserted carries our transaction id), and whether a row still is the
  version a run wrote (any later UPDATE gives it a new ``xmin``; the archive row, written in the
  same transaction, keeps the run's);
- ``unnest(rows[:][k:k], …)`` with a cast of each value to the column's type now: a deleted row
  put back with every column, its id included, as it was, matched by column name — a column the
  table lost since is left out, one it gained takes its default; ``jsonb_populate_record`` for
  the rows runs before migration 0010 kept as JSON.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from django.db import connection, models

from refs.models import ArchiveKind, BackfillRun, FactArchive, RunKey
from wdh.config import FactsTable
from wdh.identifiers import quote_ident

ARCHIVE = quote_ident(FactArchive._meta.db_table)
RUN_KEYS = quote_ident(RunKey._meta.db_table)
RUNS = quote_ident(BackfillRun._meta.db_table)
# The ids an ``inserted`` archive row names: its array, or (archived before 0009) its one id.
INSERTED_IDS = "unnest(coalesce(a.fact_ids, ARRAY[a.fact_id]))"
BLOCK = 100_000  # ids per archive row of deleted rows (id / BLOCK): its array stays far below 1 GB
# The settings a value's text depends on, pinned while the deleted rows are written as text and
# read back: ISO dates and timestamps (not read back by another DateStyle as another day), every
# digit of a float, intervals in the style that reads back the same.
TEXT_SETTINGS = (("DateStyle", "ISO, YMD"), ("IntervalStyle", "postgres"), ("extra_float_digits", "3"))


class RunArchive:
    """The archive hook of one execute run's fact load (``facts.loading.facts_apply``)."""

    def __init__(self, *, run_id: int, table: FactsTable) -> None:
        self.run_id = run_id
        self.table = table
        self.columns: list[str] | None = None

    def keep_deleted(self, rows: models.QuerySet[Any]) -> int:
        """Copy ``rows`` (about to be deleted) whole into the archive, one archive row per delete
        scope and block of ids; return how many fact rows. Writes."""
        table = self.table.qualified
        where, params = _where(rows)
        columns = self._columns()
        values = ", ".join(f"{table}.{quote_ident(column)}::text" for column in columns)
        group = ", ".join(f"{table}.{quote_ident(column)}" for column in self.table.pk)
        sql = (
            f'WITH kept AS (INSERT INTO {ARCHIVE} ("run_id", "table", "kind", "scope", "fact_ids", "columns", "rows") '
            f"SELECT %s, %s, %s, {self._scope()}, array_agg({table}.id ORDER BY {table}.id), %s::text[], "
            f"array_agg(ARRAY[{values}] ORDER BY {table}.id) FROM {table} WHERE {where} "
            f'GROUP BY {group}, {table}.id / {BLOCK} RETURNING cardinality("fact_ids") AS ids) '
            "SELECT coalesce(sum(ids), 0) FROM kept"
        )
        with connection.cursor() as cursor, _text_settings(cursor):
            cursor.execute(sql, [self.run_id, table, ArchiveKind.DELETED.value, *self.table.pk, columns, *params])
            return int(cursor.fetchone()[0])

    def _columns(self) -> list[str]:
        """The fact table's columns, in table order (read once per run)."""
        if self.columns is None:
            with connection.cursor() as cursor:
                cursor.execute(_COLUMNS, [self.table.qualified])
                self.columns = [name for name, _, _ in cursor.fetchall()]
        return self.columns

    def keep_inserted(self, rows: models.QuerySet[Any]) -> int:
        """Record the ids of those of ``rows`` this transaction inserted, one archive row per
        delete scope (its ids in no particular order: an ``ORDER BY`` in the aggregate costs a
        sort of every id); return how many ids. Writes."""
        table = self.table.qualified
        where, params = _where(rows)
        group = ", ".join(f"{table}.{quote_ident(column)}" for column in self.table.pk)
        sql = (
            f'WITH kept AS (INSERT INTO {ARCHIVE} ("run_id", "table", "kind", "fact_ids", "scope") '
            f"SELECT %s, %s, %s, array_agg({table}.id), {self._scope()} FROM {table} "
            f"WHERE ({where}) AND {table}.xmin = pg_current_xact_id()::xid GROUP BY {group} "
            'RETURNING cardinality("fact_ids") AS ids) '
            "SELECT coalesce(sum(ids), 0) FROM kept"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.run_id, table, ArchiveKind.INSERTED.value, *self.table.pk, *params])
            return int(cursor.fetchone()[0])

    def _scope(self) -> str:
        """The scope as a JSON object of the pk columns (their names bound as parameters)."""
        table = self.table.qualified
        return "jsonb_build_object(" + ", ".join(f"%s, {table}.{quote_ident(c)}" for c in self.table.pk) + ")"


def _where(rows: models.QuerySet[Any]) -> tuple[str, Sequence[Any]]:
    """The queryset's own WHERE, for one scan of the fact table — not a self-join on ``id IN (its
    SELECT)``: that join's plan rests on statistics that have not seen the month being loaded,
    and in the full test suite it ran for over 13 minutes on 100,000 rows."""
    query = rows.query
    where, params = query.get_compiler(connection=connection).compile(query.where)
    return where, params


@contextlib.contextmanager
def _text_settings(cursor: Any) -> Iterator[None]:
    """Pin :data:`TEXT_SETTINGS` for the statements inside (transaction-local), then set them
    back. Not on an error: the transaction is aborted, and its rollback sets them back."""
    names = [name for name, _ in TEXT_SETTINGS]
    cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
    before = cursor.fetchone()
    pinned = ", ".join(["set_config(%s, %s, true)"] * len(names))
    cursor.execute("SELECT " + pinned, [part for setting in TEXT_SETTINGS for part in setting])
    yield
    cursor.execute("SELECT " + pinned, [part for pair in zip(names, before, strict=True) for part in pair])


# A table's columns in order: name, type without its modifier (the INSERT's assignment applies it
# as it would to any value: an explicit cast to varchar(n) would cut a longer text silently),
# whether an INSERT may name it.
_COLUMNS = (
    "SELECT attname, format_type(atttypid, NULL), attgenerated = '' FROM pg_attribute "
    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
)


def archive_restore(*, run_id: int, table: str, scopes: Sequence[dict[str, Any]]) -> int:
    """Insert back the rows run ``run_id`` deleted from ``table`` in ``scopes``, every column
    as it was (the id too: a GENERATED identity takes it with OVERRIDING SYSTEM VALUE), matched
    by name: a column the table lost since is left out, one it gained takes its default.
    Writes."""
    if not scopes:
        return 0
    scope_list = [json.dumps(scope, ensure_ascii=False) for scope in scopes]
    where = "a.run_id = %s AND a.table = %s AND a.kind = %s AND a.scope = ANY(%s::jsonb[])"
    params: list[Any] = [run_id, table, ArchiveKind.DELETED.value, scope_list]
    with connection.cursor() as cursor, _text_settings(cursor):
        cursor.execute(  # runs before migration 0010: one archive row per deleted row, as JSON
            f"INSERT INTO {table} OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::{table}, a.row)).* "
            f"FROM {ARCHIVE} a WHERE {where} AND a.row IS NOT NULL ORDER BY a.fact_id",
            params,
        )
        restored = int(cursor.rowcount)
        cursor.execute(_COLUMNS, [table])
        now = {name: kind for name, kind, insertable in cursor.fetchall() if insertable}
        cursor.execute(f'SELECT DISTINCT a."columns" FROM {ARCHIVE} a WHERE {where} AND a."rows" IS NOT NULL', params)
        for (columns,) in cursor.fetchall():
            restore = _restore_rows(table, columns, now) + f' WHERE {where} AND a."columns" = %s'
            cursor.execute(restore, [*params, columns])
            restored += int(cursor.rowcount)
    return restored


def _restore_rows(table: str, archived: Sequence[str], now: dict[str, str]) -> str:
    """``INSERT … SELECT`` of the archived rows' columns ``archived`` the table still has (``now``:
    name → type), each value cast from its text, from archive rows ``a`` (the caller's WHERE)."""
    kept = [(position, name) for position, name in enumerate(archived, start=1) if name in now]
    names = ", ".join(quote_ident(name) for _, name in kept)
    values = ", ".join(f"v{position}::{now[name]}" for position, name in kept)
    slices = ", ".join(f'a."rows"[:][{position}:{position}]' for position, _ in kept)
    aliases = ", ".join(f"v{position}" for position, _ in kept)
    return (
        f"INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE SELECT {values} FROM {ARCHIVE} a "
        f"CROSS JOIN LATERAL unnest({slices}) AS u({aliases})"
    )


def restore_sql(table: str) -> str:
    """The statement :func:`archive_restore` sends, for plans. Pure."""
    return (
        f'INSERT INTO {table} ("id", …) OVERRIDING SYSTEM VALUE SELECT v1::bigint, … FROM {ARCHIVE} a '
        'CROSS JOIN LATERAL unnest(a."rows"[:][1:1], …) AS u(v1, …) '
        """WHERE a.run_id = %s AND a.table = %s AND a.kind = 'deleted' AND a.scope = ANY(%s) AND a."columns" = %s"""
    )


def rows_changed_since(*, run_id: int, table: str, reverts: Sequence[int]) -> set[int]:
    """The fact rows run ``run_id`` inserted into ``table`` that are gone or no longer the version
    it wrote: their ``xmin`` differs from that of the archive row written in the same transaction.
    A row a later revert (``reverts``: their audit ids) put back whole from its archive counts as
    unchanged: it carries that revert's transaction id, as does the revert's record. Reads only."""
    sql = (
        f"SELECT x.id FROM {ARCHIVE} a CROSS JOIN LATERAL {INSERTED_IDS} AS x(id) "
        f"LEFT JOIN {table} t ON t.id = x.id "
        "WHERE a.run_id = %s AND a.table = %s AND a.kind = %s "
        "AND (t.id IS NULL OR (NOT (t.xmin = a.xmin) "
        f"AND NOT EXISTS (SELECT 1 FROM {RUNS} r WHERE r.id = ANY(%s) AND r.xmin = t.xmin)))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id, table, ArchiveKind.INSERTED.value, list(reverts)])
        return {int(row[0]) for row in cursor.fetchall()}


def keys_changed_since(*, run_id: int, target: str, table: str, key_column: str) -> dict[str, str]:
    """The keys run ``run_id`` inserted into ``table`` whose row is gone or no longer the version
    it wrote (its ``xmin`` differs from that of the run's :class:`~refs.models.RunKey` row,
    written in the same transaction), with what happened. Reads only."""
    key = quote_ident(key_column)
    sql = (
        f'SELECT k."key", t.{key} IS NULL FROM {RUN_KEYS} k LEFT JOIN {table} t ON t.{key} = k."key" '
        f'WHERE k."run_id" = %s AND k."target" = %s AND (t.{key} IS NULL OR NOT (t.xmin = k.xmin))'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id, target])
        return {str(k): "no longer in the table" if gone else "edited since" for k, gone in cursor.fetchall()}


def referencing_facts(*, table: str, column: str, keys: Sequence[str], excluding: Sequence[int]) -> dict[str, int]:
    """How many rows of fact table ``table`` hold each of ``keys`` in ``column``, leaving out the
    rows ``excluding`` (ids the revert deletes). Reads only."""
    if not keys:
        return {}
    col = quote_ident(column)
    # An anti-join on the unnested ids (hashed), not NOT (id = ANY(…)), which compares every row
    # with every id: 1.4 s for 20,000 of each, and quadratic beyond.
    sql = (
        f"SELECT t.{col}, count(*) FROM {table} t WHERE t.{col} = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM unnest(%s::bigint[]) AS x(id) WHERE x.id = t.id) GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(keys), list(excluding)])
        return {str(k): int(n) for k, n in cursor.fetchall()}


def archived_references(*, run_id: int, table: str, column: str, keys: Sequence[str]) -> dict[str, int]:
    """How many rows run ``run_id`` deleted from ``table`` (and a revert would put back) hold
    each of ``keys`` in ``column``. Reads only."""
    if not keys:
        return {}
    where = "a.run_id = %s AND a.table = %s AND a.kind = %s"
    sql = (
        f"SELECT k, count(*) FROM (SELECT a.row ->> %s AS k FROM {ARCHIVE} a WHERE {where} AND a.row IS NOT NULL "
        f'UNION ALL SELECT x.k FROM {ARCHIVE} a CROSS JOIN LATERAL unnest(a."rows"[:][array_position(a."columns", %s):'
        f'array_position(a."columns", %s)]) AS x(k) WHERE {where}) s WHERE k = ANY(%s) GROUP BY 1'
    )
    where_params: list[Any] = [run_id, table, ArchiveKind.DELETED.value]
    with connection.cursor() as cursor:
        cursor.execute(sql, [column, *where_params, column, column, *where_params, list(keys)])
        return {str(k): int(n) for k, n in cursor.fetchall()}
