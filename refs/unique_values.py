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
from collections.abc import Callable, Mapping
from typing import Any

from refs.conflicts import DerivationWarning

Bucket = list[tuple[Any, ...]]
Candidate = dict[str, str | None]


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
