"""Candidate reference rows derived from the cleansed fact rows of one run (PRODUCT.md §6).

Rows are folded chunk by chunk (:class:`CandidateFold`): of each chunk, only what the target's
:class:`~wdh.config.ColumnRule` entries need is kept per key (:mod:`refs.candidate_state`: the
first non-blank value, the heaviest row's values, counts per distinct text, distinct texts), so
memory grows with the keys and their distinct values, never with the rows; ``derivation()``
then reduces that state to one candidate row per key. Blank strings count as missing
everywhere; values come out as text (``str()`` of other values; templates format theirs;
``count_distinct`` its count, which the integer column it fills takes as a number) or None.
Any chunking of the same rows gives the same :class:`Derivation`. Pure: no database, no I/O.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import compress, repeat
from operator import itemgetter
from types import NoneType
from typing import Any

from facts.column_rows import ColumnRows
from refs.candidate_state import (
    Chunk,
    Column,
    DistinctTexts,
    FirstSeenPairs,
    FirstValues,
    HeaviestRows,
    Row,
    distinct_texts,
    present,
    text,
)
from refs.candidate_state import is_blank as is_blank  # re-exported: the blank rule of every derivation
from refs.conflicts import DerivationWarning as DerivationWarning  # re-exported: part of a Derivation
from refs.conflicts import conflict_warning
from refs.text_counts import TextCounts, WeighedCounts
from refs.unique_values import first_unique, unique_pairs
from wdh.config import Aggregation, ColumnRule, RefTarget

Distinct = dict[str, dict[str, frozenset[str]]]  # key → {column: distinct values}, see Derivation

_FORMATTER = string.Formatter()
_MEMOISABLE = frozenset({str, int, date})  # equal values of these classes format identically


@dataclass(frozen=True)
class Derivation:
    """The candidates of one target, derived from one run's fact rows."""

    target: RefTarget
    # key → {reference column: value}; every column of target.columns is present (None when
    # nothing is derivable); dict order is the first-seen order of the keys.
    candidates: dict[str, dict[str, str | None]]
    warnings: tuple[DerivationWarning, ...]
    rows_seen: int
    rows_without_key: int
    # key → {concat_distinct / count_distinct column: its distinct stripped values}: what merging
    # several domains' candidates unions (refs.candidate_merge) before joining or counting again
    distinct: Distinct = field(default_factory=dict)


def derive_candidates(
    rows: Iterable[Mapping[str, Any]], target: RefTarget, *, shared: Mapping[str, str] | None = None
) -> Derivation:
    """One candidate per distinct non-blank key value in ``rows``, in first-seen order. Pure.

    Rows with a blank key are skipped and counted in ``rows_without_key``. Each
    ``warn_on_conflict`` column yields at most one warning per key; a key of ``shared`` (key →
    why it is shared, see :func:`refs.conflicts.expected_shared`) gets a one-line summary. Raises
    ``ValueError`` for a rule that lacks what its aggregation needs (configuration validation
    rejects those first).
    """
    fold = CandidateFold(target, shared=shared)
    fold.add(rows)
    return fold.derivation()


class CandidateFold:
    """:func:`derive_candidates` over rows that arrive in chunks: ``add`` each chunk in input
    order, then ``derivation()`` is what ``derive_candidates`` of all the rows at once returns.
    Keeps per key only bounded state per rule (:mod:`refs.candidate_state`), never a row."""

    def __init__(self, target: RefTarget, *, shared: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.shared = shared or {}
        self._layout = layout = _Layout.of(target)
        self._keys: dict[str, None] = {}  # first-seen order
        index = layout.index
        self._firsts = {name: FirstValues(index(name)) for name in layout.firsts}
        self._counts = {
            (source, weight): TextCounts(index(source))
            if weight is None
            else WeighedCounts(index(source), index(weight))
            for source, weight in layout.counts
        }
        self._heaviest = {
            weight: HeaviestRows(index(weight), tuple(map(index, sources)))
            for weight, sources in layout.heaviest.items()
        }
        self._distinct = {name: DistinctTexts(index(name)) for name in layout.distinct}
        self._unique = {name: (index(name), FirstSeenPairs()) for name in layout.unique}
        self._conflicts = {name: (index(name), FirstSeenPairs()) for name in layout.conflicts}
        self._rows_seen = 0
        self._rows_without_key = 0

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Take the next rows (in input order). Keeps nothing of ``rows`` but the state. Pure."""
        projected = _project(rows if isinstance(rows, list | tuple | ColumnRows) else list(rows), self._layout)
        keys, mask, chunk_keys = _keys(list(map(itemgetter(0), projected)))
        self._rows_seen += len(projected)
        self._rows_without_key += len(projected) - len(keys)
        if not keys:
            return
        chunk = Chunk(keys, projected if mask is None else list(compress(projected, mask)))
        if self._keys:
            self._keys.update(chunk_keys)
        else:
            self._keys = chunk_keys
        for firsts in self._firsts.values():
            firsts.add(chunk)
        for counts in self._counts.values():
            counts.add(chunk)
        for heaviest in self._heaviest.values():
            heaviest.add(chunk)
        for distinct in self._distinct.values():
            distinct.add(chunk)
        for index, unique in self._unique.values():
            unique.add(unique_pairs(keys, chunk.column(index)))
        for index, seen in self._conflicts.values():
            seen.add(distinct_texts(chunk, index))

    def derivation(self) -> Derivation:
        """The candidates of every row added so far. Pure: the fold can take more rows after."""
        target, shared = self.target, self.shared
        keys = list(self._keys)
        warnings: list[DerivationWarning] = []
        distinct: Distinct = {}
        columns: list[Column] = []  # each rule's values, aligned with keys
        for rule in target.columns:
            if rule.agg is Aggregation.FIRST_UNIQUE:
                texts = self._unique[_source(rule)][1].by_key()
                chosen, unnamed = first_unique(
                    target.name, rule.column, {key: texts.get(key, ()) for key in keys}, shared
                )
                columns.append(list(map(chosen.__getitem__, keys)))
                warnings += unnamed
            else:
                columns.append(self._values(rule, keys, distinct))
        names = tuple(rule.column for rule in target.columns)
        # dict(zip(names, row)) for each key, in C: the rows of zip(*columns) are as long as names
        candidates = dict(zip(keys, map(dict, map(zip, repeat(names), zip(*columns, strict=True))), strict=True))
        conflicts = [
            (rule, self._conflicts[_source(rule)][1].several()) for rule in target.columns if rule.warn_on_conflict
        ]
        conflicted = set().union(*(several for _, several in conflicts))
        for key in filter(conflicted.__contains__, keys):  # in key order, then rule order
            for rule, several in conflicts:
                if key in several:
                    warnings.append(conflict_warning(target, rule, key, tuple(several[key]), shared=shared))
        return Derivation(target, candidates, tuple(warnings), self._rows_seen, self._rows_without_key, distinct)

    def _values(self, rule: ColumnRule, keys: list[str], distinct: Distinct) -> Column:
        """``rule``'s value for each of ``keys`` (and its distinct values in ``distinct``)."""
        if rule.agg is Aggregation.KEY:
            return keys
        if rule.agg is Aggregation.TEMPLATE:
            fields = {name: self._firsts[name].values for name in rule.template_fields}
            return _rendered(rule.template or "", fields, keys)
        if rule.agg is Aggregation.FIRST:
            return _as_text(list(map(self._firsts[_source(rule)].values.get, keys)))
        if rule.agg is Aggregation.MAX_BY:
            weight = rule.weight or ""
            position = self._layout.heaviest[weight].index(_source(rule))
            heaviest = map(itemgetter(1), map(self._heaviest[weight].rows.__getitem__, keys))
            values = list(map(itemgetter(position), heaviest))
            mask = present(values)
            if mask is not None:  # a blank on the heaviest row: the first non-blank value instead
                first = self._firsts[_source(rule)].values.get
                values = [value if ok else first(key) for key, value, ok in zip(keys, values, mask, strict=True)]
            return _as_text(values)
        if rule.agg is Aggregation.MOST_FREQUENT:
            return list(map(self._counts[_source(rule), rule.weight].most_frequent().get, keys))
        texts = self._distinct[_source(rule)].by_key()
        joined: list[str | None] = []
        for key in keys:
            found = distinct.setdefault(key, {})[rule.column] = texts.get(key, frozenset())
            if rule.agg is Aggregation.COUNT_DISTINCT:  # "0" when every value is blank: a known count
                joined.append(str(len(found)))
            else:
                joined.append(rule.separator.join(sorted(found)) if found else None)
        return joined


@dataclass(frozen=True)
class _Layout:
    """What a target reads of each row: the key column, then the fact columns its rules read, and
    which state each rule keeps of them."""

    key: str
    columns: tuple[str, ...]
    firsts: tuple[str, ...]  # first, max_by's fallback, template fields: first non-blank value
    counts: tuple[tuple[str, str | None], ...]  # (source, weight): most_frequent
    heaviest: dict[str, tuple[str, ...]]  # weight column → the max_by sources read from one row
    distinct: tuple[str, ...]  # concat_distinct, count_distinct
    unique: tuple[str, ...]  # first_unique
    conflicts: tuple[str, ...]  # first with warn_on_conflict: distinct texts in first-seen order

    def index(self, column: str) -> int:
        """The slot of a Row holding ``column``."""
        return 1 + self.columns.index(column)

    @classmethod
    def of(cls, target: RefTarget) -> _Layout:
        for rule in target.columns:
            _check(rule)
        if sum(rule.agg is Aggregation.KEY for rule in target.columns) != 1:
            raise ValueError(f"{target.name}: exactly one column must be derived with agg key")
        read = [name for rule in target.columns if rule.agg is not Aggregation.KEY for name in rule.sources]
        firsts: dict[str, None] = {}
        counts: dict[tuple[str, str | None], None] = {}
        heaviest: dict[str, dict[str, None]] = {}
        distinct: dict[str, None] = {}
        unique: dict[str, None] = {}
        conflicts: dict[str, None] = {}
        for rule in target.columns:
            agg = rule.agg
            if agg is Aggregation.TEMPLATE:
                firsts.update(dict.fromkeys(rule.template_fields))
            elif agg is Aggregation.FIRST or agg is Aggregation.MAX_BY:
                firsts[_source(rule)] = None
                if rule.warn_on_conflict:
                    conflicts[_source(rule)] = None
                if agg is Aggregation.MAX_BY:
                    heaviest.setdefault(rule.weight or "", {})[_source(rule)] = None
            elif agg is Aggregation.MOST_FREQUENT:
                counts[_source(rule), rule.weight] = None
            elif agg is Aggregation.CONCAT_DISTINCT or agg is Aggregation.COUNT_DISTINCT:
                distinct[_source(rule)] = None
            elif agg is Aggregation.FIRST_UNIQUE:
                unique[_source(rule)] = None
        return cls(
            _source(target.key_rule),
            tuple(dict.fromkeys(read)),
            tuple(firsts),
            tuple(counts),
            {weight: tuple(sources) for weight, sources in heaviest.items()},
            tuple(distinct),
            tuple(unique),
            tuple(conflicts),
        )


def _check(rule: ColumnRule) -> None:
    if rule.agg is Aggregation.TEMPLATE:
        if rule.template is None:
            raise ValueError(f"{rule.column}: agg template needs a template")
    else:
        _source(rule)
    if rule.agg is Aggregation.MAX_BY and rule.weight is None:
        raise ValueError(f"{rule.column}: agg max_by needs a weight column")
    if rule.warn_on_conflict and rule.agg is not Aggregation.FIRST:
        raise ValueError(f"{rule.column}: warn_on_conflict applies to agg first only")


def _source(rule: ColumnRule) -> str:
    if rule.source is None:
        raise ValueError(f"{rule.column}: agg {rule.agg.value} needs a source column")
    return rule.source


def _project(rows: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...] | ColumnRows, layout: _Layout) -> list[Row]:
    """Every row as a Row: one C-level pass when every row has every column; a missing one reads None."""
    names = (layout.key, *layout.columns)
    if isinstance(rows, ColumnRows):  # a worker's chunk: a missing column reads None there too
        return list(zip(*map(rows.column, names), strict=True))
    try:
        return list(map(itemgetter(*names), rows)) if layout.columns else [(row[layout.key],) for row in rows]
    except KeyError:
        return [tuple(map(row.get, names)) for row in rows]


def _keys(column: Column) -> tuple[Column, list[bool] | None, dict[str, None]]:
    """The text of each non-blank key, which rows have one (None: every row), and the distinct
    keys in first-seen order."""
    try:
        distinct = dict.fromkeys(column)  # the usual case is decided on the distinct values only
    except TypeError:  # an unhashable key value
        distinct = {}
    if distinct and set(map(type, distinct)) == {str} and "" not in distinct and not any(map(str.isspace, distinct)):
        return column, None, distinct
    keys: list[str] = []
    mask: list[bool] = []
    for key in column:
        if key.__class__ is str:
            present = bool(key) and not key.isspace()
        else:
            present = not is_blank(key)
            key = text(key)
        mask.append(present)
        if present:
            keys.append(key)
    return keys, mask, dict.fromkeys(keys)


def _as_text(values: list[Any]) -> list[str | None]:
    """Each value as text, None as None."""
    if set(map(type, values)) <= {str, NoneType}:
        return values
    return [None if value is None else text(value) for value in values]


def _rendered(template: str, fields: dict[str, dict[str, Any]], keys: list[str]) -> list[str | None]:
    """For each key, the template formatted with each field's first non-blank value; None when
    one has none or formatting fails."""
    parts = list(_FORMATTER.parse(template))
    names = tuple(fields)

    # Formatting a date costs microseconds and most groups share their values (one 月度 per
    # run), so each distinct combination is formatted once — when every value is of a class
    # whose equal values format identically (not Decimal: 1.0 == 1.00; not datetime: time zones).
    def render(values: tuple[Any, ...]) -> str | None:
        named = dict(zip(names, values, strict=True))
        try:
            formatted = "".join(literal + _field(named, *field) for literal, *field in parts)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None
        return None if is_blank(formatted) else formatted

    combinations = list(zip(*(map(firsts.get, keys) for firsts in fields.values()), strict=True))
    kinds = set(map(type, (value for firsts in fields.values() for value in firsts.values())))
    if kinds <= _MEMOISABLE:  # the usual case: each distinct combination formatted once
        memo = {values: None if None in values else render(values) for values in set(combinations)}
        return list(map(memo.__getitem__, combinations))
    return [None if None in values else render(values) for values in combinations]


def _field(values: dict[str, Any], name: str | None, spec: str | None, conversion: str | None) -> str:
    # A field name is a fact column name taken whole (as ColumnRule.sources reads it), never an
    # attribute or index lookup.
    if name is None:
        return ""
    value = _FORMATTER.convert_field(values[name], conversion)
    return str(_FORMATTER.format_field(value, spec or ""))
