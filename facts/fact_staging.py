"""The staging table of a domain's fact rows (issue 13 item 1): where cleansed rows go as they are
produced, so that no more than a chunk of them is held in Python.

A :class:`FactStaging` is a session TEMP table (``ON COMMIT PRESERVE ROWS``) created on the run's
connection before the reading: a column ``wdh_seq`` (the row's place in the batch), the domain's
fact columns, and ``wdh_pending`` (the plan code of a single plan's row that 年金计划 may still give
a company_id, :mod:`facts.company_ids`). Its columns take the fact table's types without their
length or precision (``varchar(40)`` stages as ``varchar``, ``char(9)`` as ``text``), so that a value too long for the
table reaches the checks before the first write (:mod:`wdh.preflight`), which name it, instead of
failing the COPY; the final INSERT … SELECT applies the table's own types, as the COPY into the
table did. A temporary table is private to the session and writes no WAL: filling it writes
nothing in the warehouse, and PostgreSQL allows it even in plan-only's READ ONLY transaction.

The run drops it when it ends, whatever the end (:meth:`FactStaging.drop`).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from facts.column_rows import ColumnRows
from facts.company_ids import COMPANY_ID
from wdh import catalog
from wdh.errors import SchemaError
from wdh.identifiers import quote_ident, quote_qualified
from wdh.postgres import ROWS_PER_READ, copy_columns
from wdh.write_rows import STAGED_ORDER

SEQ = STAGED_ORDER  # the row's place in the batch: the load inserts in this order
PENDING = "wdh_pending"  # plan code of a row waiting for its plan's company_id
DIGEST_GROUP = 10_000  # rows per digest group (the server aggregates one group at a time)
# Each fact column's staged type: the table's (a domain's base type) without length or precision —
# except where "without" means a length of 1: ``character`` is char(1) and ``bit`` is bit(1), which
# would cut a value cast to them (``'600123456'::character`` is ``'6'``); those stage as text and
# bit varying, and the INSERT … SELECT casts to the table's own type as the COPY into it did.
_STAGED_TYPES = """
SELECT a.attname, CASE b.base
    WHEN 'bpchar'::regtype THEN 'text' WHEN '_bpchar'::regtype THEN 'text[]'
    WHEN 'bit'::regtype THEN 'bit varying' WHEN '_bit'::regtype THEN 'bit varying[]'
    ELSE format_type(b.base, NULL) END
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid,
    LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END AS base) b
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
"""


@dataclass
class FactStaging:
    """One domain's staged fact rows: the temp table, its fact columns and their staged types."""

    table: str  # pg_temp-qualified, quoted
    columns: tuple[str, ...]  # the domain's fact columns, in COPY order
    types: dict[str, str] = field(default_factory=dict)  # column → its staged type
    rows: int = 0  # rows handed to it so far (the seq of the next is rows + 1)

    @classmethod
    def create(cls, domain: str, facts_table: str, columns: Sequence[str]) -> FactStaging:
        """Create ``domain``'s staging table (``pg_temp.wdh_staged_<domain>``: the same name in
        plan-only and execute, so the statements shown are those sent; one made earlier in the
        session is replaced) for ``columns`` of ``facts_table`` (quoted, qualified) on the current
        connection. Raises SchemaError when the session may not create temporary tables."""
        if not catalog.temporary_tables_allowed():
            raise SchemaError(
                "no TEMPORARY privilege on this database, which the fact load needs for its staging table; "
                "GRANT TEMPORARY ON DATABASE <the database> TO <the role wdh connects as>"
            )
        types = dict.fromkeys(columns, "text")  # a column the table lacks: its check names it later
        with connection.cursor() as cursor:
            cursor.execute(_STAGED_TYPES, [facts_table])
            types.update((name, kind) for name, kind in cursor.fetchall() if name in types)
            name = f"wdh_staged_{domain}"
            table = quote_qualified("pg_temp", name)
            column_sql = ", ".join(f"{quote_ident(column)} {kind}" for column, kind in types.items())
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {quote_ident(name)} ({SEQ} bigint, {column_sql}, {PENDING} text) "
                "ON COMMIT PRESERVE ROWS"
            )
        return cls(table=table, columns=tuple(columns), types=types)

    def copy(self, cursor: Any, start: int, rows: Sequence[Mapping[str, Any]], pending: Sequence[str | None]) -> int:
        """COPY ``rows`` (seq from ``start``) with their pending plan codes, on the psycopg2
        ``cursor`` of the run's session. Returns the rows PostgreSQL copied."""
        if len(pending) != len(rows):
            raise ValueError(f"staging: {len(rows)} row(s) with {len(pending)} pending plan code(s)")
        batches = self._columns(start, rows, pending)
        return copy_columns(cursor, self.table, (SEQ, *self.columns, PENDING), batches)

    def _columns(
        self, start: int, rows: Sequence[Mapping[str, Any]], pending: Sequence[str | None]
    ) -> Iterator[list[Sequence[Any]]]:
        """The COPY's columns (seq, the fact columns, the pending plan code), ROWS_PER_READ rows
        at a time: the values are taken column by column, with no tuple per row."""
        if isinstance(rows, ColumnRows):  # a worker's chunk: its columns as they are, Decimals as their texts
            columns = [rows.copy_column(column) for column in self.columns]
            for at in range(0, len(rows), ROWS_PER_READ):
                values = [column[at : at + ROWS_PER_READ] for column in columns]
                yield [range(start + at, start + at + len(values[0])), *values, pending[at : at + ROWS_PER_READ]]
            return
        getters = [operator.itemgetter(column) for column in self.columns]
        for at in range(0, len(rows), ROWS_PER_READ):
            part = rows[at : at + ROWS_PER_READ]
            values = [list(map(get, part)) for get in getters]
            yield [range(start + at, start + at + len(part)), *values, pending[at : at + ROWS_PER_READ]]

    def add(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """COPY ``rows`` (none pending) after those staged, on this thread (for a caller holding
        the rows already: the benchmark's stages, tests). Returns the rows copied."""
        with connection.cursor() as cursor:
            copied = self.copy(cursor.cursor, self.rows + 1, rows, [None] * len(rows))
        self.rows += copied
        return copied

    def complete_company_ids(self, completed: Mapping[str, str]) -> int:
        """Give the pending rows of each plan in ``completed`` its company_id: one UPDATE.
        Returns the rows updated."""
        if not completed or COMPANY_ID not in self.types:
            return 0
        kind = self.types[COMPANY_ID]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.table} s SET {quote_ident(COMPANY_ID)} = c.company_id::{kind}, {PENDING} = NULL "
                f"FROM unnest(%s::text[], %s::text[]) AS c(plan, company_id) WHERE s.{PENDING} = c.plan",
                [list(completed), list(completed.values())],
            )
            return int(cursor.rowcount)

    def read_back(self, size: int = DIGEST_GROUP) -> Iterator[list[dict[str, Any]]]:
        """The staged rows in their order, ``size`` at a time, as rows of the fact columns (a
        server-side cursor: no more than ``size`` rows in Python). Reads the staging table."""
        columns = ", ".join(map(quote_ident, self.columns))
        with connection.chunked_cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {self.table} ORDER BY {SEQ}")
            while rows := cursor.fetchmany(size):
                yield [dict(zip(self.columns, row, strict=True)) for row in rows]

    def insert_statement(self, facts_table: str) -> str:
        """The statement that loads the staged rows into ``facts_table``, in their order."""
        columns = ", ".join(map(quote_ident, self.columns))
        return f"INSERT INTO {facts_table} ({columns}) SELECT {columns} FROM {self.table} ORDER BY {SEQ}"

    def load_into(self, facts_table: str) -> int:
        """Insert every staged row into ``facts_table`` (server-side). Returns the rows inserted."""
        with connection.cursor() as cursor:
            cursor.execute(self.insert_statement(facts_table))
            return int(cursor.rowcount)

    def digest(self) -> str:
        """SHA-256 over the staged rows' fact columns in load order (per group of DIGEST_GROUP
        rows the server's md5 of each row's text): equal digests, equal rows loaded. Reads the
        staging table."""
        columns = ", ".join(map(quote_ident, self.columns))
        digest = hashlib.sha256()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT md5(string_agg(md5(ROW({columns})::text), '' ORDER BY {SEQ})) FROM {self.table} "
                f"GROUP BY ({SEQ} - 1) / {DIGEST_GROUP} ORDER BY ({SEQ} - 1) / {DIGEST_GROUP}"
            )
            for (group,) in cursor.fetchall():
                digest.update(group.encode())
        return digest.hexdigest()

    def drop(self) -> None:
        """Drop the staging table (the run ends). Writes nothing in the warehouse."""
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
