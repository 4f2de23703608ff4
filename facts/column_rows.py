"""Cleansed rows held column by column, as the cleansing worker hands them over (facts/cleansing_worker.py).

A worker's chunk arrives as its columns, a column of Decimals as their texts. What this process
does with the rows reads them column by column: the staging COPY writes a column's texts
(``str`` of a Decimal is the text it came as, so the COPY sends what it sent for the Decimals),
the derivation folds and the delete scopes take a few columns. So the rows stay columns: no dict
is made per row, and a Decimal only for a column that is asked for as values. Everything else
sees a sequence of rows (dicts) equal to the rows the worker cleansed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any, overload


class ColumnRows(Sequence[dict[str, Any]]):
    """Rows whose keys are ``keys``, in that order, given as ``columns`` (one list per key, all as
    long); ``texts[i]``: column ``i`` holds Decimals (and None) as their texts."""

    def __init__(self, keys: tuple[str, ...], columns: list[list[Any]], texts: list[bool]) -> None:
        if not len(keys) == len(columns) == len(texts) or len({len(column) for column in columns}) > 1:
            raise ValueError(f"column rows: {len(keys)} keys, {len(texts)} flags and columns of unequal length")
        self.keys = keys
        self._columns = dict(zip(keys, columns, strict=True))
        self._texts = {key for key, text in zip(keys, texts, strict=True) if text}
        self._values: dict[str, list[Any]] = {}
        self._length = len(columns[0]) if columns else 0

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(self._length))]
        if not -self._length <= index < self._length:
            raise IndexError("column rows index out of range")
        return {key: self.column(key)[index] for key in self.keys}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        keys = self.keys
        return (dict(zip(keys, values, strict=True)) for values in zip(*map(self.column, keys), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == self._length and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"ColumnRows({list(self)!r})"

    def column(self, key: str) -> list[Any]:
        """Every row's value of ``key`` (None for a key the rows lack), Decimals as Decimals."""
        values = self._values.get(key)
        if values is None:
            column = self._columns.get(key)
            if column is None:
                values = [None] * self._length
            elif key in self._texts:
                values = [None if text is None else Decimal(text) for text in column]
            else:
                values = column
            self._values[key] = values
        return values

    def copy_column(self, key: str) -> list[Any]:
        """:meth:`column` for COPY's text format: a column of Decimals as their texts, as they came."""
        return self._columns[key] if key in self._texts else self.column(key)


def columns_of(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[list[Any]]:
    """The values of ``keys``, a list per key, of rows given as dicts or as :class:`ColumnRows`
    (KeyError for a dict row without one of them)."""
    if isinstance(rows, ColumnRows):
        return [rows.column(key) for key in keys]
    return [list(map(itemgetter(key), rows)) for key in keys]
