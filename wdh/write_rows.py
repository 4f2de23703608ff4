"""The rows a write sends, as the checks before the first write (:mod:`wdh.preflight`) read
them: held in memory (a backfill's insert rows, :class:`ListedRows`) or in a staging table of the
session (the fact load's rows, :class:`StagedRows`, checked in SQL so that they never come back
into Python). Both answer the same three questions: which rows leave a column NULL, which values
are longer than a column's width, and which key tuples the rows carry. Reads the staging table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import connection

from wdh.identifiers import quote_ident

STAGED_ORDER = "wdh_seq"  # the column of a staging table that orders its rows
SAMPLE = 10  # rows a check quotes at most (preflight shows SAMPLE and counts the rest)


class WriteRows(Protocol):
    """The rows of one write, for the checks. ``empty`` and ``long`` return how many rows match
    and the first of them (at least SAMPLE when there are), as mappings of the ``label`` columns
    and the checked one."""

    @property
    def total(self) -> int: ...

    def empty(self, column: str, label: Sequence[str]) -> tuple[int, list[Mapping[str, Any]]]: ...

    def long(self, column: str, limit: int, label: Sequence[str]) -> tuple[int, list[Mapping[str, Any]]]: ...

    def keys(self, columns: Sequence[str]) -> set[tuple[str, ...]]: ...


@dataclass(frozen=True)
class ListedRows:
    rows: Sequence[Mapping[str, Any]]

    @property
    def total(self) -> int:
        return len(self.rows)

    def empty(self, column: str, label: Sequence[str]) -> tuple[int, list[Mapping[str, Any]]]:
        found = [row for row in self.rows if row.get(column) is None]
        return len(found), found

    def long(self, column: str, limit: int, label: Sequence[str]) -> tuple[int, list[Mapping[str, Any]]]:
        if _longest([row.get(column) for row in self.rows]) <= limit:
            return 0, []
        found = [row for row in self.rows if isinstance(row.get(column), str) and len(row[column]) > limit]
        return len(found), found

    def keys(self, columns: Sequence[str]) -> set[tuple[str, ...]]:
        """The distinct key tuples as text; a tuple with a NULL passes any foreign key (MATCH
        SIMPLE), so it is not collected."""
        values = set()
        for row in self.rows:
            value = tuple(row.get(column) for column in columns)
            if None not in value:
                values.add(tuple(map(str, value)))
        return values


def _longest(values: Sequence[Any]) -> int:
    """The longest text among ``values``: one pass in C, or row by row when some value is not text."""
    try:
        return max(map(len, filter(None, values)), default=0)
    except TypeError:
        return max((len(value) for value in values if isinstance(value, str)), default=0)


@dataclass
class StagedRows:
    """Rows in a session's staging table ``table`` (quoted, qualified; ordered by STAGED_ORDER)
    whose ``types`` give each column's staged type (text columns are measured for widths)."""

    table: str
    rows: int
    types: Mapping[str, str] = field(default_factory=dict)
    _stats: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.rows

    def measure(self, nullable: Iterable[str], measured: Iterable[str]) -> None:
        """Count the NULLs of ``nullable`` and the longest value of ``measured`` in one scan."""
        parts = [(("null", c), f"count(*) FILTER (WHERE {quote_ident(c)} IS NULL)") for c in nullable]
        parts += [(("long", c), f"coalesce(max(length({quote_ident(c)})), 0)") for c in measured if self._text(c)]
        parts = [(key, sql) for key, sql in parts if key not in self._stats]
        if not parts:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(sql for _, sql in parts)} FROM {self.table}")
            self._stats.update(zip((key for key, _ in parts), cursor.fetchone(), strict=True))

    def empty(self, column: str, label: Sequence[str]) -> tuple[int, list[Mapping[str, Any]]]:
        self.measure([column], [])
        count = self._stats[("null", column)]
        return count, self._sample(f"{quote_ident(column)} IS NULL", [*label, column]) if count else []

    def long(self, column: str, limit: int, label: Sequence[str]) -> tuple[int, list[Mapping[str, Any]]]:
        if not self._text(column):
            return 0, []
        self.measure([], [column])
        if self._stats[("long", column)] <= limit:
            return 0, []
        condition = f"length({quote_ident(column)}) > {int(limit)}"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {self.table} WHERE {condition}")
            count = int(cursor.fetchone()[0])
        return count, self._sample(condition, [*label, column])

    def keys(self, columns: Sequence[str]) -> set[tuple[str, ...]]:
        names = [quote_ident(column) for column in columns]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT {', '.join(f'{name}::text' for name in names)} FROM {self.table} "
                f"WHERE {' AND '.join(f'{name} IS NOT NULL' for name in names)}"
            )
            return {tuple(row) for row in cursor.fetchall()}

    def _text(self, column: str) -> bool:
        return self.types.get(column, "text") in {"text", "character varying", "character"}

    def _sample(self, condition: str, columns: Sequence[str]) -> list[Mapping[str, Any]]:
        names = list(dict.fromkeys(column for column in columns if column in self.types))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(map(quote_ident, names))} FROM {self.table} WHERE {condition} "
                f"ORDER BY {STAGED_ORDER} LIMIT {SAMPLE}"
            )
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
