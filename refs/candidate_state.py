"""What a :class:`~refs.derivation.CandidateFold` remembers of the rows it has been given: per
key, bounded state for each rule — never a row. Its size grows with the keys and their distinct
values, not with the rows.

Each accumulator takes one :class:`Chunk` at a time — the chunk's rows that have a key, each
reduced to the slots the target reads, with their keys as text — and reads it column by column.
Chunks arrive in input order, so "first" and "earliest" mean the same as over all the rows at
once; a state's dicts keep first-seen order across chunks. The usual columns (every value a
``str`` or None, or a finite ``Decimal``) take C-level passes (``map``, ``zip``, ``compress``,
``dict``, ``Counter``); other values take a general path that applies the same rules. Pure: no
database, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from itertools import compress, filterfalse
from operator import itemgetter, ne, not_
from typing import Any, TypeVar

Weight = int | float | Decimal
Column = Sequence[Any]  # one fact column over a chunk's rows that have a key
Selectors = Sequence[Any]  # for itertools.compress: truthy where a value is kept
_Row = TypeVar("_Row")
Pair = tuple[str, Any]  # (key, one of its values)
Row = tuple[Any, ...]  # one fact row reduced to (key, *the fact columns a target reads)

# An unparsable, blank or non-finite weight ranks below every number, so it never beats a real
# one; equal weights (two unparsable ones included) keep the earliest row.
SMALLEST: Weight = -math.inf
_NONE = type(None)
_PLAIN_WEIGHTS = frozenset({Decimal, int, _NONE})


def is_blank(value: object) -> bool:
    """None, or a str that is empty or whitespace only."""
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def text(value: object) -> str:
    """A value as text: a str as it is, anything else by ``str()``."""
    return value if isinstance(value, str) else str(value)


def weight(value: object) -> Weight:
    """A finite number from Decimal, int, float or a numeric string (commas allowed); else SMALLEST."""
    number: Weight
    if isinstance(value, Decimal | float):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(value, str):
        try:
            number = Decimal(value.replace(",", "").strip())
        except InvalidOperation:
            return SMALLEST
    else:
        return SMALLEST
    finite = number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)
    return number if finite else SMALLEST


def weights(column: Column) -> Column:
    """:func:`weight` of each value; the column itself when it holds only finite Decimals and ints."""
    kinds = set(map(type, column))
    if kinds <= _PLAIN_WEIGHTS:
        decimals = column if kinds <= {Decimal} else [value for value in column if value.__class__ is Decimal]
        if all(map(Decimal.is_finite, decimals)):
            return column if _NONE not in kinds else [SMALLEST if value is None else value for value in column]
    return list(map(weight, column))


def present(column: Column) -> Selectors | None:
    """Selectors (for ``itertools.compress``) of the values that are not blank: the column
    itself when its truth says it (only strs that are not whitespace, and None); None when no
    value is blank. C-level passes for strs and None."""
    return _present(column, set(map(type, column)))


def _present(column: Column, kinds: set[type]) -> Selectors | None:
    if kinds <= {str, _NONE}:  # blank: None, "" (both falsy) or whitespace only
        if any(map(str.isspace, filter(None, column))):
            return [bool(value) and not value.isspace() for value in column]
        return column if _NONE in kinds or "" in column else None
    if not any(issubclass(kind, str) for kind in kinds) and _NONE not in kinds:
        return None  # neither strings nor None: nothing is blank
    return [not is_blank(value) for value in column]


def texts_present(column: Column) -> tuple[Column, Selectors | None]:
    """Each value as :func:`text` (the column itself when every value is a str or None), and
    :func:`present`'s selectors of those that count."""
    kinds = set(map(type, column))
    return column if kinds <= {str, _NONE} else list(map(text, column)), _present(column, kinds)


def selected(rows: Iterator[_Row], mask: Selectors | None) -> Iterator[_Row]:
    """The ``rows`` that ``mask`` selects (all of them for no mask)."""
    return rows if mask is None else compress(rows, mask)


class Chunk:
    """The rows of one chunk that have a key, each reduced to a :data:`Row`, with their keys as
    text; a column, its weights and each key's first row are computed once, when asked for."""

    def __init__(self, keys: Column, rows: Sequence[Row]) -> None:
        self.keys = keys
        self.rows = rows
        self._columns: dict[int, Column] = {}
        self._ranks: dict[int, Column] = {}
        self._first_rows: dict[str, int] | None = None
        self._firsts: tuple[list[str], list[Row]] | None = None
        self._rows_of: tuple[frozenset[str], tuple[list[str], list[Row]]] | None = None

    def column(self, index: int) -> Column:
        """Slot ``index`` of every row."""
        column = self._columns.get(index)
        if column is None:
            column = self._columns[index] = list(map(itemgetter(index), self.rows))
        return column

    def ranks(self, index: int) -> Column:
        """:func:`weights` of slot ``index``."""
        ranks = self._ranks.get(index)
        if ranks is None:
            ranks = self._ranks[index] = weights(self.column(index))
        return ranks

    @property
    def first_rows(self) -> dict[str, int]:
        """Each key's first position in the chunk."""
        if self._first_rows is None:
            keys = self.keys
            self._first_rows = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
        return self._first_rows

    def rows_of(self, keys: frozenset[str]) -> tuple[list[str], list[Row]]:
        """The rows of ``keys`` and their keys (the last set asked for is kept: columns that are
        blank on the same keys' first rows ask for the same)."""
        if self._rows_of is None or self._rows_of[0] != keys:
            own = list(map(keys.__contains__, self.keys))
            self._rows_of = keys, (list(compress(self.keys, own)), list(compress(self.rows, own)))
        return self._rows_of[1]

    @property
    def firsts(self) -> tuple[list[str], list[Row]]:
        """Each key of the chunk, and its first row (in the order of :attr:`first_rows`)."""
        if self._firsts is None:
            first_rows = self.first_rows
            self._firsts = list(first_rows), list(map(self.rows.__getitem__, first_rows.values()))
        return self._firsts


class FirstValues:
    """Per key, the first non-blank value of one slot, as stored (a date stays a date for
    templates)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.values: dict[str, Any] = {}

    def add(self, chunk: Chunk) -> None:
        values, index, rows = self.values, self.index, chunk.rows
        if values:
            first_rows = chunk.first_rows
            new = list(filterfalse(values.__contains__, first_rows))  # not keys() - keys(): that walks values
            firsts = list(map(itemgetter(index), map(rows.__getitem__, map(first_rows.__getitem__, new))))
        else:  # every key is new: the rows shared by every first value
            new, first_row_of = chunk.firsts
            firsts = list(map(itemgetter(index), first_row_of))
        if not new:
            return
        chosen = present(firsts)
        if chosen is None:  # the usual case: no key's first value in the chunk is blank
            values.update(zip(new, firsts, strict=True))
            return
        values.update(compress(zip(new, firsts, strict=True), chosen))
        missing = frozenset(compress(new, map(not_, chosen)))  # keys whose first value in the chunk is blank
        own_keys: Column
        own_values: Column
        if len(missing) * 4 < len(new):  # a few keys: their rows only
            own_keys, own_rows = chunk.rows_of(missing)
            own_values = list(map(itemgetter(index), own_rows))
        else:
            own_keys, own_values = chunk.keys, chunk.column(index)
        mask = present(own_values)  # each key's first non-blank value: the last assigned, backwards
        backwards = zip(own_keys[::-1], own_values[::-1], strict=True)
        found = dict(backwards if mask is None else compress(backwards, mask[::-1]))
        chosen_keys = list(filter(found.__contains__, missing))  # not the keys that have a value already
        values.update(zip(chosen_keys, map(found.__getitem__, chosen_keys), strict=True))


class HeaviestRows:
    """Per key, the values (of some columns) on its earliest row with the largest weight, and
    that weight: a later row replaces it only with a strictly larger one."""

    def __init__(self, weight: int, indexes: tuple[int, ...]) -> None:
        self.weight, self.indexes = weight, indexes  # slots: the weight, the values kept
        self.rows: dict[str, tuple[Weight, tuple[Any, ...]]] = {}

    def add(self, chunk: Chunk) -> None:
        rows, indexes = self.rows, self.indexes
        get = rows.get
        for key, rank, row in zip(chunk.keys, chunk.ranks(self.weight), chunk.rows, strict=True):
            held = get(key)
            if held is None or rank > held[0]:
                rows[key] = (rank, tuple(map(row.__getitem__, indexes)))


class DistinctTexts:
    """Per key, the distinct non-blank values as text, stripped (``concat_distinct``,
    ``count_distinct``), kept as :class:`FirstSeenPairs` (stripped once each, at the end)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.pairs = FirstSeenPairs()

    def add(self, chunk: Chunk) -> None:
        self.pairs.add(distinct_texts(chunk, self.index))

    def by_key(self) -> dict[str, frozenset[str]]:
        """key → its distinct stripped texts; keys without a value are absent."""
        grouped: dict[str, frozenset[str]] = {}
        for key, values in self.pairs.by_key().items():
            stripped = frozenset(filter(None, map(str.strip, values)))
            if stripped:
                grouped[key] = stripped
        return grouped


class FirstSeenPairs:
    """Distinct (key, text) pairs in first-seen order, as some rule chose them from a chunk: each
    key's first text, and the later texts of the keys that have several (no tuple per pair: a
    portfolio has one plan, and a run of 1,000,000 rows 200,000 portfolios)."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}  # key → its first text, keys in first-seen order
        self.later: dict[str, dict[str, None]] = {}  # key → its other texts, first-seen order

    def add(self, pairs: Iterable[Pair]) -> None:
        distinct = list(dict.fromkeys(pairs))  # C-level from here on, but for the keys' later texts
        keys, texts = list(map(itemgetter(0), distinct)), list(map(itemgetter(1), distinct))
        first = self.first
        new = list(filterfalse(first.__contains__, dict.fromkeys(keys)))
        if new:
            first_in_chunk = dict(zip(reversed(keys), reversed(texts), strict=True))  # the earliest assigned last
            first.update(zip(new, map(first_in_chunk.__getitem__, new), strict=True))
        later = self.later
        for key, text in compress(distinct, map(ne, map(first.__getitem__, keys), texts)):
            later.setdefault(key, {})[text] = None

    def by_key(self) -> dict[str, list[str]]:
        """key → its texts in first-seen order; keys without a value are absent."""
        later = self.later
        return {key: [text, *later.get(key, ())] for key, text in self.first.items()}

    def several(self) -> dict[str, list[str]]:
        """key → its texts in first-seen order, for the keys with more than one."""
        first = self.first
        return {key: [first[key], *texts] for key, texts in self.later.items()}


def distinct_texts(chunk: Chunk, index: int) -> Iterator[Pair]:
    """(key, value as text) for each row of ``chunk`` whose slot ``index`` is not blank."""
    texts, mask = texts_present(chunk.column(index))
    return selected(zip(chunk.keys, texts, strict=True), mask)
