"""The floors wdh is measured against: the least work that gives the same answer.

- read floor: python-calamine reading the sheet into a list of rows, nothing else;
- write floors, on a plain psycopg2 session and the very candidates and rows wdh derived:
  COPY into a temporary table, then one set-based statement per target with exact counts
  (insert: ``INSERT … SELECT … WHERE NOT EXISTS … ON CONFLICT DO NOTHING RETURNING key``; fill:
  one ``UPDATE … FROM`` over the rows locked by a ``FOR UPDATE`` CTE, counting the cells it
  filled per column); facts: the DELETE of the batch's scopes, then COPY into the fact table.

Each floor runs in one transaction, committed, and is timed from the first statement (serialising
the rows included) to the commit — exactly the span wdh's stage is timed over.
"""

from __future__ import annotations

import itertools
import operator
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook

from bench.database import table_columns
from wdh.copy_text import copy_text


@dataclass
class Floor:
    seconds: float
    statements: int
    counts: dict[str, Any] = field(default_factory=dict)


def read_floor(path: Path, sheet: str) -> Floor:
    """Read ``sheet`` into a list of rows; counts its non-blank rows below the header (untimed)."""
    started = time.perf_counter()
    rows = CalamineWorkbook.from_path(path).get_sheet_by_name(sheet).to_python()
    seconds = time.perf_counter() - started
    filled = sum(not _blank(row) for row in rows)
    return Floor(seconds, 0, {"rows": max(filled - 1, 0)})  # the first non-blank row is the header


def _blank(row: Sequence[Any]) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in row)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Text:
    """Rows in PostgreSQL's text COPY format, a batch per ``read()``, so the server parses one
    batch while the next is written; built column by column by :func:`wdh.copy_text.copy_text`,
    the fastest way this project knows to write them (faster than the csv module's C writer:
    0.37 s against 0.45 s for the 100,000 fact rows; its exactness: tests/test_copy_text.py).
    None is ``\\N``, NULL; ``str()`` renders dates and decimals as PostgreSQL reads them."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self.rows = iter(rows)

    def read(self, size: int = -1) -> str:
        batch = list(itertools.islice(self.rows, 2000))
        return copy_text(list(zip(*batch, strict=True))) if batch else ""


def _stage(cursor: Any, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    column_sql = ", ".join(f"{_quote(column)} text" for column in columns)
    cursor.execute(f"CREATE TEMPORARY TABLE {_quote(name)} ({column_sql}) ON COMMIT DROP")
    cursor.copy_expert(f"COPY {_quote(name)} FROM STDIN", _Text(rows), size=1 << 16)


def insert_floor(raw: Any, targets: Sequence[Any], candidates: Sequence[Mapping[str, Mapping[str, Any]]]) -> Floor:
    """insert_missing's floor for every target, in one transaction. Writes the database."""
    floor = Floor(0.0, 0)
    started = time.perf_counter()
    with raw, raw.cursor() as cursor:
        for target, rows in zip(targets, candidates, strict=True):
            types = dict(table_columns(cursor, target.qualified_name))
            columns = [rule.column for rule in target.columns]
            key = _quote(target.key[0])
            stage = f"floor_insert_{target.name}"
            _stage(cursor, stage, columns, ([row[c] for c in columns] for row in rows.values()))
            selected = ", ".join(f"s.{_quote(c)}::{types[c]}" for c in columns)
            cursor.execute(
                f"INSERT INTO {target.qualified_name} ({', '.join(map(_quote, columns))}) "
                f"SELECT {selected} FROM {_quote(stage)} s WHERE NOT EXISTS "
                f"(SELECT 1 FROM {target.qualified_name} t WHERE t.{key} = s.{key}) "
                f"ON CONFLICT DO NOTHING RETURNING {key}"
            )
            floor.counts[target.name] = {"inserted": len(cursor.fetchall())}
            floor.statements += 3
    floor.seconds = time.perf_counter() - started
    return floor


def fill_floor(raw: Any, targets: Sequence[Any], candidates: Sequence[Mapping[str, Mapping[str, Any]]]) -> Floor:
    """fill_null_only's floor for every target, in one transaction. Writes the database."""
    floor = Floor(0.0, 0)
    started = time.perf_counter()
    with raw, raw.cursor() as cursor:
        for target, rows in zip(targets, candidates, strict=True):
            types = dict(table_columns(cursor, target.qualified_name))
            key, columns = target.key[0], list(target.updatable)
            stage = f"floor_fill_{target.name}"
            _stage(cursor, stage, [key, *columns], ([row[key], *(row[c] for c in columns)] for row in rows.values()))
            cursor.execute(_fill_sql(target.qualified_name, _quote(stage), key, columns, types))
            changed, *cells = cursor.fetchone()
            floor.counts[target.name] = {
                "rows_changed": changed,
                "cells_filled": {c: n for c, n in zip(columns, cells, strict=True) if n},
            }
            floor.statements += 3
    floor.seconds = time.perf_counter() - started
    return floor


def _fill_sql(table: str, stage: str, key: str, columns: Sequence[str], types: Mapping[str, str]) -> str:
    k = _quote(key)
    flags = [f"(t.{_quote(c)} IS NULL AND s.{_quote(c)} IS NOT NULL)" for c in columns]
    sets = ", ".join(
        f"{_quote(c)} = CASE WHEN todo.f{i} THEN s.{_quote(c)}::{types[c]} ELSE t.{_quote(c)} END"
        for i, c in enumerate(columns)
    )
    counts = ", ".join(f"count(*) FILTER (WHERE f{i})" for i in range(len(columns)))
    return (
        f"WITH todo AS (SELECT t.{k} AS k, {', '.join(f'{flag} AS f{i}' for i, flag in enumerate(flags))} "
        f"FROM {table} t JOIN {stage} s ON s.{k} = t.{k} WHERE {' OR '.join(flags)} FOR UPDATE OF t), "
        f"done AS (UPDATE {table} t SET {sets} FROM todo JOIN {stage} s ON s.{k} = todo.k "
        f"WHERE t.{k} = todo.k RETURNING {', '.join(f'todo.f{i}' for i in range(len(columns)))}) "
        f"SELECT count(*), {counts} FROM done"
    )


def facts_floor(raw: Any, table: Any, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Floor:
    """delete_insert's floor: one DELETE of the batch's scopes, one COPY. Writes the database."""
    started = time.perf_counter()
    pk = list(table.pk)
    with raw, raw.cursor() as cursor:
        types = dict(table_columns(cursor, table.qualified))
        scopes = list(dict.fromkeys(tuple(row[c] for c in pk) for row in rows))
        arrays = [[scope[i] for scope in scopes] for i in range(len(pk))]
        unnest = ", ".join(f"%s::{types[c]}[]" for c in pk)
        match = " AND ".join(f"f.{_quote(c)} IS NOT DISTINCT FROM s.c{i}" for i, c in enumerate(pk))
        aliases = ", ".join(f"c{i}" for i in range(len(pk)))
        cursor.execute(f"DELETE FROM {table.qualified} f USING unnest({unnest}) AS s({aliases}) WHERE {match}", arrays)
        deleted = cursor.rowcount
        cursor.copy_expert(
            f"COPY {table.qualified} ({', '.join(map(_quote, columns))}) FROM STDIN",
            _Text(map(operator.itemgetter(*columns), rows)),
            size=1 << 16,
        )
        inserted = cursor.rowcount
    return Floor(time.perf_counter() - started, 2, {"deleted": deleted, "inserted": inserted})
