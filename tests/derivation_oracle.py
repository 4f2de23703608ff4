"""The oracle of tests/test_candidate_fold.py: refs/derivation.py and refs/unique_values.py as
they were before the fold kept bounded state (commit 92239d7), frozen. It groups every row's
Slots per key and reduces the buckets at the end: slow in memory, plainly right — what the fold
must equal for any input and any chunking. Not used by wdh itself.
"""

from __future__ import annotations

import math
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import partial
from operator import is_not, itemgetter
from typing import Any

from refs.conflicts import DerivationWarning, conflict_warning
from wdh.config import Aggregation, ColumnRule, RefTarget

Weight = int | float | Decimal
Slots = tuple[Any, ...]  # one fact row reduced to (key, *the fact columns the rules read)
Bucket = list[Slots]  # the rows of one key, in input order
Column = tuple[Any, ...]  # one fact column over a bucket
Candidate = dict[str, str | None]
Reducer = Callable[[str, Bucket, Candidate], None]  # sets its reference column(s) in the candidate
Distinct = dict[str, dict[str, frozenset[str]]]  # key → {column: distinct values}, see Derivation

# An unparsable, blank or non-finite weight ranks below every number, so it never beats a real
# one; equal weights (two unparsable ones included) keep the earliest row.
_SMALLEST: Weight = -math.inf
_PLAIN_WEIGHTS = frozenset({Decimal, int, type(None)})  # max() in C is exact for these
_NOT_NONE = partial(is_not, None)
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


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def derive_candidates(
    rows: Iterable[Mapping[str, Any]], target: RefTarget, *, shared: Mapping[str, str] | None = None
) -> Derivation:
    """Every row's Slots grouped per key, then each bucket reduced (the fold's add and
    derivation of commit 92239d7, over all the rows at once)."""
    shared = shared or {}
    layout = _Layout.of(target)
    groups: dict[str, Bucket] = {}
    rows_seen, rows_without_key = _group(rows, layout, groups)
    distinct: Distinct = {}
    reducers = _reducers(target, layout, distinct)
    conflicts = [(rule, layout.index(_source(rule))) for rule in target.columns if rule.warn_on_conflict]
    columns = tuple(rule.column for rule in target.columns)
    candidates: dict[str, Candidate] = {}
    warnings: list[DerivationWarning] = []
    for rule in target.columns:
        if rule.agg is Aggregation.FIRST_UNIQUE:
            reduce_unique, unnamed = first_unique(target.name, rule.column, layout.index(_source(rule)), groups, shared)
            reducers.append(reduce_unique)
            warnings += unnamed
    for key, bucket in groups.items():
        candidate = candidates[key] = dict.fromkeys(columns)
        for reduce in reducers:
            reduce(key, bucket, candidate)
        for rule, index in conflicts:
            values = tuple(_text_counts(_column(bucket, index))) if len(bucket) > 1 else ()
            if len(values) > 1:
                warnings.append(conflict_warning(target, rule, key, values, shared=shared))
    return Derivation(target, candidates, tuple(warnings), rows_seen, rows_without_key, distinct)


@dataclass(frozen=True)
class _Layout:
    """The fact columns a target reads: ``Slots`` hold the key, then ``columns`` in order."""

    key: str
    columns: tuple[str, ...]

    @classmethod
    def of(cls, target: RefTarget) -> _Layout:
        for rule in target.columns:
            _check(rule)
        if sum(rule.agg is Aggregation.KEY for rule in target.columns) != 1:
            raise ValueError(f"{target.name}: exactly one column must be derived with agg key")
        read = [name for rule in target.columns if rule.agg is not Aggregation.KEY for name in rule.sources]
        return cls(_source(target.key_rule), tuple(dict.fromkeys(read)))

    def index(self, column: str) -> int:
        return 1 + self.columns.index(column)

    def getter(self) -> Callable[[Mapping[str, Any]], Slots]:
        if not self.columns:  # itemgetter of one name returns the value, not a 1-tuple
            key = self.key
            return lambda row: (row[key],)
        return itemgetter(self.key, *self.columns)


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


def _project(rows: Iterable[Mapping[str, Any]], layout: _Layout) -> list[Slots]:
    """Every row as Slots: one C-level pass when every row has every column."""
    rows = rows if isinstance(rows, list | tuple) else list(rows)
    try:
        return list(map(layout.getter(), rows))
    except KeyError:  # a row without some column: missing reads as None
        names = (layout.key, *layout.columns)
        return [tuple(map(row.get, names)) for row in rows]


def _group(rows: Iterable[Mapping[str, Any]], layout: _Layout, groups: dict[str, Bucket]) -> tuple[int, int]:
    """Add ``rows`` to ``groups`` (key → its rows' Slots); returns (rows seen, rows without key)."""
    rows_without_key = 0
    projected = _project(rows, layout)
    for slots in projected:
        key = slots[0]
        if key.__class__ is str:  # nearly every key: tested inline, not by a call per row
            if not key or key.isspace():
                rows_without_key += 1
                continue
        elif is_blank(key):
            rows_without_key += 1
            continue
        else:
            key = _text(key)
        bucket = groups.get(key)
        if bucket is None:
            groups[key] = [slots]
        else:
            bucket.append(slots)
    return len(projected), rows_without_key


def _weight(value: object) -> Weight:
    """A finite number from Decimal, int, float or a numeric string (commas allowed); else smallest."""
    number: Weight
    if isinstance(value, Decimal | float):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(value, str):
        try:
            number = Decimal(value.replace(",", "").strip())
        except InvalidOperation:
            return _SMALLEST
    else:
        return _SMALLEST
    finite = number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)
    return number if finite else _SMALLEST


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _column(bucket: Bucket, index: int) -> Column:
    return tuple(map(itemgetter(index), bucket))


def _first(bucket: Bucket, index: int) -> Any:
    """The first non-blank value as stored (a date stays a date for templates), or None."""
    for slots in bucket:
        value = slots[index]
        if isinstance(value, str):  # is_blank, inline: this runs for every rule of every group
            if value and not value.isspace():
                return value
        elif value is not None:
            return value
    return None


def _first_text(bucket: Bucket, index: int) -> str | None:
    value = _first(bucket, index)
    return value if value is None or isinstance(value, str) else str(value)


def _text_counts(column: Column) -> dict[str, int]:
    """Each distinct non-blank value as text → how many rows carry it, in first-seen order."""
    first = column[0]
    if first.__class__ is str and column.count(first) == len(column):  # one value throughout
        return {} if not first or first.isspace() else {first: len(column)}
    try:
        counts: Counter[Any] | None = Counter(column)
    except TypeError:  # an unhashable value
        counts = None
    if counts is not None and all(value is None or value.__class__ is str for value in counts):
        return {value: count for value, count in counts.items() if value and not value.isspace()}
    # Other values are counted by their text: 1 and 1.0 are equal but read "1" and "1.0".
    return Counter(_text(value) for value in column if not is_blank(value))


def _heaviest_row(column: Column) -> int:
    """The position of the earliest row with the largest weight."""
    if set(map(type, column)) <= _PLAIN_WEIGHTS:
        try:
            top = max(filter(_NOT_NONE, column), default=None)
        except InvalidOperation:  # a Decimal NaN: the general path ranks it smallest
            top = _SMALLEST
        if top is None:
            return 0
        if isinstance(top, int) or (isinstance(top, Decimal) and top.is_finite()):
            return column.index(top)  # index() finds the earliest of equal weights
    weights = [_weight(value) for value in column]
    return weights.index(max(weights))


def _reducers(target: RefTarget, layout: _Layout, distinct: Distinct) -> list[Reducer]:
    reducers: list[Reducer] = []
    firsts: list[tuple[str, int]] = []  # (reference column, source index)
    max_by: dict[str, list[tuple[str, int]]] = {}  # weight column → [(reference column, source index)]
    for rule in target.columns:
        if rule.agg is Aggregation.FIRST_UNIQUE:
            continue  # over every group at once: derive_candidates
        if rule.agg is Aggregation.FIRST:
            firsts.append((rule.column, layout.index(_source(rule))))
        elif rule.agg is Aggregation.MAX_BY:
            max_by.setdefault(rule.weight or "", []).append((rule.column, layout.index(_source(rule))))
        else:
            reducers.append(_reducer(rule, layout, distinct))
    if firsts:
        reducers.append(_firsts(firsts))
    # One reducer per weight column, so 主拓代码 and 主拓机构 are read from the same row.
    reducers += [_max_by(layout.index(weight), columns) for weight, columns in max_by.items()]
    return reducers


def _firsts(columns: list[tuple[str, int]]) -> Reducer:
    def reduce(key: str, bucket: Bucket, candidate: Candidate) -> None:
        for column, index in columns:
            candidate[column] = _first_text(bucket, index)

    return reduce


def _reducer(rule: ColumnRule, layout: _Layout, distinct: Distinct) -> Reducer:
    column = rule.column
    if rule.agg is Aggregation.KEY:
        return lambda key, bucket, candidate: candidate.__setitem__(column, key)
    if rule.agg is Aggregation.TEMPLATE:
        return _template(column, rule.template or "", {name: layout.index(name) for name in rule.template_fields})
    index = layout.index(_source(rule))
    if rule.agg is Aggregation.MOST_FREQUENT:
        return _most_frequent(column, index, None if rule.weight is None else layout.index(rule.weight))
    if rule.agg is Aggregation.COUNT_DISTINCT:
        return _count_distinct(column, index, distinct)
    return _concat_distinct(column, index, rule.separator, distinct)


def _most_frequent(column: str, index: int, weight: int | None) -> Reducer:
    def reduce(key: str, bucket: Bucket, candidate: Candidate) -> None:
        counts = _text_counts(_column(bucket, index))
        top = max(counts.values(), default=0)
        tied = [value for value, count in counts.items() if count == top]  # first-seen order
        if len(tied) > 1 and weight is not None:
            tied = _by_weight(_column(bucket, index), _column(bucket, weight), tied)
        candidate[column] = tied[0] if tied else None

    return reduce


def _by_weight(values: Column, weights: Column, tied: list[str]) -> list[str]:
    """The tied values by the largest weight on their rows, descending; equal ones keep their order."""
    ranks: dict[str, Weight] = dict.fromkeys(tied, _SMALLEST)
    for value, weight in zip(values, weights, strict=True):
        if not is_blank(value) and (text := _text(value)) in ranks:
            ranks[text] = max(ranks[text], _weight(weight))
    return sorted(tied, key=ranks.__getitem__, reverse=True)  # stable: ties keep first-seen order


def _max_by(weight: int, columns: list[tuple[str, int]]) -> Reducer:
    def reduce(key: str, bucket: Bucket, candidate: Candidate) -> None:
        row = bucket[0] if len(bucket) == 1 else bucket[_heaviest_row(_column(bucket, weight))]
        for column, index in columns:
            value = row[index]
            candidate[column] = _first_text(bucket, index) if is_blank(value) else _text(value)

    return reduce


def _concat_distinct(column: str, index: int, separator: str, distinct: Distinct) -> Reducer:
    def reduce(key: str, bucket: Bucket, candidate: Candidate) -> None:
        values = set(map(str.strip, _text_counts(_column(bucket, index))))
        values.discard("")
        distinct.setdefault(key, {})[column] = frozenset(values)
        candidate[column] = separator.join(sorted(values)) if values else None

    return reduce


def _count_distinct(column: str, index: int, distinct: Distinct) -> Reducer:
    """The number of distinct non-blank values, compared as ``concat_distinct`` joins them (by
    their text, stripped). ``"0"`` when every value is blank: the count is known, not missing."""

    def reduce(key: str, bucket: Bucket, candidate: Candidate) -> None:
        values = set(map(str.strip, _text_counts(_column(bucket, index))))
        values.discard("")
        distinct.setdefault(key, {})[column] = frozenset(values)
        candidate[column] = str(len(values))

    return reduce


def _template(column: str, template: str, fields: dict[str, int]) -> Reducer:
    parts = list(_FORMATTER.parse(template))
    names, indexes = tuple(fields), tuple(fields.values())
    # Formatting a date costs microseconds and most groups share their values (one 月度 per
    # run), so each distinct combination is formatted once — only for classes whose equal
    # values format identically (not Decimal: 1.0 == 1.00; not datetime: time zones).
    memo: dict[tuple[Any, ...], str | None] = {}

    def render(values: dict[str, Any]) -> str | None:
        try:
            text = "".join(literal + _field(values, *field) for literal, *field in parts)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None
        return None if is_blank(text) else text

    def reduce(key: str, bucket: Bucket, candidate: Candidate) -> None:
        values = tuple(_first(bucket, index) for index in indexes)
        if None in values:
            return
        if not _MEMOISABLE.issuperset(map(type, values)):
            candidate[column] = render(dict(zip(names, values, strict=True)))
            return
        if values not in memo:
            memo[values] = render(dict(zip(names, values, strict=True)))
        candidate[column] = memo[values]

    return reduce


def _field(values: dict[str, Any], name: str | None, spec: str | None, conversion: str | None) -> str:
    # A field name is a fact column name taken whole (as ColumnRule.sources reads it), never an
    # attribute or index lookup.
    if name is None:
        return ""
    value = _FORMATTER.convert_field(values[name], conversion)
    return str(_FORMATTER.format_field(value, spec or ""))


# refs/unique_values.py as it was


def _texts(bucket: Bucket, index: int) -> dict[str, None]:
    """The distinct non-blank values of one column of ``bucket`` as text, first-seen order."""
    values = (slots[index] for slots in bucket)
    return dict.fromkeys(text for value in values if value is not None and (text := str(value)) and not text.isspace())


def first_unique(
    target: str, column: str, index: int, groups: Mapping[str, Bucket], shared: Mapping[str, str]
) -> tuple[Callable[[str, Bucket, Candidate], None], list[DerivationWarning]]:
    """The reducer of ``column`` (source slot ``index``) over ``groups``, and the warnings of
    the keys it leaves without a value."""
    distinct = {key: _texts(bucket, index) for key, bucket in groups.items()}
    keys_of = Counter(value for values in distinct.values() for value in values)
    warnings: list[DerivationWarning] = []
    for key, values in distinct.items():
        if values and (key in shared or all(keys_of[value] > 1 for value in values)):
            why = shared.get(key) or "each also appears under another key"
            named = tuple(values)
            message = (
                f"{target} {key}: {column} left empty — {why}, so none of its values ({', '.join(named[:10])}"
                f"{' …' if len(named) > 10 else ''}) names it; a later run's lookup would read them back otherwise"
            )
            warnings.append(DerivationWarning(target, key, column, named, message))

    def reduce(key: str, bucket: Bucket, candidate: Candidate) -> None:
        candidate[column] = None if key in shared else next((v for v in distinct[key] if keys_of[v] == 1), None)

    return reduce, warnings
