"""Aggregation ``first_unique``: the first non-blank value of a key's rows that no row of the run
gives under another key (hostile pass, item 3).

Its use is 组织架构.机构 ← 机构名称: the cleansing reads 组织架构 back (机构 → 机构代码) and that
lookup comes before the sheet's own code, so a name backfilled for a code it does not always
have would give the next run's rows another 机构代码 than this run's. Two rules keep two
identical runs identical:

- a value the run gives under two keys or more (北京 with 机构代码 G12 on some rows, G13 or the
  G00 fallback on others) names none of them;
- a key the configuration shares among unrelated rows (``shared``: the default portfolio codes,
  and G00, the 机构代码 of every row without a branch) is named by none of its values.

Each key left without a value although its rows had some gets one warning.
Pure: no database, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from itertools import compress
from typing import Any

from refs.conflicts import DerivationWarning


def unique_pairs(keys: Sequence[str], column: Sequence[Any]) -> Iterator[tuple[str, str]]:
    """(key, value as text) for each row of a chunk whose value is not blank as text: what a
    fold remembers (the distinct pairs, in first-seen order) for :func:`first_unique`."""
    if set(map(type, column)) <= {str} and not any(map(str.isspace, column)):
        return compress(zip(keys, column, strict=True), column)  # C-level: "" is the only blank, and false
    return (
        (key, text)
        for key, value in zip(keys, column, strict=True)
        if value is not None and (text := str(value)) and not text.isspace()
    )


def first_unique(
    target: str, column: str, distinct: Mapping[str, Sequence[str]], shared: Mapping[str, str]
) -> tuple[dict[str, str | None], list[DerivationWarning]]:
    """The value of ``column`` for each key of ``distinct`` (key → its distinct non-blank values
    as text, first-seen order; every key of the run, in its order), and the warnings of the keys
    it leaves without a value."""
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
    chosen = {
        key: None if key in shared else next((value for value in values if keys_of[value] == 1), None)
        for key, values in distinct.items()
    }
    return chosen, warnings
