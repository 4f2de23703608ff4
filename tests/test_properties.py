"""Property-based tests (hypothesis): identifier quoting round-trips through PostgreSQL, the
cleansing functions never crash and are idempotent where they should be, and the order of the
fact rows changes no derived value beyond the documented first-seen tie-breaks.

Example counts are kept modest (the whole file runs in well under a minute); the database
examples each run in a transaction that is rolled back.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wdh
from domains.annuity_performance import cleansing as sheet_cleansing
from domains.annuity_performance.models import FACT_COLUMNS
from facts import amounts, cleansing, codes, lookups
from facts.customer_names import clean_customer_name
from facts.excel import CellError
from facts.sheet_header import normalise_header
from refs.derivation import derive_candidates, is_blank
from wdh.config import DEFAULT_REFS, Aggregation, ColumnRule, RefTarget, load_config
from wdh.identifiers import MAX_IDENTIFIER_BYTES, quote_ident, quote_qualified
from wdh.tables import DEFAULT_DOMAIN

FAST = settings(max_examples=300, deadline=None)
DATABASE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- quoting ------------------------------------------------------------------------------------


def fits(name: str) -> bool:
    return len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES


identifiers = st.text(st.characters(codec="utf-8", exclude_characters="\x00%"), min_size=1, max_size=40).filter(fits)
hostile_identifiers = st.one_of(
    identifiers,
    st.sampled_from(['"', '""', 'a"b', "; DROP TABLE x; --", "select", "SELECT", "年金 计划", "  ", "\\", "'", "$1"]),
)


@pytest.fixture
def rolled_back(db: None) -> Callable[[str, list[Any] | None], list[tuple[Any, ...]]]:
    """Run one statement in a transaction that is rolled back; return its rows and description."""

    def execute(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [tuple(column.name for column in cursor.description or ())]
            rows += list(cursor.fetchall()) if cursor.description else []
            transaction.set_rollback(True)
            return rows

    return execute


@DATABASE
@given(name=hostile_identifiers)
def test_quoted_identifier_round_trips_through_postgresql(rolled_back: Any, name: str) -> None:
    # PostgreSQL's own parser reads the quoted name back as exactly ``name``.
    header, row = rolled_back(f"SELECT 1 AS {quote_ident(name)}")
    assert header == (name,) and row == (1,)


@DATABASE
@given(schema=hostile_identifiers, table=hostile_identifiers, column=hostile_identifiers)
def test_quoted_table_and_column_are_the_objects_created(
    rolled_back: Any, schema: str, table: str, column: str
) -> None:
    qualified = quote_qualified(schema, table)
    assert rolled_back("SELECT parse_ident(%s)", [qualified])[1] == ([schema, table],)
    rows = rolled_back(
        f"CREATE SCHEMA {quote_ident(schema)}; CREATE TABLE {qualified} ({quote_ident(column)} text); "
        f"SELECT n.nspname, c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0",
        [qualified],
    )
    assert rows[1:] == [(schema, table, column)]


@FAST
@given(name=st.text(st.characters(exclude_characters="\x00%"), min_size=1, max_size=80))
def test_a_name_postgresql_would_truncate_is_refused(name: str) -> None:
    if any(0xD800 <= ord(char) <= 0xDFFF for char in name):  # a lone surrogate is no text at all
        with pytest.raises(ValueError, match="not valid Unicode text"):
            quote_ident(name)
    elif fits(name):
        assert quote_ident(name) == '"' + name.replace('"', '""') + '"'
    else:
        with pytest.raises(ValueError, match=f"limited to {MAX_IDENTIFIER_BYTES} bytes"):
            quote_ident(name)


@FAST
@given(
    name=st.tuples(st.text(max_size=10), st.sampled_from(["%", "%s", "%%", "\x00"]), st.text(max_size=10)).map("".join)
)
def test_names_the_database_layer_cannot_carry_are_refused(name: str) -> None:
    # NUL ends a C string; "%" would be read as a parameter placeholder by the driver.
    with pytest.raises(ValueError):
        quote_ident(name)


# --- derivation ---------------------------------------------------------------------------------

VALUES = st.sampled_from(["甲", "乙", "丙", " 甲", "", "  ", None])
WEIGHTS = st.one_of(
    st.none(),
    st.integers(0, 3).map(Decimal),
    st.sampled_from(["x", "2", "1,000", Decimal("NaN"), float("inf"), 2.0]),
)
ROWS = st.lists(st.tuples(VALUES, WEIGHTS), min_size=1, max_size=12)


def weight(value: Any) -> float | Decimal:
    """The documented weight: a finite number, else smaller than every number."""
    if isinstance(value, bool) or value is None:
        return -math.inf
    try:
        number = Decimal(value.replace(",", "")) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        return -math.inf
    return number if number.is_finite() else -math.inf


def allowed_most_frequent(rows: list[tuple[Any, Any]]) -> set[str | None]:
    counts = Counter(value for value, _ in rows if not is_blank(value))
    if not counts:
        return {None}
    top = max(counts.values())
    tied = {value for value, count in counts.items() if count == top}
    ranks = {value: max(weight(w) for v, w in rows if v == value) for value in tied}
    best = max(ranks.values())
    return {value for value in tied if ranks[value] == best}  # more than one: first seen decides


def allowed_max_by(rows: list[tuple[Any, Any]]) -> set[str | None]:
    weights = [weight(w) for _, w in rows]
    heaviest = [value for (value, _), w in zip(rows, weights, strict=True) if w == max(weights)]
    non_blank = {value for value, _ in rows if not is_blank(value)} or {None}
    allowed: set[str | None] = set()
    for value in heaviest:  # several: the earliest row; a blank one: the first non-blank value
        allowed |= non_blank if is_blank(value) else {value}
    return allowed


def concat_distinct(rows: list[tuple[Any, Any]]) -> set[str | None]:
    values = {value.strip() for value, _ in rows if not is_blank(value)}
    return {"+".join(sorted(values)) if values else None}


RULES: list[tuple[ColumnRule, Callable[[list[tuple[Any, Any]]], set[str | None]]]] = [
    (ColumnRule("c", Aggregation.MOST_FREQUENT, source="v", weight="w"), allowed_most_frequent),
    (ColumnRule("c", Aggregation.MAX_BY, source="v", weight="w"), allowed_max_by),
    (ColumnRule("c", Aggregation.CONCAT_DISTINCT, source="v", separator="+"), concat_distinct),
]


def derived(rule: ColumnRule, rows: list[tuple[Any, Any]]) -> str | None:
    key = ColumnRule("k", Aggregation.KEY, source="代码")
    target = RefTarget(name="plans", schema="", table="t", key=("k",), updatable=(), columns=(key, rule))
    facts = [{"代码": "K", "v": value, "w": w} for value, w in rows]
    return derive_candidates(facts, target).candidates["K"]["c"]


@FAST
@given(rows=ROWS, data=st.data())
def test_row_order_changes_no_result_beyond_the_first_seen_tie_break(rows: list[tuple[Any, Any]], data: Any) -> None:
    shuffled = data.draw(st.permutations(rows))
    for rule, allowed in RULES:
        expected = allowed(rows)
        first, second = derived(rule, rows), derived(rule, shuffled)
        assert first in expected and second in expected, (rule.agg, rows, shuffled)
        if len(expected) == 1:  # no tie left for the input order to break
            assert first == second, (rule.agg, rows, shuffled)


BRANCHES = [("G01", "北京分公司"), ("G02", "上海分公司"), ("G03", "广州分公司")]
PLAN_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "计划代码": st.sampled_from(["P0001", "P0002", "", None]),
            "branch": st.sampled_from(BRANCHES),
            "客户名称": VALUES,
            "业务类型": st.sampled_from(["企年受托", "企年投资", None]),
            "期末资产规模": WEIGHTS,
        }
    ),
    min_size=1,
    max_size=15,
)


@FAST
@given(rows=PLAN_ROWS, data=st.data())
def test_plans_keep_their_keys_and_read_branch_code_and_name_from_one_row(
    rows: list[dict[str, Any]], data: Any
) -> None:
    facts = [{**row, "机构代码": row["branch"][0], "机构名称": row["branch"][1]} for row in rows]
    shuffled = data.draw(st.permutations(facts))
    plans = DEFAULT_REFS["plans"]
    first, second = derive_candidates(facts, plans).candidates, derive_candidates(shuffled, plans).candidates
    assert set(first) == set(second) == {row["计划代码"] for row in facts if not is_blank(row["计划代码"])}
    for key, candidate in [*first.items(), *second.items()]:
        assert (candidate["主拓代码"], candidate["主拓机构"]) in BRANCHES  # never a mix of two rows
        assert candidate["管理资格"] == first[key]["管理资格"]  # concat_distinct: order-free


# --- cleansing ----------------------------------------------------------------------------------

MAPPINGS = (
    load_config(Path(wdh.__file__).parent / "data_sources.yml", data_base_dir=Path("/nonexistent"))
    .domain(DEFAULT_DOMAIN)
    .mappings
)
TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(sorted(cleansing.PLACEHOLDERS)),
    st.from_regex(r"\s*[-+]?[¥$￥€£]?\d{0,16}([.,]\d{0,6})?([eE][-+]?\d{1,4})?[%％]?\s*", fullmatch=True),
    st.from_regex(r"(\d{2}|\d{4})(年\d{1,2}月|[-/.]\d{1,2}|\d{2})", fullmatch=True),
    st.from_regex(r"\s*F?[0-9A-Za-z]{0,8}\s*", fullmatch=True),
)
CELLS = st.one_of(
    st.none(),
    TEXTS,
    st.integers(),
    st.floats(),  # NaN and ±infinity included
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.builds(CellError, st.sampled_from(["#N/A", "#DIV/0!", "#REF!", "#VALUE!"])),
)
PLAN_TYPES = st.sampled_from(["集合计划", "单一计划", "职业年金", "其他", None])
AMBIGUOUS = st.sampled_from([True, False, 1, 0, 1.0, 0.0, "1", "0", -0.0])  # equal as dict keys


def outcome(rule: Callable[[], Any]) -> Any:
    """What a rule does with a cell: its value, or the CellProblem it raises (never anything else)."""
    try:
        return rule()
    except cleansing.CellProblem as problem:
        assert str(problem), "a problem must say what is wrong"
        return problem


@FAST
@given(value=CELLS)
def test_text_rules_never_crash_and_are_idempotent(value: Any) -> None:
    text = outcome(lambda: cleansing.clean_text(value))
    if isinstance(text, str):
        assert text == text.strip() and text not in cleansing.PLACEHOLDERS
        assert cleansing.clean_text(text) == text
    outcome(lambda: codes.account_number(value))
    outcome(lambda: cleansing.customer_names(value))


@FAST
@given(value=CELLS, plan_type=PLAN_TYPES)
def test_code_rules_never_crash_and_plan_codes_are_idempotent(value: Any, plan_type: Any) -> None:
    corrections = MAPPINGS.plan_code_corrections
    code = outcome(lambda: codes.clean_plan_code(value, plan_type=plan_type, corrections=corrections))
    if isinstance(code, str):
        assert code and code == code.upper() and len(code) <= cleansing.MAX_LENGTH["计划代码"]
        assert codes.clean_plan_code(code, plan_type=plan_type, corrections=corrections) == code
    portfolio = outcome(lambda: codes.clean_portfolio_code(value))
    # Not idempotent by rule: one leading F goes ("FF12" → "F12"). A numeric cell is its digits.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15 and isinstance(portfolio, str):
        assert portfolio == str(int(value))


@FAST
@given(value=CELLS)
def test_month_never_crashes_and_is_idempotent(value: Any) -> None:
    month = outcome(lambda: cleansing.parse_month(value))
    if isinstance(month, date):
        assert month.day == 1 and 1900 <= month.year <= 2100
        assert cleansing.parse_month(month) == month
        assert cleansing.parse_month(month.strftime("%Y%m")) == month


@FAST
@given(value=CELLS)
def test_amounts_never_crash_fit_their_column_and_read_back_the_same(value: Any) -> None:
    amount = outcome(lambda: amounts.parse_amount(value))
    if isinstance(amount, Decimal):
        assert amount.is_finite() and amount.as_tuple().exponent == -amounts.AMOUNT_PLACES
        assert abs(amount) < Decimal(10) ** (amounts.AMOUNT_DIGITS - amounts.AMOUNT_PLACES)
        assert not (amount.is_zero() and amount.is_signed())  # no negative zero
        assert amounts.parse_amount(str(amount)) == amount
    rate = outcome(lambda: amounts.parse_return_rate(value))
    if isinstance(rate, Decimal):
        assert -1 <= rate <= 10 and rate.as_tuple().exponent == -amounts.RATE_PLACES
        if abs(rate) <= 1:  # above 1 a number reads as a percentage: by design not idempotent
            assert amounts.parse_return_rate(str(rate)) == rate


CORE = st.text(st.sampled_from("甲乙丙丁戊己庚辛华信能源建设有限公司集团"), min_size=2, max_size=10)
DECORATED = st.tuples(
    st.sampled_from(["", "（已转出）", "(保留)", "已转出-", "原-"]),
    CORE,
    st.sampled_from(["", "（北京）", "(上海)"]),
    st.sampled_from(["", "及下属子企业"]),
    st.sampled_from(["", "(团托)", "-养老", "-福利", "-A", "-12", "（终止）", "-已转出"]),
    st.sampled_from(["", " ", "\u3000", "\n"]),
)


@FAST
@given(parts=DECORATED)
def test_customer_names_lose_one_layer_of_decoration_and_then_stay_as_they_are(parts: tuple[str, ...]) -> None:
    prefix, core, region, subsidiaries, suffix, space = parts
    raw = space + prefix + core[:1] + space + core[1:] + region + subsidiaries + suffix + space
    cleaned = clean_customer_name(raw)
    assert cleaned is not None and core in cleaned
    full_width_ascii = {chr(code) for code in range(0xFF01, 0xFF5F)} - {"（", "）"}
    assert not any(char.isspace() or char in "()" or char in full_width_ascii for char in cleaned)
    assert clean_customer_name(cleaned) == cleaned


@FAST
@given(text=st.text(max_size=40))
def test_customer_name_cleaning_never_crashes(text: str) -> None:
    cleaned = clean_customer_name(text)
    assert cleaned is None or (cleaned and not any(char.isspace() for char in cleaned))


HEADER_TEXT = st.text(st.sampled_from("()（）[] \n\u3000\u200b_机构计划号代码名称AaＡ1１"), max_size=20)


@FAST
@given(name=st.one_of(HEADER_TEXT, st.text(max_size=30), st.integers(), st.floats(), st.none()))
def test_header_normalisation_is_idempotent(name: Any) -> None:
    normalised = normalise_header(name, sheet_cleansing.HEADER_RENAMES)
    assert not any(char.isspace() for char in normalised)
    assert normalise_header(normalised, sheet_cleansing.HEADER_RENAMES) == normalised


# One realistic value per column of the sheet; each cell is that value or anything at all.
SHEET_DEFAULTS: dict[str, Any] = {
    "月度": 202602.0, "业务类型": "企年受托", "计划类型": "集合计划", "计划代码": "P0001", "计划名称": "甲计划",
    "组合类型": "固收", "组合代码": 9078.0, "组合名称": "甲组合", "客户名称": "甲公司", "期初资产规模": 1000.0,
    "期末资产规模": 1100.5, "供款": "¥1,234.5", "流失_含待遇支付": 0.0, "流失": None, "待遇支付": 0.0,
    "投资收益": -3.25, "当期收益率": "5.5%", "机构代码": "G01", "机构名称": "北京分公司",
    "集团企业客户号": "C263952876703840086",
}  # fmt: skip
SHEET_ROWS = st.lists(
    st.fixed_dictionaries(
        {name: st.one_of(st.just(value), CELLS, AMBIGUOUS) for name, value in SHEET_DEFAULTS.items()}
    ),
    min_size=1,
    max_size=8,
)


class GeneratedSheet:
    """What cleanse_sheet reads of a sheet (facts.excel.SheetData), over generated rows."""

    def __init__(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        self.path, self.sheet, self.header = Path("generated.xlsx"), "规模明细", tuple(SHEET_DEFAULTS)
        self.rows = rows

    def iter_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        return ((number, tuple(row[name] for name in self.header)) for number, row in self.rows)


def cleansed_by_row(rows: list[tuple[int, dict[str, Any]]]) -> dict[int, Any]:
    """Excel row number → its fact row or its row error, cleansing ``rows`` as one sheet."""
    sheet = cast(Any, GeneratedSheet(rows))
    result = sheet_cleansing.cleanse_sheet(sheet, mappings=MAPPINGS, lookups=lookups.Lookups())
    assert result.rows_read == len(rows) == len(result.rows) + len(result.errors)
    errors = {error.row: (error.column, str(error.value), error.message) for error in result.errors}
    valid = iter(result.rows)
    return {number: errors[number] if number in errors else next(valid) for number, _ in rows}


@settings(max_examples=100, deadline=None)
@given(rows=SHEET_ROWS, data=st.data())
def test_a_sheet_never_crashes_cleansing_and_each_row_is_cleansed_on_its_own(
    rows: list[dict[str, Any]], data: Any
) -> None:
    numbered = list(enumerate(rows, start=2))
    outcomes = cleansed_by_row(numbered)
    for outcome_of_row in outcomes.values():
        if isinstance(outcome_of_row, dict):
            assert tuple(outcome_of_row) == FACT_COLUMNS
            assert isinstance(outcome_of_row["月度"], date) and outcome_of_row["计划代码"]
            for column, value in outcome_of_row.items():
                assert not isinstance(value, str) or len(value) <= cleansing.MAX_LENGTH[column], column
                assert not isinstance(value, Decimal) or value.is_finite(), column
    # The same rows in another order: every row comes out as before (no state leaks between rows).
    assert cleansed_by_row(data.draw(st.permutations(numbered))) == outcomes
