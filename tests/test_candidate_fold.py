"""refs.derivation.CandidateFold keeps bounded state per key (issue 13), and gives for any input
and any chunking exactly the Derivation of today's all-rows algorithm.

The oracle (tests/derivation_oracle.py) is refs/derivation.py as it was before the fold kept
bounded state: it groups every row and reduces the buckets at the end. Rows are drawn by seeded
random generators from values that test every rule's edges (blank and whitespace strings, None,
Decimal NaN / sNaN / Infinity, ints against Decimals against numeric text as weights, dates,
equal numbers that read differently, a str subclass, unhashable lists), over the shipped targets
and hand-made ones, then added in random chunks. Pure: no database.
"""

from __future__ import annotations

import itertools
import random
import tracemalloc
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import wdh
from refs import candidate_state, text_counts
from refs.derivation import CandidateFold, Derivation, derive_candidates
from tests import derivation_oracle
from wdh.config import DEFAULT_REFS, Aggregation, ColumnRule, RefTarget, load_config

A = Aggregation


class Text(str):
    """A str subclass: keys and values keep it where the rules keep a str as it is."""


TEXTS: list[Any] = [
    "A",
    "B",
    "C",
    " A",
    "A ",
    "",
    "  ",
    "\u3000",
    "\t\n",
    None,
    "1",
    "北京",
    "上海",
    Text("A"),
    Text(" "),
]
OTHERS: list[Any] = [
    1,
    Decimal("1"),
    Decimal("1.0"),
    Decimal("1.00"),
    1.0,
    float("nan"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    date(2026, 2, 1),
    date(2026, 3, 1),
    datetime(2026, 2, 1, 12, 30),
    True,
    0,
    ["A"],  # unhashable
]
WEIGHTS: list[Any] = [
    Decimal(5),
    Decimal("5.0"),
    Decimal("2.5"),
    Decimal(-1),
    5,
    2,
    2.5,
    5.0,
    "5",
    "1,000",
    " 2.5 ",
    "x",
    "",
    None,
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    float("nan"),
    float("inf"),
    True,
]
KEYS: list[Any] = ["K1", "K2", "K3", "K4", " K1", "", " ", None, 1, Decimal("1"), "1", Text("K2"), "\u3000", 2.0]
MONTHS: list[Any] = [date(2026, 2, 1), date(2026, 3, 1), None, "", "2026-02", 202602, Decimal("1.0"), Decimal("1.00")]


def rule(column: str, agg: Aggregation, source: str | None = None, **options: Any) -> ColumnRule:
    return ColumnRule(column, agg, source=source, **options)


HAND_MADE = RefTarget(
    name="portfolios",  # conflict warnings read "portfolio K appears under …"
    schema="",
    table="t",
    key=("k",),
    updatable=(),
    columns=(
        rule("k", A.KEY, "代码"),
        rule("first", A.FIRST, "v", warn_on_conflict=True),
        rule("first_t", A.FIRST, "t"),
        rule("frequent", A.MOST_FREQUENT, "v", weight="w"),
        rule("frequent_plain", A.MOST_FREQUENT, "t"),
        rule("frequent_u", A.MOST_FREQUENT, "u", weight="x"),
        rule("heaviest", A.MAX_BY, "v", weight="w"),
        rule("heaviest_t", A.MAX_BY, "t", weight="w"),
        rule("heaviest_x", A.MAX_BY, "u", weight="x"),
        rule("all", A.CONCAT_DISTINCT, "v", separator="/"),
        rule("all_t", A.CONCAT_DISTINCT, "t"),
        rule("count", A.COUNT_DISTINCT, "v"),
        rule("unique", A.FIRST_UNIQUE, "t"),
        rule("note", A.TEMPLATE, template="{月度:%y%m}_新建"),
        rule("pair", A.TEMPLATE, template="{t}-{v!s:>3}"),
        rule("same_key", A.FIRST, "代码"),
    ),
)
CONFIG = load_config(Path(wdh.__file__).parent / "data_sources.yml", data_base_dir=Path("/nonexistent"))
# plans, portfolios, product_lines and branches of each domain (annuity_income weighs by 固费)
SHIPPED = list({target: None for domain in CONFIG.domains.values() for target in domain.refs.values()})


def pick(generator: random.Random, pool: Sequence[Any], narrow: int) -> Any:
    """A value of ``pool``, mostly one of its first ``narrow`` (so groups share values and tie)."""
    return generator.choice(pool[:narrow] if generator.random() < 0.7 else pool)


def value(generator: random.Random, narrow: int) -> Any:
    return pick(generator, TEXTS, narrow) if generator.random() < 0.75 else generator.choice(OTHERS)


def rows_for(target: RefTarget, seed: int, count: int) -> list[dict[str, Any]]:
    """Random rows over every fact column ``target`` reads; some rows lack a column."""
    generator = random.Random(seed)
    key = next(r.source for r in target.columns if r.agg is A.KEY) or ""
    weights = {r.weight for r in target.columns if r.weight}
    names = {name for r in target.columns for name in r.sources} - {key}
    narrow = generator.choice([2, 3, len(TEXTS)])
    many = generator.random() < 0.3  # many keys, most of them with few rows
    rows = []
    for _ in range(count):
        row = {key: f"W{generator.randint(0, 99)}" if many and generator.random() < 0.8 else pick(generator, KEYS, 4)}
        for name in names:
            if name in weights:
                row[name] = generator.choice(WEIGHTS)
            elif name == "月度":
                row[name] = pick(generator, MONTHS, 2)
            else:
                row[name] = value(generator, narrow)
        if generator.random() < 0.03:
            row.pop(generator.choice(sorted(row)))
        rows.append(row)
    return rows


def chunks(rows: list[dict[str, Any]], generator: random.Random) -> list[Sequence[Mapping[str, Any]]]:
    """``rows`` cut at random places (empty chunks included), as lists, tuples or iterators."""
    cuts = sorted(generator.randint(0, len(rows)) for _ in range(generator.randint(0, 12)))
    parts = [rows[start:end] for start, end in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
    return [tuple(part) if generator.random() < 0.2 else part for part in parts]


def facts(derivation: Derivation | derivation_oracle.Derivation) -> tuple[Any, ...]:
    """Everything a Derivation says, orders included (dict equality ignores order)."""
    return (
        derivation.target,
        [(key, list(candidate.items())) for key, candidate in derivation.candidates.items()],
        derivation.warnings,
        derivation.rows_seen,
        derivation.rows_without_key,
        [(key, list(columns.items())) for key, columns in derivation.distinct.items()],
    )


def shared_for(rows: list[dict[str, Any]], generator: random.Random) -> dict[str, str]:
    keys = sorted({str(value) for row in rows for value in row.values() if isinstance(value, str)})
    return {key: "default portfolio" for key in keys if generator.random() < 0.2}


@pytest.mark.parametrize(
    "target", [*SHIPPED, HAND_MADE], ids=lambda target: f"{target.name}-{target.columns[3:4]}"[:40]
)
@pytest.mark.parametrize("seed", range(40))
def test_any_chunking_of_any_rows_derives_what_the_all_rows_algorithm_does(target: RefTarget, seed: int) -> None:
    generator = random.Random(seed)
    rows = rows_for(target, seed, generator.choice([1, 5, 40, 300]))
    shared = shared_for(rows, generator) if seed % 2 else None
    expected = facts(derivation_oracle.derive_candidates(rows, target, shared=shared))
    fold = CandidateFold(target, shared=shared)
    for part in chunks(rows, generator):
        fold.add(iter(part) if generator.random() < 0.2 else part)
    assert facts(fold.derivation()) == expected
    assert facts(derive_candidates(rows, target, shared=shared)) == expected


@pytest.mark.parametrize("target", [*SHIPPED, HAND_MADE], ids=lambda target: target.name)
@pytest.mark.parametrize("seed", range(20))
def test_a_fold_that_scales_its_weights_derives_what_the_all_rows_algorithm_does(
    target: RefTarget, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past COMPACT_AT (key, text) pairs, most_frequent keeps its weights scaled: same outcome."""
    monkeypatch.setattr(text_counts, "COMPACT_AT", seed % 4)
    generator = random.Random(seed)
    rows = rows_for(target, seed, generator.choice([5, 40, 300]))
    expected = facts(derivation_oracle.derive_candidates(rows, target))
    fold = CandidateFold(target)
    for part in chunks(rows, generator):
        fold.add(part)
    assert facts(fold.derivation()) == expected


# Weights no int64 holds once scaled (more than four places, beyond ±10**14): below a blank's too
EXOTIC_WEIGHTS = [
    Decimal("0.00001"),
    Decimal("0.00002"),
    Decimal("1E+20"),
    Decimal("-1E+20"),
    Decimal("-1E+30"),
    -(10**30),
]


@pytest.mark.parametrize("seed", range(30))
def test_a_compact_fold_takes_weights_no_int64_holds(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrays of int64 until such a weight arrives, part-way; lists from then on: same outcome."""
    monkeypatch.setattr(text_counts, "COMPACT_AT", seed % 3)
    generator = random.Random(seed)
    rows = rows_for(HAND_MADE, seed, 300)
    late = generator.randint(0, len(rows))
    for row in rows[late:]:
        if generator.random() < 0.3:
            row["w"] = generator.choice(EXOTIC_WEIGHTS)
    expected = facts(derivation_oracle.derive_candidates(rows, HAND_MADE))
    fold = CandidateFold(HAND_MADE)
    for part in chunks(rows, generator):
        fold.add(part)
    assert facts(fold.derivation()) == expected


def test_scaled_weights_compare_as_the_weights_do() -> None:
    """Equal weights stay equal, and order is kept, across every kind of weight and a chunk's
    usual (Decimals only) and general paths."""
    values = [
        *WEIGHTS, Decimal("0.01"), Decimal("0.010"), Decimal("0.001"), Decimal("-0.005"), Decimal("1E+20"),
        Decimal("12345678901234.56"), Decimal("12345678901234.57"), Decimal("1.23456789012345678901234567890123"),
        Decimal("1.23456789012345678901234567890124"), 0.1, 1e300, -(2**70), 2**70, Decimal("1E-30"),
    ]  # fmt: skip
    found = candidate_state.weights(values)
    decimals = [weight for weight in found if type(weight) is Decimal]
    for column in (found, decimals):
        scaled_column = text_counts.scaled(column)
        for (a, scaled_a), (b, scaled_b) in itertools.product(zip(column, scaled_column, strict=True), repeat=2):
            assert (a < b, a == b) == (scaled_a < scaled_b, scaled_a == scaled_b), (a, b)
    assert all(type(weight) is int for weight in text_counts.scaled([Decimal("12.34"), Decimal("-5"), Decimal("0.00")]))


def test_the_oracle_is_the_algorithm_the_other_tests_pin() -> None:
    """The oracle's outcome on rows with a conflict, a tie and a blank (as tests/test_derivation.py)."""
    rows = [{"代码": "K", "v": "x", "w": 1, "t": "T", "u": None, "x": None, "月度": date(2026, 2, 1)}]
    rows += [{"代码": "K", "v": "y", "w": 2, "t": " ", "u": "U", "x": "3", "月度": None}]
    candidate = derivation_oracle.derive_candidates(rows, HAND_MADE).candidates["K"]
    assert (candidate["first"], candidate["frequent"], candidate["heaviest"], candidate["heaviest_t"]) == (
        "x",
        "y",
        "y",
        "T",
    )
    assert (candidate["all"], candidate["count"], candidate["note"], candidate["unique"]) == (
        "x/y",
        "2",
        "2602_新建",
        "T",
    )


def test_the_fold_can_take_rows_after_a_derivation() -> None:
    rows = rows_for(HAND_MADE, 7, 200)
    fold = CandidateFold(HAND_MADE)
    fold.add(rows[:100])
    assert facts(fold.derivation()) == facts(derivation_oracle.derive_candidates(rows[:100], HAND_MADE))
    fold.add(rows[100:])
    assert facts(fold.derivation()) == facts(derivation_oracle.derive_candidates(rows, HAND_MADE))


def sample_chunk(start: int, size: int) -> list[dict[str, Any]]:
    """Rows over 50 plans, each with a few customers, branches and months that recur; every
    (plan, customer) pair reaches its largest weight within the first 1,000 rows."""
    return [
        {"计划代码": f"P{n % 50}", "计划名称": f"计划{n % 50}", "计划类型": "集合计划", "客户名称": f"客户{n % 5}"}
        | {"company_id": None, "机构代码": f"G{n % 3}", "机构名称": f"分公司{n % 3}", "业务类型": "企年投资"}
        | {"月度": date(2026, 1 + n % 2, 1), "期末资产规模": Decimal(n % 11)}
        for n in range(start, start + size)
    ]


def test_memory_grows_with_the_keys_and_their_values_not_with_the_rows() -> None:
    """Ten times the rows over the same keys and values: the fold holds no more than the
    allocator's caches (free lists of tuples and the like); the version before issue 13 kept a
    tuple of slots per row and grew by 5.5 MB here."""
    plans = DEFAULT_REFS["plans"]
    fold = CandidateFold(plans)
    fold.add(sample_chunk(0, 1000))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start in range(1000, 10_000, 1000):
            fold.add(sample_chunk(start, 1000))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 500_000, f"the fold grew by {grown:,} bytes over 9,000 rows of known keys and values"
    assert fold.derivation().rows_seen == 10_000
