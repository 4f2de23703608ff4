"""The few PostgreSQL operations the ORM cannot express, each with the reason it is raw SQL.

- advisory locks (one execute run per database; plans saved one at a time),
- catalog checks (table, columns, unique index on the key) made before the first write,
- read-only, repeatable-read transactions for plan-only runs,
- "which of these rows did this transaction write" (``xmin``), for exact insert counts,
- COPY, for staging candidates and loading facts at bulk speed,
- telling a lost connection from a statement the server refused.

Identifiers go through :func:`~wdh.identifiers.quote_ident`; values are always bound.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg2
from django.db import DatabaseError, connection, transaction

from wdh.copy_text import copy_text, row_columns
from wdh.errors import SchemaError
from wdh.identifiers import quote_ident

# SQLSTATE classes of a lost connection: 08 connection exception, 57P operator intervention
# (terminated backend, server shut down). A connection that just drops often carries none at all.
_CONNECTION_LOST_STATES = ("08", "57P")

# A fixed 64-bit key: advisory locks are per database, so this serialises execute runs of every
# wdh process that writes this warehouse.
BACKFILL_LOCK_KEY = int.from_bytes(hashlib.sha256(b"wdh.backfill").digest()[:8], "big", signed=True)
# Serialises the saving of plans (refs.plan_lifecycle): two plan-only runs for the same month
# ending together must see each other, so that one of them supersedes the other.
PLAN_STATES_LOCK_KEY = int.from_bytes(hashlib.sha256(b"wdh.plan_states").digest()[:8], "big", signed=True)


def plan_states_lock() -> None:
    """Wait for the plan-states lock, held until the current transaction ends. Never taken by
    an execute run, so it never waits for one (a plan-only run holds it for two statements)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PLAN_STATES_LOCK_KEY])


def advisory_lock_try() -> bool:
    """Take the session-level backfill lock without waiting; ``False`` if another session has it.

    Session-level (not transaction-level) so the run can take it before the slow reading step,
    and PostgreSQL releases it by itself when a killed run's connection goes away.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [BACKFILL_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def advisory_lock_release() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [BACKFILL_LOCK_KEY])


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is the session's connection going away (a terminated backend, a server
    restart, the network), as opposed to the server refusing a statement. PostgreSQL rolls back
    the open transaction of a connection it loses."""
    error = exc.__cause__ if isinstance(exc, DatabaseError) and exc.__cause__ is not None else exc
    if not isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError):
        return False
    state = error.pgcode or ""
    return not state or state.startswith(_CONNECTION_LOST_STATES)


@contextlib.contextmanager
def read_only_transaction() -> Iterator[None]:
    """A transaction that cannot write and sees one snapshot from start to end.

    REPEATABLE READ makes a long plan-only run consistent: it never sees half of an execute run
    that commits meanwhile. It takes no lock that an execute run would wait for.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def table_columns(qualified_name: str) -> list[str] | None:
    """Column names of a table, or ``None`` when it does not exist (``to_regclass``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [qualified_name])
        oid = cursor.fetchone()[0]
        if oid is None:
            return None
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [oid],
        )
        return [row[0] for row in cursor.fetchall()]


def column_defaults(qualified_name: str) -> frozenset[str]:
    """Names of the table's columns that have a default (``DEFAULT``, identity or generated):
    the columns where leaving a column out of an INSERT differs from inserting NULL."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
            "AND NOT attisdropped AND (atthasdef OR attidentity <> '' OR attgenerated <> '')",
            [qualified_name],
        )
        return frozenset(row[0] for row in cursor.fetchall())


def has_unique_index(qualified_name: str, columns: Sequence[str]) -> bool:
    """Whether a primary key or a full (non-partial, non-expression) unique index covers exactly
    ``columns`` — what ``ON CONFLICT DO NOTHING`` needs to be duplicate-safe."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT array_agg(a.attname::text ORDER BY a.attname)
            FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indpred IS NULL
                  AND i.indexprs IS NULL AND i.indisvalid
            GROUP BY i.indexrelid
            """,
            [qualified_name],
        )
        wanted = sorted(columns)
        return any(sorted(row[0]) == wanted for row in cursor.fetchall())


def require_table(qualified_name: str, columns: Iterable[str], *, config_key: str) -> None:
    """Raise :class:`SchemaError` unless the table exists with every one of ``columns``."""
    present = table_columns(qualified_name)
    if present is None:
        raise SchemaError(
            f"table {qualified_name} does not exist in the database (configured at {config_key}); "
            "create it (new environments: python manage.py warehouse_ddl --apply) or fix the "
            "schema/table in data_sources.yml"
        )
    missing = [column for column in columns if column not in present]
    if missing:
        raise SchemaError(
            f"table {qualified_name} has no column {', '.join(map(quote_ident, missing))} "
            f"(configured at {config_key}); columns present: {', '.join(present)}"
        )


def require_unique_index(qualified_name: str, key: Sequence[str], *, config_key: str) -> None:
    """Refuse (before any write) a table whose key has no unique index: ON CONFLICT would not
    detect duplicates and concurrent runs could insert the same key twice."""
    if not has_unique_index(qualified_name, key):
        columns = ", ".join(quote_ident(column) for column in key)
        raise SchemaError(
            f"table {qualified_name} has no primary key or unique index on ({columns}) "
            f"(the key configured at {config_key}); insert_missing needs one to stay duplicate-safe. "
            f"Create it, e.g.: CREATE UNIQUE INDEX ON {qualified_name} ({columns});"
        )


def text_array(values: Iterable[str | None]) -> str:
    """``values`` as a PostgreSQL array literal of text (:func:`quote_array_element` each; None is
    the unquoted NULL)."""
    return "{" + ",".join("NULL" if value is None else quote_array_element(value) for value in values) + "}"


def quote_array_element(value: str) -> str:
    """``value`` as an element of a PostgreSQL array literal: double-quoted, its backslashes and
    double quotes escaped (so no element reads as NULL or splits)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def keys_written_here(qualified_name: str, key_column: str, keys: Sequence[str]) -> list[str]:
    """Which of ``keys`` have a row version created by the current transaction.

    ``bulk_create(ignore_conflicts=True)`` does not report which rows it inserted; a row this
    transaction inserted carries our transaction id in ``xmin`` (the run writes without
    savepoints, so no sub-transaction ids), while a row another session inserted concurrently
    — which made ours a no-op conflict — carries theirs.
    """
    if not keys:
        return []
    column = quote_ident(key_column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {qualified_name} "
            f"WHERE {column} = ANY(%s::text[]) AND xmin = pg_current_xact_id()::xid",
            [text_array(keys)],
        )
        return [row[0] for row in cursor.fetchall()]


class _TextStream:
    """The COPY data of ``batches`` (each a list of columns, :func:`~wdh.copy_text.copy_text`),
    one batch per ``read()``: COPY streams them to the server without the whole table ever
    sitting in one buffer, and the server parses one batch while the next is written."""

    def __init__(self, batches: Iterable[Sequence[Sequence[Any]]]) -> None:
        self.batches = iter(batches)

    def read(self, size: int = -1) -> str:
        for columns in self.batches:
            if text := copy_text(columns):
                return text
        return ""


ROWS_PER_READ = 2000  # rows formatted per read() of the COPY data


def copy_rows(qualified_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """``COPY table (columns) FROM STDIN``: ``None`` is NULL, other values ``str()``.

    Returns the number of rows copied as PostgreSQL reports it.
    """
    with connection.cursor() as cursor:
        return copy_with(cursor.cursor, qualified_name, columns, rows)


def copy_with(cursor: Any, qualified_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """:func:`copy_rows` on a psycopg2 ``cursor`` of the run's session, for a thread other than the
    one Django's connection belongs to (a psycopg2 connection may be shared between threads, a
    cursor may not; the caller makes sure only one thread uses the session at a time)."""
    rows = iter(rows)
    width = len(columns)
    batches = iter(lambda: row_columns(itertools.islice(rows, ROWS_PER_READ), width), [])
    return copy_columns(cursor, qualified_name, columns, batches)


def copy_columns(
    cursor: Any, qualified_name: str, columns: Sequence[str], batches: Iterable[Sequence[Sequence[Any]]]
) -> int:
    """:func:`copy_with` of rows given column by column: each of ``batches`` is the values of the
    next rows, one sequence per column of ``columns``. Returns the rows copied."""
    column_list = ", ".join(quote_ident(column) for column in columns)
    sql = f"COPY {qualified_name} ({column_list}) FROM STDIN"  # text format: copy_text
    # psycopg2's COPY (Django's cursor wrapper has none), fed a batch of lines per read
    cursor.copy_expert(sql, _TextStream(batches), size=1 << 16)
    return int(cursor.rowcount)


def table_pairs(qualified_name: str, key_column: str, value_column: str) -> dict[str, str]:
    """``{key: value}`` of a table that has no model (the optional branch table); blank
    keys and values are skipped, the first row wins for a repeated key."""
    key, value = quote_ident(key_column), quote_ident(value_column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT btrim({key}), btrim({value}) FROM {qualified_name} "
            f"WHERE btrim(coalesce({key}, '')) <> '' AND btrim(coalesce({value}, '')) <> '' ORDER BY ctid"
        )
        pairs: dict[str, str] = {}
        for name, code in cursor.fetchall():
            pairs.setdefault(name, code)
        return pairs
