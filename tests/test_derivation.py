"""refs/derivation.py: candidate reference rows from cleansed fact rows (PRODUCT.md §6).

Pure functions, so these tests need no database: rows are built in code, rules are the shipped
defaults (``DEFAULT_REFS``, checked equal to ``data_sources.yml``) or made by hand.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import wdh
from refs.derivation import CandidateFold, Derivation, DerivationWarning, derive_candidates, is_blank
from wdh.config import DEFAULT_REFS, Aggregation, ColumnRule, RefTarget, load_config

A = Aggregation
PLANS = DEFAULT_REFS["plans"]
PORTFOLIOS = DEFAULT_REFS["portfolios"]
FEB = date(2026, 2, 1)
NAN = float("nan")


def target(*rules: ColumnRule, name: str = "plans") -> RefTarget:
    """A hand-made target keyed by fact column 代码, with ``rules`` after the key."""
    key = ColumnRule("k", A.KEY, source="代码")
    return RefTarget(name=name, schema="", table="t", key=("k",), updatable=(), columns=(key, *rules))


def derive_one(rule: ColumnRule, values: list[Any], weights: list[Any] | None = None) -> str | None:
    """The value ``rule`` derives for one group whose rows carry ``values`` in column v (and w)."""
    rows = [{"代码": "K", "v": value} for value in values]
    for row, weight in zip(rows, weights or [], strict=False):
        row["w"] = weight
    return derive_candidates(rows, target(rule)).candidates["K"][rule.column]


def test_rules_tested_here_are_the_shipped_ones() -> None:
    config = load_config(Path(wdh.__file__).parent / "data_sources.yml", data_base_dir=Path("/nonexistent"))
    refs = config.domain("annuity_performance").refs
    for name, default in DEFAULT_REFS.items():
        assert refs[name].columns == default.columns, name


@pytest.mark.parametrize(
    ("value", "blank"),
    [
        (None, True),
        ("", True),
        ("   ", True),
        ("\t\n\u3000", True),
        ("a", False),
        (" a ", False),
        (0, False),
        (Decimal(0), False),
        (FEB, False),
        (NAN, False),
    ],
)
def test_is_blank(value: object, blank: bool) -> None:
    assert is_blank(value) is blank


FIRST = ColumnRule("c", A.FIRST, source="v")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(["A", "B"], "A", id="first row"),
        pytest.param([None, "", "  ", "B", "C"], "B", id="blanks skipped"),
        pytest.param([None, "", " "], None, id="all blank"),
        pytest.param([" B "], " B ", id="kept as is"),
        pytest.param([0, "B"], "0", id="zero is a value"),
        pytest.param([Decimal("1.50")], "1.50", id="Decimal as text"),
        pytest.param([FEB], "2026-02-01", id="date as text"),
    ],
)
def test_first(values: list[Any], expected: str | None) -> None:
    assert derive_one(FIRST, values) == expected


def test_first_of_a_column_the_rows_lack() -> None:
    assert derive_candidates([{"代码": "K"}], target(FIRST)).candidates == {"K": {"k": "K", "c": None}}


MOST_FREQUENT = ColumnRule("c", A.MOST_FREQUENT, source="v", weight="w")
MOST_FREQUENT_UNWEIGHTED = ColumnRule("c", A.MOST_FREQUENT, source="v")


@pytest.mark.parametrize(
    ("values", "weights", "expected"),
    [
        pytest.param(["A", "B", "B"], [100, 1, 1], "B", id="count wins over weight"),
        pytest.param(["A", "A", "B"], [1, 1, 100], "A", id="weight only among tied counts"),
        pytest.param(["A", "B"], [1, 5], "B", id="tie: larger weight"),
        pytest.param(["A", "B", "A", "B"], [1, 3, 9, 2], "A", id="tie: largest weight on any tied row"),
        pytest.param(["B", "A"], [5, 5], "B", id="still tied: first seen"),
        pytest.param(["A", "B"], ["n/a", 1], "B", id="unparsable weight is smallest"),
        pytest.param(["A", "B"], [None, "x"], "A", id="two unparsable weights: first seen"),
        pytest.param(["A", "B"], [NAN, 0], "B", id="float NaN is smallest"),
        pytest.param(["A", "B"], [Decimal("NaN"), Decimal(-1)], "B", id="Decimal NaN is smallest"),
        pytest.param(["A", "B"], ["1,000", "999.5"], "A", id="numeric text with commas"),
        pytest.param(["A", "B"], [Decimal("2.5"), 2], "A", id="Decimal against int"),
        pytest.param([None, "", " ", "A", "B"], [9, 9, 9, 1, 0], "A", id="blanks never counted"),
        pytest.param([None, " "], [1, 2], None, id="all blank"),
        pytest.param([1, "1", "2"], [0, 0, 5], "1", id="counted by text"),
        pytest.param([Decimal("1.0"), Decimal("1.00")], [0, 5], "1.00", id="equal numbers read differently"),
    ],
)
def test_most_frequent(values: list[Any], weights: list[Any], expected: str | None) -> None:
    assert derive_one(MOST_FREQUENT, values, weights) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(["A", "B", "B"], "B", id="count"),
        pytest.param(["B", "A", "A", "B"], "B", id="tie: first seen"),
        pytest.param(["B", "A"], "B", id="all once: first seen"),
    ],
)
def test_most_frequent_without_weight(values: list[Any], expected: str) -> None:
    assert derive_one(MOST_FREQUENT_UNWEIGHTED, values, [1000] * len(values)) == expected


MAX_BY = ColumnRule("c", A.MAX_BY, source="v", weight="w")


@pytest.mark.parametrize(
    ("values", "weights", "expected"),
    [
        pytest.param(["A", "B", "C"], [1, 3, 2], "B", id="largest weight"),
        pytest.param(["A", "B", "C"], [5, 7, 7], "B", id="equal weights: earliest row"),
        pytest.param(["A"], [None], "A", id="one row"),
        pytest.param(["A", None], [1, 9], "A", id="blank winner: first non-blank"),
        pytest.param(["", "B", "C"], [9, 1, 5], "B", id="blank winner: first non-blank, not next heaviest"),
        pytest.param([None, ""], [1, 2], None, id="all blank"),
        pytest.param(["A", "B"], ["x", 1], "B", id="unparsable weight is smallest"),
        pytest.param(["A", "B"], [None, Decimal(-5)], "B", id="missing weight below negative"),
        pytest.param(["A", "B", "C"], ["x", None, ""], "A", id="all unparsable: earliest row"),
        pytest.param(["A", "B"], [Decimal("NaN"), 1], "B", id="Decimal NaN is smallest"),
        pytest.param(["A", "B"], [NAN, -1.5], "B", id="float NaN is smallest"),
        pytest.param(["A", "B"], [Decimal("Infinity"), 1], "B", id="infinity is not a weight"),
        pytest.param(["A", "B"], [True, 0], "B", id="a bool is not a weight"),
        pytest.param(["A", "B", "C", "D"], [Decimal("2.5"), 3, 2.9, "3.5"], "D", id="mixed numeric types"),
        pytest.param(["A", "B"], ["1,200.50", " 999 "], "A", id="numeric text"),
        pytest.param(["A", "B"], [Decimal("2.0"), 2], "A", id="equal across types: earliest row"),
        pytest.param([Decimal("1.50"), "B"], [2, 1], "1.50", id="value as text"),
    ],
)
def test_max_by(values: list[Any], weights: list[Any], expected: str | None) -> None:
    assert derive_one(MAX_BY, values, weights) == expected


@pytest.mark.parametrize(
    ("separator", "values", "expected"),
    [
        pytest.param("+", ["企年投资", "企年受托", "企年投资"], "企年受托+企年投资", id="sorted, distinct"),
        pytest.param("+", [" B", "A ", "B"], "A+B", id="stripped before dedup"),
        pytest.param("+", [None, "", "  ", "A"], "A", id="blanks skipped"),
        pytest.param("+", [None, " "], None, id="all blank"),
        pytest.param("/", ["B", "A"], "A/B", id="separator"),
        pytest.param("", ["B", "A"], "AB", id="empty separator"),
        pytest.param("+", [2, 10, "2"], "10+2", id="sorted as text"),
    ],
)
def test_concat_distinct(separator: str, values: list[Any], expected: str | None) -> None:
    assert derive_one(ColumnRule("c", A.CONCAT_DISTINCT, source="v", separator=separator), values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(["9003", "9004", "9003"], "2", id="distinct"),
        pytest.param([" A", "A ", "A"], "1", id="stripped before counting"),
        pytest.param([None, "", "  ", "\u3000", "A"], "1", id="blanks not counted"),
        pytest.param([None, " "], "0", id="all blank: a count of 0, not missing"),
        pytest.param([2, "2", Decimal("2")], "1", id="compared as text"),
        pytest.param([Decimal("1.0"), Decimal("1.00")], "2", id="text, not numeric equality"),
        pytest.param([FEB, date(2026, 3, 1), FEB], "2", id="dates"),
    ],
)
def test_count_distinct(values: list[Any], expected: str) -> None:
    assert derive_one(ColumnRule("c", A.COUNT_DISTINCT, source="v"), values) == expected


def test_count_distinct_counts_each_group_apart() -> None:
    rule = ColumnRule("组合数", A.COUNT_DISTINCT, source="组合代码")
    rows = [{"代码": "P1", "组合代码": c} for c in ("A", "B", "A")] + [{"代码": "P2", "组合代码": "A"}]
    candidates = derive_candidates(rows, target(rule)).candidates
    assert {key: row["组合数"] for key, row in candidates.items()} == {"P1": "2", "P2": "1"}


@pytest.mark.parametrize(
    ("template", "rows", "expected"),
    [
        pytest.param("{月度:%y%m}_新建", [{"月度": FEB}], "2602_新建", id="date"),
        pytest.param(
            "{月度:%y%m}_新建",
            [{"月度": None}, {"月度": FEB}, {"月度": date(2026, 3, 1)}],
            "2602_新建",
            id="first date",
        ),
        pytest.param("{月度:%y%m}_新建", [{"月度": None}], None, id="no value"),
        pytest.param("{月度:%y%m}_新建", [{}], None, id="column absent"),
        pytest.param("{月度:%y%m}_新建", [{"月度": "2026-02"}], None, id="formatting fails"),
        pytest.param("{计划代码}-{月度:%Y}", [{"计划代码": "P1", "月度": FEB}], "P1-2026", id="two fields"),
        pytest.param("{计划代码}-{月度:%Y}", [{"计划代码": " ", "月度": FEB}], None, id="one field blank"),
        pytest.param("{v!r}", [{"v": "a"}], "'a'", id="conversion"),
        pytest.param("{v:>4}", [{"v": Decimal("1.5")}], " 1.5", id="spec on a number"),
        pytest.param("{v}", [{"v": "  "}, {"v": "x"}], "x", id="first non-blank"),
    ],
)
def test_template(template: str, rows: list[dict[str, Any]], expected: str | None) -> None:
    rule = ColumnRule("c", A.TEMPLATE, template=template)
    candidates = derive_candidates([{"代码": "K", **row} for row in rows], target(rule)).candidates
    assert candidates["K"]["c"] == expected


def test_template_formats_each_group_from_its_own_values() -> None:
    rule = ColumnRule("c", A.TEMPLATE, template="{月度:%y%m}/{v}")
    rows = [
        {"代码": "K1", "月度": FEB, "v": Decimal("1.0")},
        {"代码": "K2", "月度": FEB, "v": Decimal("1.00")},  # equal to 1.0, but reads differently
        {"代码": "K3", "月度": date(2026, 3, 1), "v": Decimal("1.0")},
        {"代码": "K4", "月度": FEB, "v": 1},
        {"代码": "K5", "月度": FEB, "v": Decimal("1.0")},
        {"代码": "K6", "月度": date(2026, 3, 1), "v": 1},
        {"代码": "K7", "月度": FEB, "v": 1},
    ]
    candidates = derive_candidates(rows, target(rule)).candidates
    expected = ["2602/1.0", "2602/1.00", "2603/1.0", "2602/1", "2602/1.0", "2603/1", "2602/1"]
    assert [row["c"] for row in candidates.values()] == expected


def test_keys_skip_blanks_and_keep_first_seen_order() -> None:
    rows = [{"代码": key} for key in ["C", None, "A", "", "  ", "B", "A", "C"]] + [{"other": 1}]
    derivation = derive_candidates(iter(rows), target(FIRST))
    assert list(derivation.candidates) == ["C", "A", "B"]
    assert (derivation.rows_seen, derivation.rows_without_key) == (9, 4)
    assert derivation.warnings == ()


def test_keys_are_text() -> None:
    derivation = derive_candidates([{"代码": 123}, {"代码": "123"}, {"代码": Decimal("7")}], target())
    assert derivation.candidates == {"123": {"k": "123"}, "7": {"k": "7"}}


def test_no_rows() -> None:
    assert derive_candidates([], PLANS) == Derivation(PLANS, {}, (), 0, 0)


def test_candidate_with_only_its_key() -> None:
    derivation = derive_candidates([{"计划代码": "P1"}, {"计划代码": "P1", "计划名称": " "}], PLANS)
    columns = [rule.column for rule in PLANS.columns]
    assert derivation.candidates == {"P1": {column: ("P1" if column == "年金计划号" else None) for column in columns}}


PLAN_ROWS: list[dict[str, Any]] = [
    {"计划代码": "P1", "计划名称": "", "计划类型": "单一计划", "客户名称": "甲公司", "company_id": None}
    | {"机构代码": "G01", "机构名称": "北京", "业务类型": "企年受托", "月度": FEB, "期末资产规模": Decimal(100)},
    {"计划代码": "P1", "计划名称": "一号计划", "计划类型": "集合计划", "客户名称": "乙公司", "company_id": "C1"}
    | {"机构代码": "G02", "机构名称": "上海", "业务类型": "企年投资", "月度": FEB, "期末资产规模": Decimal(300)},
    {"计划代码": "P1", "计划名称": "其他", "计划类型": "", "客户名称": "甲公司", "company_id": "C9"}
    | {"机构代码": "G03", "机构名称": "深圳", "业务类型": "企年受托 ", "月度": None, "期末资产规模": None},
]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("年金计划号", "P1"),  # key 计划代码
        ("计划全称", "一号计划"),  # first non-blank 计划名称
        ("计划类型", "单一计划"),  # first 计划类型
        ("客户名称", "甲公司"),  # most frequent, though 乙公司 has the larger 期末资产规模
        ("company_id", "C1"),  # first non-blank
        ("主拓代码", "G02"),  # max_by 期末资产规模
        ("主拓机构", "上海"),  # the same row
        ("管理资格", "企年受托+企年投资"),  # concat_distinct, stripped, sorted
        ("备注", "2602_新建"),  # template on the first non-blank 月度
    ],
)
def test_shipped_plan_rules(column: str, expected: str) -> None:
    assert derive_candidates(PLAN_ROWS, PLANS).candidates["P1"][column] == expected


@pytest.mark.parametrize(
    ("branches", "expected"),
    [
        pytest.param([("G01", "北京", 5), ("G02", "上海", 5)], ("G01", "北京"), id="equal weights"),
        pytest.param([("G01", "北京", "x"), ("G02", "上海", None)], ("G01", "北京"), id="no weight"),
        pytest.param([("G01", "北京", 1), ("G02", "上海", NAN)], ("G01", "北京"), id="NaN"),
        pytest.param([("G01", "北京", 1), ("G03", "", 9)], ("G03", "北京"), id="blank name falls back alone"),
    ],
)
def test_shipped_branch_rules_read_one_row(branches: list[tuple[str, str, Any]], expected: tuple[str, str]) -> None:
    rows = [{"计划代码": "P1", "机构代码": code, "机构名称": name, "期末资产规模": w} for code, name, w in branches]
    candidate = derive_candidates(rows, PLANS).candidates["P1"]
    assert (candidate["主拓代码"], candidate["主拓机构"]) == expected


def portfolio_row(portfolio: str, plan: str | None, **extra: Any) -> dict[str, Any]:
    return {"组合代码": portfolio, "计划代码": plan, "月度": FEB, **extra}


@pytest.mark.parametrize(
    ("column", "expected"),
    [("组合代码", "Q1"), ("年金计划号", "P1"), ("组合名称", "一号组合"), ("组合类型", "固收"), ("备注", "2602_新建")],
)
def test_shipped_portfolio_rules(column: str, expected: str) -> None:
    rows = [
        portfolio_row("Q1", "", 组合名称=None, 组合类型="固收"),
        portfolio_row("Q1", "P1", 组合名称="一号组合", 组合类型="权益"),
    ]
    assert derive_candidates(rows, PORTFOLIOS).candidates["Q1"][column] == expected


def test_portfolio_under_several_plans_warns_once_per_key() -> None:
    plans = ["P0001", "P0002", "P0001", "", "P0003", None] * 50
    rows = [portfolio_row("QTAN001", plan) for plan in plans]
    rows += [portfolio_row("Q1", "P0009")] * 3 + [portfolio_row("QTAN002", "P0002"), portfolio_row("QTAN002", "P0001")]
    derivation = derive_candidates(rows, PORTFOLIOS)
    assert derivation.candidates["QTAN001"]["年金计划号"] == "P0001"
    assert derivation.warnings == (
        DerivationWarning(
            target="portfolios",
            key="QTAN001",
            column="年金计划号",
            values=("P0001", "P0002", "P0003"),
            message="portfolio QTAN001 appears under 3 plans (P0001, P0002, P0003); 年金计划号 = P0001 (first seen)",
        ),
        DerivationWarning(
            target="portfolios",
            key="QTAN002",
            column="年金计划号",
            values=("P0002", "P0001"),
            message="portfolio QTAN002 appears under 2 plans (P0002, P0001); 年金计划号 = P0002 (first seen)",
        ),
    )


@pytest.mark.parametrize(
    "plans",
    [["P1"], ["P1", "P1", "P1"], ["P1", "", None, "  ", "P1"], [None, None]],
    ids=["one row", "all agree", "blanks are not plans", "no plan"],
)
def test_portfolio_without_conflict_does_not_warn(plans: list[str | None]) -> None:
    derivation = derive_candidates([portfolio_row("Q1", plan) for plan in plans], PORTFOLIOS)
    assert derivation.warnings == ()


def test_conflict_on_other_columns_names_the_source() -> None:
    rule = ColumnRule("c", A.FIRST, source="v", warn_on_conflict=True)
    rows = [{"代码": "K", "v": "x"}, {"代码": "K", "v": "y"}]
    (warning,) = derive_candidates(rows, target(rule, name="portfolios")).warnings
    assert warning.message == "portfolio K appears under 2 distinct v values (x, y); c = x (first seen)"


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ((ColumnRule("c", A.FIRST),), "c: agg first needs a source column"),
        ((ColumnRule("c", A.MAX_BY, source="v"),), "c: agg max_by needs a weight column"),
        ((ColumnRule("c", A.TEMPLATE),), "c: agg template needs a template"),
        ((ColumnRule("c", A.COUNT_DISTINCT),), "c: agg count_distinct needs a source column"),
        ((ColumnRule("c", A.MAX_BY, source="v", weight="w", warn_on_conflict=True),), "first only"),
        ((ColumnRule("k2", A.KEY, source="v"),), "exactly one column must be derived with agg key"),
    ],
)
def test_rules_missing_what_they_need(rules: tuple[ColumnRule, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        derive_candidates([], target(*rules))


SHUFFLED = target(
    ColumnRule("frequent", A.MOST_FREQUENT, source="v", weight="w"),
    ColumnRule("heaviest", A.MAX_BY, source="v", weight="w"),
    ColumnRule("all", A.CONCAT_DISTINCT, source="v"),
    ColumnRule("tied", A.MOST_FREQUENT, source="t"),
)


def shuffle_rows() -> list[dict[str, Any]]:
    """Groups with a count winner, distinct weights, and in column t a count tie (X / Y)."""
    rows = []
    for number in range(8):
        values = ["A"] * 3 + ["B"] * 2 + ["C", None, " "]
        for position, value in enumerate(values):
            weight = Decimal(number * 10 + position) if value != "B" else str(number * 10 + 50)
            rows.append({"代码": f"K{number}", "v": value, "w": weight, "t": "XY"[position % 2]})
    return rows


@pytest.mark.parametrize("seed", range(20))
def test_input_order_changes_only_first_seen_ties(seed: int) -> None:
    rows = shuffle_rows()
    expected = derive_candidates(rows, SHUFFLED).candidates
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    candidates = derive_candidates(shuffled, SHUFFLED).candidates
    assert list(candidates) == list(dict.fromkeys(row["代码"] for row in shuffled))
    for key, candidate in candidates.items():
        assert {column: candidate[column] for column in ("frequent", "heaviest", "all")} == {
            "frequent": "A",
            "heaviest": "B",
            "all": "A+B+C",
        }
        assert candidate == expected[key] | {"tied": candidate["tied"]}
        first_seen = next(row["t"] for row in shuffled if row["代码"] == key)
        assert candidate["tied"] == first_seen


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_rows_added_in_chunks_derive_as_all_at_once(chunk: int) -> None:
    """CandidateFold (the job's streaming reader adds each chunk as it is cleansed) gives exactly
    the Derivation of derive_candidates over every row, whatever the chunk size."""
    rows = [*shuffle_rows(), {"代码": "", "v": "A", "w": 1, "t": "X"}, {"代码": None, "v": "B", "w": 2, "t": "Y"}]
    random.Random(chunk).shuffle(rows)
    fold = CandidateFold(SHUFFLED)
    for start in range(0, len(rows), chunk):
        fold.add(rows[start : start + chunk])
    assert fold.derivation() == derive_candidates(rows, SHUFFLED)
    assert fold.derivation().rows_without_key == 2


@pytest.mark.parametrize(
    ("name", "one"),
    [("plans", "plan"), ("portfolios", "portfolio"), ("branches", "branch"), ("product_lines", "product_line"),
     ("companies", "company"), ("机构", "机构")],
)  # fmt: skip
def test_a_conflict_names_one_row_of_its_target(name: str, one: str) -> None:
    rows = [{"代码": "G09", "v": "x"}, {"代码": "G09", "v": "y"}]
    rule = ColumnRule("c", A.FIRST, source="v", warn_on_conflict=True)
    (warning,) = derive_candidates(rows, target(rule, name=name)).warnings
    assert warning.message.startswith(f"{one} G09 appears under 2 distinct v values")
