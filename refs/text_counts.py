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

from collections import Counter
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from itertools import repeat

from refs.candidate_state import SMALLEST, Chunk, Column, Pair, Weight, selected, texts_present

COMPACT_AT = 1 << 18  # (key, text) pairs past which a WeighedCounts keeps its weights scaled
_PLACES = 4  # scaled by 10**_PLACES: amounts (facts.amounts.AMOUNT_PLACES: 4) become ints
_SCALE: int = 10**_PLACES
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # scaleb without rounding
_SMALL = 14  # a Decimal whose adjusted exponent is below this, scaled, is an int within 64 bits


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
        return value * _SCALE
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
        self.scaled = False  # whether top's weights are scaled (and the texts shared)
        self.texts: dict[str, str] = {}  # once scaled: each distinct text, one str for every key's

    def add(self, chunk: Chunk) -> None:
        texts, mask = texts_present(chunk.column(self.index))
        ranks = chunk.ranks(self.weight)
        if self.scaled:
            texts, ranks = list(map(self.texts.setdefault, texts, texts)), scaled(ranks)
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
        if not self.scaled and pairs > COMPACT_AT:
            self._compact()

    def _compact(self) -> None:
        """Scale every weight, and share each distinct text between the keys that hold it (a
        text cleansed again after its rule's memo was emptied is another str of the same value)."""
        shared, counts_of, top_of = self.texts, self.counts, self.top
        for key, counts in list(counts_of.items()):  # counts and top: the same texts, in the same order
            texts = list(map(shared.setdefault, counts, counts))
            counts_of[key] = dict(zip(texts, counts.values(), strict=True))
            top_of[key] = dict(zip(texts, scaled(list(top_of[key].values())), strict=True))
        self.scaled = True

    def most_frequent(self) -> dict[str, str]:
        """key → the text most of its rows carry; among tied ones, the one with the largest
        weight on any of its rows, then the first seen. Keys without a value are absent."""
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
