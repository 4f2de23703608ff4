"""The fact archive: per execute run, the fact rows its load deleted (whole) and inserted (their
ids, one archive row per delete scope), kept in :class:`~refs.models.FactArchive` so ``revert_run``
can take the load back.

Raw SQL, because the ORM cannot express what this needs:

- ``INSERT … SELECT to_jsonb(t)``: a deleted row is copied whole, by the server, in the same
  statement shape whatever the fact table's columns — 100,000 rows never pass through Python;
- ``INSERT … SELECT array_agg(id) … GROUP BY`` the scope's columns: the inserted rows' ids, one
  archive row per scope (its array stored uncompressed, migration 0009) — an archive row per
  inserted fact row cost the load a third of its time (0.4 s of CPU for 100,000 rows, against
  0.1 s now);
- ``xmin``: which rows of the batch's scopes this transaction inserted (the run writes without
  savepoints, so a row we inserted carries our transaction id), and whether a row still is the
  version a run wrote (any later UPDATE gives it a new ``xmin``; the archive row, written in the
  same transaction, keeps the run's);
- ``jsonb_populate_record``: a deleted row put back with every column, its id included, as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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


class RunArchive:
    """The archive hook of one execute run's fact load (``facts.loading.facts_apply``)."""

    def __init__(self, *, run_id: int, table: FactsTable) -> None:
        self.run_id = run_id
        self.table = table

    def keep_deleted(self, rows: models.QuerySet[Any]) -> int:
        """Copy ``rows`` (about to be deleted) whole into the archive, one archive row each;
        return how many. Writes."""
        table = self.table.qualified
        where, params = _where(rows)
        sql = (
            f'INSERT INTO {ARCHIVE} ("run_id", "table", "kind", "fact_id", "scope", "row") '
            f"SELECT %s, %s, %s, {table}.id, {self._scope()}, to_jsonb({table}.*) FROM {table} WHERE {where}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.run_id, table, ArchiveKind.DELETED.value, *self.table.pk, *params])
            return int(cursor.rowcount)

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


def archive_restore(*, run_id: int, table: str, scopes: Sequence[dict[str, Any]]) -> int:
    """Insert back the rows run ``run_id`` deleted from ``table`` in ``scopes``, every column
    as it was (the id too: a GENERATED identity takes it with OVERRIDING SYSTEM VALUE). Writes."""
    if not scopes:
        return 0
    sql = (
        f"INSERT INTO {table} OVERRIDING SYSTEM VALUE "
        f"SELECT (jsonb_populate_record(NULL::{table}, a.row)).* FROM {ARCHIVE} a "
        "WHERE a.run_id = %s AND a.table = %s AND a.kind = %s AND a.scope = ANY(%s::jsonb[]) ORDER BY a.fact_id"
    )
    with connection.cursor() as cursor:
        scope_list = [json.dumps(scope, ensure_ascii=False) for scope in scopes]
        cursor.execute(sql, [run_id, table, ArchiveKind.DELETED.value, scope_list])
        return int(cursor.rowcount)


def restore_sql(table: str) -> str:
    """The statement :func:`archive_restore` sends, for plans. Pure."""
    return (
        f"INSERT INTO {table} OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::{table}, a.row)).* "
        f"FROM {ARCHIVE} a WHERE a.run_id = %s AND a.table = %s AND a.kind = 'deleted' AND a.scope = ANY(%s)"
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
    sql = (
        f"SELECT a.row ->> %s, count(*) FROM {ARCHIVE} a WHERE a.run_id = %s AND a.table = %s AND a.kind = %s "
        "AND a.row ->> %s = ANY(%s) GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [column, run_id, table, ArchiveKind.DELETED.value, column, list(keys)])
        return {str(k): int(n) for k, n in cursor.fetchall()}
