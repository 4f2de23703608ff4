"""What the PostgreSQL catalog says about a table: its columns, the session's privileges on it,
and its foreign keys — the facts :mod:`wdh.preflight` checks a run against before it writes.

Raw SQL because the ORM has no catalog API. Every function reads only; identifiers go through
:func:`~wdh.identifiers.quote_ident`, values are bound. Tables are addressed by ``oid``
(``relation_oid``) once their name is resolved, so a name is never looked up twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection

from wdh.identifiers import quote_ident, quote_qualified


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(), e.g. "character varying(255)": castable text
    not_null: bool
    has_default: bool  # DEFAULT, identity or generated: left out of an INSERT, it is not NULL
    max_length: int | None = None  # characters, for varchar(n) / char(n)


@dataclass(frozen=True)
class ForeignKey:
    """One foreign key of a table, as ``pg_constraint`` holds it (columns in key order)."""

    name: str
    columns: tuple[str, ...]
    referenced_oid: int
    referenced: str  # quoted, schema-qualified name of the referenced table
    referenced_columns: tuple[str, ...]
    referenced_types: tuple[str, ...]
    deferred: bool  # INITIALLY DEFERRED: checked at commit, not after each statement


def schema_usable(schema: str) -> bool | None:
    """Whether the session may use ``schema`` (USAGE); ``None`` when there is no such schema.

    Without USAGE, even resolving a table name in the schema fails with "permission denied".
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = %s", [schema])
        row = cursor.fetchone()
        return None if row is None else bool(row[0])


def relation_oid(qualified_name: str) -> int | None:
    """The table's ``oid``, or ``None`` when it does not exist."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [qualified_name])
        oid = cursor.fetchone()[0]
        return None if oid is None else int(oid)


def table_privileged(oid: int, privilege: str) -> bool:
    """``has_table_privilege``: whether the session holds ``privilege`` on the whole table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(%s::oid, %s)", [oid, privilege])
        return bool(cursor.fetchone()[0])


def columns_unprivileged(oid: int, columns: Sequence[str], privilege: str) -> list[str]:
    """The ``columns`` on which the session lacks ``privilege`` (``has_column_privilege`` is true
    for a table-wide grant as well as a grant on the column). The columns must exist."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c FROM unnest(%s::text[]) WITH ORDINALITY AS u(c, n) "
            "WHERE NOT has_column_privilege(%s::oid, c, %s) ORDER BY n",
            [list(columns), oid, privilege],
        )
        return [row[0] for row in cursor.fetchall()]


def temporary_tables_allowed() -> bool:
    """Whether the session may create temporary tables in this database (TEMPORARY)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_database_privilege(current_database(), 'TEMPORARY')")
        return bool(cursor.fetchone()[0])


def sequences_unusable(oid: int) -> dict[str, str]:
    """``{column: sequence}`` for each column whose default draws from a sequence the session
    may not use (``nextval`` needs USAGE or UPDATE): a serial column, or a DEFAULT nextval(…).
    Identity columns are not listed — PostgreSQL draws their values without a privilege check."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, n.nspname, s.relname FROM pg_attrdef ad "
            "JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum "
            "JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid "
            "AND d.refclassid = 'pg_class'::regclass "
            "JOIN pg_class s ON s.oid = d.refobjid JOIN pg_namespace n ON n.oid = s.relnamespace "
            # CASE, not AND: the planner may test the privilege before relkind, and
            # has_sequence_privilege raises for a table the default also depends on
            "WHERE ad.adrelid = %s AND CASE WHEN s.relkind = 'S' THEN NOT has_sequence_privilege(s.oid, 'USAGE') "
            "AND NOT has_sequence_privilege(s.oid, 'UPDATE') ELSE false END ORDER BY a.attnum",
            [oid],
        )
        return {column: quote_qualified(schema, name) for column, schema, name in cursor.fetchall()}


def table_catalog_columns(oid: int) -> dict[str, Column]:
    """The table's columns in table order, with type, NOT NULL and whether they have a default."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull, "
            "atthasdef OR attidentity <> '' OR attgenerated <> '', "
            # a varchar(n) / char(n) typmod is n + 4 (the header PostgreSQL counts in)
            "CASE WHEN atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND atttypmod > 0 "
            "THEN atttypmod - 4 END "
            "FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [oid],
        )
        return {
            name: Column(name, kind, bool(not_null), bool(default), width)
            for name, kind, not_null, default, width in cursor
        }


_FOREIGN_KEYS = """
SELECT c.conname,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.pos),
       c.confrelid::bigint, n.nspname, r.relname,
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.pos),
       ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM unnest(c.confkey) WITH ORDINALITY AS k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.pos),
       c.condeferred
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.confrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
WHERE c.conrelid = %s AND c.contype = 'f'
ORDER BY c.conname
"""


def foreign_keys(oid: int) -> list[ForeignKey]:
    """The table's foreign keys (``pg_constraint``), by constraint name."""
    with connection.cursor() as cursor:
        cursor.execute(_FOREIGN_KEYS, [oid])
        return [
            ForeignKey(
                name=name,
                columns=tuple(columns),
                referenced_oid=int(referenced_oid),
                referenced=quote_qualified(schema, table),
                referenced_columns=tuple(referenced_columns),
                referenced_types=tuple(types),
                deferred=bool(deferred),
            )
            for name, columns, referenced_oid, schema, table, referenced_columns, types, deferred in cursor
        ]


def keys_absent(key: ForeignKey, values: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Which of ``values`` (text tuples of the key's columns) have no row in the referenced table.

    The values are sent as one text array per column and cast to the referenced columns' types,
    so the comparison is the one the foreign key makes. Needs SELECT on the referenced table.
    """
    values = list(values)
    if not values:
        return []
    width = len(key.referenced_columns)
    names = [f"k{index}" for index in range(width)]
    arrays = ", ".join("%s::text[]" for _ in names)
    match = " AND ".join(
        f"r.{quote_ident(column)} = k.{name}::{kind}"
        for column, name, kind in zip(key.referenced_columns, names, key.referenced_types, strict=True)
    )
    sql = (
        f"SELECT {', '.join('k.' + name for name in names)} FROM unnest({arrays}) AS k({', '.join(names)}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {key.referenced} r WHERE {match})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [[value[index] for value in values] for index in range(width)])
        return [tuple(row) for row in cursor.fetchall()]
