"""What a :class:`~refs.derivation.CandidateFold` keeps for ``most_frequent``: per key, how many
rows carry each distinct non-blank value (by its text), in first-seen order, and, with a weight
column, the largest weight on the rows of each — the one state that grows with the distinct
(key, text) pairs rather than with the keys (700,000 客户名称 per 年金计划 over 1,000,000 rows).

So the weighed counts are kept per key (a dict of texts per key, no tuple per pair), and past
COMPACT_AT pairs their weights are kept :func:`scaled`: an int of 32 bytes rather than a
Decimal of 104, equal and ordered exactly as the weights. Fewer pairs (a month of 100,000 rows)
spend no time scaling. Pure: no database, no I/O.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable, MutableSequence
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from itertools import repeat
from typing import Any

from refs.candidate_state import SMALLEST, Chunk, Column, Pair, Selectors, Weight, selected, texts_present

COMPACT_AT = 1 << 18  # (key, text) pairs past which a WeighedCounts keeps its weights scaled
_PLACES = 4  # scaled by 10**_PLACES: amounts (facts.amounts.AMOUNT_PLACES: 4) become ints
_SCALE: int = 10**_PLACES
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # scaleb without rounding
_SMALL = 14  # a Decimal whose adjusted exponent is below this, scaled, is an int within ±_BOUND
_BOUND = 10**18  # every int :func:`scaled` gives is within ±_BOUND, so within an array of int64
_NO_WEIGHT = -(2**63)  # SMALLEST in an array of int64: below every int scaled gives


def scaled(column: Column) -> Column:
    """Each weight of ``column`` (as :func:`~refs.candidate_state.weights` gives them) times
    10**_PLACES, exactly: an int when that is whole, else a Decimal; SMALLEST stays. Scaled
    weights compare among themselves exactly as the weights do, equal ones included."""
    if set(map(type, column)) == {Decimal} and max(map(Decimal.adjusted, column)) < _SMALL:
        units = list(map(Decimal.scaleb, column, repeat(_PLACES), repeat(_EXACT)))
        whole = list(map(int, units))
        if whole == units:  # the usual case: amounts of up to four places
            return whole
    return list(map(_scaled, column))


def _scaled(value: Weight) -> Weight:
    if isinstance(value, Decimal):
        units = value.scaleb(_PLACES, _EXACT)
        if value.adjusted() < _SMALL and units == (whole := int(units)):
            return whole
        return units
    if isinstance(value, int):
        units_of_int = value * _SCALE
        return units_of_int if -_BOUND < units_of_int < _BOUND else Decimal(units_of_int)
    if value == SMALLEST:
        return value
    return _scaled(Decimal(value))  # a finite float, exactly


class TextCounts:
    """Per key, how many rows carry each distinct non-blank value of one slot (by its text), in
    first-seen order."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.counts: Counter[Pair] = Counter()  # (key, text) → rows, first-seen order

    def add(self, chunk: Chunk) -> None:
        texts, mask = texts_present(chunk.column(self.index))
        self.counts.update(selected(zip(chunk.keys, texts, strict=True), mask))  # C-level

    def most_frequent(self) -> dict[str, str]:
        """key → the text most of its rows carry; among tied ones, the first seen. Keys without
        a value are absent. One pass over the (key, text) counts."""
        most: dict[str, int] = {}
        chosen: dict[str, str] = {}  # the first-seen text with the most rows so far
        for (key, value), count in self.counts.items():
            held = most.get(key)
            if held is None or count > held:
                most[key] = count
                chosen[key] = value
        return chosen


class WeighedCounts:
    """:class:`TextCounts` with a weight slot: per key, each text's rows and the largest weight
    on them, kept per key (key → {text: …}: no tuple per pair)."""

    def __init__(self, index: int, weight: int) -> None:
        self.index, self.weight = index, weight  # slots: the value, its weight
        self.counts: dict[str, dict[str, int]] = {}  # key → {text: rows}, first-seen order
        self.top: dict[str, dict[str, Weight]] = {}  # key → {text: largest weight}
        self.pairs = 0  # (key, text) pairs held
        self.compact: CompactCounts | None = None  # past COMPACT_AT pairs: what holds them instead

    def add(self, chunk: Chunk) -> None:
        texts, mask = texts_present(chunk.column(self.index))
        ranks = chunk.ranks(self.weight)
        if self.compact is not None:
            self.compact.add(chunk.keys, texts, ranks, mask)
            return
        counts_of, top_of = self.counts, self.top
        pairs = self.pairs
        rows = zip(chunk.keys, texts, ranks, strict=True)
        for key, text, rank in selected(rows, mask):
            counts = counts_of.get(key)
            if counts is None:
                counts_of[key] = {text: 1}
                top_of[key] = {text: rank}
                pairs += 1
            elif (count := counts.get(text)) is None:
                counts[text] = 1
                top_of[key][text] = rank
                pairs += 1
            else:
                counts[text] = count + 1
                top = top_of[key]
                if rank > top[text]:  # a Decimal against a Decimal, mostly: no float conversion
                    top[text] = rank
        self.pairs = pairs
        if pairs > COMPACT_AT:
            self.compact = CompactCounts(self.counts, self.top)
            self.counts, self.top = {}, {}

    def most_frequent(self) -> dict[str, str]:
        """key → the text most of its rows carry; among tied ones, the one with the largest
        weight on any of its rows, then the first seen. Keys without a value are absent."""
        if self.compact is not None:
            return self.compact.most_frequent()
        chosen: dict[str, str] = {}
        top_of = self.top
        for key, counts in self.counts.items():
            most = max(counts.values())
            tied = [text for text, count in counts.items() if count == most]
            if len(tied) > 1:
                top = top_of[key]
                ranks = [top[text] for text in tied]
                chosen[key] = tied[ranks.index(max(ranks))]  # the earliest of equal weights
            else:
                chosen[key] = tied[0]
        return chosen


Store = MutableSequence[Any]  # one key's rows and largest weight of each of its texts, in turn: array or list


class CompactCounts:
    """:class:`WeighedCounts` past COMPACT_AT pairs: per key, the position of each of its texts
    ({text: i}) and one array of int64 holding the rows (at 2i) and the largest :func:`scaled`
    weight (at 2i+1) of each — 16 bytes a pair, not two dict entries and a Decimal. Each distinct
    text is one str, shared by the keys that hold it (a text cleansed again after its rule's memo
    was emptied is another str of the same value). A weight that is no int (more than four
    places, or beyond ±10**14) turns every array into a list, which holds any weight."""

    def __init__(self, counts_of: dict[str, dict[str, int]], top_of: dict[str, dict[str, Weight]]) -> None:
        self.texts: dict[str, str] = {}  # each distinct text once
        self.positions: dict[str, dict[str, int]] = {}  # key → {text: its position}, first-seen order
        self.stores: dict[str, Store] = {}
        self.general = False  # whether the stores are lists
        shared = self.texts
        tops = {key: scaled(list(top.values())) for key, top in top_of.items()}
        self.general = not all(map(_int64, tops.values()))
        for key, counts in counts_of.items():  # counts and top: the same texts, in the same order
            texts = list(map(shared.setdefault, counts, counts))
            self.positions[key] = dict(zip(texts, range(len(texts)), strict=True))
            self.stores[key] = self._store(
                [n for pair in zip(counts.values(), tops.pop(key), strict=True) for n in pair]
            )

    def _store(self, values: list[Weight]) -> Store:
        if self.general:
            return values
        values[1::2] = [_NO_WEIGHT if top == SMALLEST else top for top in values[1::2]]
        return array("q", values)

    def add(self, keys: Column, texts: Column, ranks: Column, mask: Selectors | None) -> None:
        texts, ranks = list(map(self.texts.setdefault, texts, texts)), scaled(ranks)
        if not self.general:
            if not _int64(ranks):
                self._generalise()
            elif SMALLEST in ranks:
                ranks = [_NO_WEIGHT if rank == SMALLEST else rank for rank in ranks]
        new: Callable[[Iterable[Weight]], Store] = list if self.general else _int64_array
        positions_of, stores = self.positions, self.stores
        for key, text, rank in selected(zip(keys, texts, ranks, strict=True), mask):
            positions = positions_of.get(key)
            if positions is None:
                positions_of[key] = {text: 0}
                stores[key] = new((1, rank))
            elif (at := positions.get(text)) is None:
                positions[text] = len(positions)
                store = stores[key]
                store.append(1)
                store.append(rank)
            else:
                store = stores[key]
                at += at
                store[at] += 1
                if rank > store[at + 1]:
                    store[at + 1] = rank

    def _generalise(self) -> None:
        """Every store as a list (a weight came that an int64 cannot hold); SMALLEST as itself."""
        for key, store in self.stores.items():
            values: list[Weight] = list(store)
            values[1::2] = [SMALLEST if top == _NO_WEIGHT else top for top in values[1::2]]
            self.stores[key] = values
        self.general = True

    def most_frequent(self) -> dict[str, str]:
        """As :meth:`WeighedCounts.most_frequent`."""
        chosen: dict[str, str] = {}
        stores = self.stores
        for key, positions in self.positions.items():
            store = stores[key]
            counts, tops = store[0::2], store[1::2]
            most = max(counts)
            tied = [text for text, at in positions.items() if counts[at] == most]
            if len(tied) > 1:
                ranks = [tops[positions[text]] for text in tied]
                chosen[key] = tied[ranks.index(max(ranks))]  # the earliest of equal weights
            else:
                chosen[key] = tied[0]
        return chosen


def _int64(ranks: Column) -> bool:
    """Whether every scaled weight of ``ranks`` is an int (within ±_BOUND) or SMALLEST."""
    return all(rank.__class__ is int or rank == SMALLEST for rank in ranks)


def _int64_array(values: Iterable[Weight]) -> Store:
    return array("q", values)
