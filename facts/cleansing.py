"""Cleansing the rows of sheet 规模明细 into fact rows of ``规模明细`` (ANNUITY_PERFORMANCE.md §3).

Pure: reads neither files nor the database. The warehouse data two rules need (branch codes,
plans' company ids) comes in as :class:`Lookups`, read beforehand by ``facts.lookups``.

Each field rule is a public function that raises :class:`CellProblem` for a bad value (a cell
as text is :mod:`facts.cells`; the rules of the codes used as keys are :mod:`facts.codes`);
:func:`cleanse_sheet` turns that into a :class:`RowError` with file, sheet, Excel row number,
column and raw value, and leaves the row out. Only the FIRST problem of a row is reported, in
fact-column order (月度, 业务类型, … company_id), so there is one error per rejected row and the
"more than half of the rows failed" rule can compare the two counts.

:data:`REQUIRED_COLUMNS` are the columns loaded as they are or read by a rule that has no
fallback: without one of them a whole month would load NULLs or wrong defaults unnoticed.
Optional: ``机构代码`` (the code comes first from 机构名称, and ``G00`` is the documented
default), ``集团企业客户号`` (年金账户号 stays empty) and ``company_id`` / ``公司代码`` (one of
five sources of company ids).

Speed (100,000 rows in well under two seconds on a slow machine): every text rule is memoised
per distinct input (:class:`_Memo`), and float amounts are rounded by integer arithmetic unless
they lie near a rounding tie (:class:`_FastFloat`).
"""

from __future__ import annotations

import enum
import functools
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, NamedTuple

from facts.cells import FACT_FIELDS, reject_special
from facts.cells import MAX_LENGTH as MAX_LENGTH  # re-exported: these lived here before facts.cells
from facts.cells import PLACEHOLDERS as PLACEHOLDERS
from facts.cells import CellProblem as CellProblem
from facts.cells import clean_text as clean_text
from facts.cells import fit as fit
from facts.codes import (
    CodeSpellings,
    account_number,
    branch_code,
    clean_plan_code,
    clean_portfolio_code,
    default_portfolio_code,
    product_line_code,
)
from facts.company_ids import PendingCompanyIds
from facts.customer_names import clean_customer_name
from facts.excel import SheetData
from facts.sheet_header import header_spellings
from wdh.config import Mappings
from wdh.errors import InputError

AMOUNT_COLUMNS = ("期初资产规模", "期末资产规模", "供款", "流失_含待遇支付", "流失", "待遇支付", "投资收益")
RATE_COLUMN = "当期收益率"
REQUIRED_COLUMNS: tuple[str, ...] = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    *AMOUNT_COLUMNS, RATE_COLUMN, "机构名称",
)  # fmt: skip
COMPANY_ID_COLUMNS = ("company_id", "公司代码")  # the first present is read
NO_CUSTOMER_COMPANY_ID = "600866980"  # the company_id of rows without 客户名称
COMPANY_ID_NONE = "__EMPTY__"  # company_id_by_name value: deliberately no company_id
SINGLE_PLAN = "单一计划"
PROGRESS_EVERY = 5000  # rows between progress callbacks

AMOUNT_PLACES: int = FACT_FIELDS[AMOUNT_COLUMNS[0]].decimal_places
AMOUNT_DIGITS: int = FACT_FIELDS[AMOUNT_COLUMNS[0]].max_digits
RATE_PLACES: int = FACT_FIELDS[RATE_COLUMN].decimal_places
RATE_DIGITS: int = FACT_FIELDS[RATE_COLUMN].max_digits
RATE_MIN, RATE_MAX = Decimal(-1), Decimal(10)

_PLAIN_TEXT = ("业务类型", "计划类型", "计划名称", "组合类型", "组合名称", "机构名称")  # loaded as they are
_MONTH_FORMATS = (
    re.compile(r"(\d{4})(\d{2})"),  # 202602
    re.compile(r"(\d{4}|\d{2})年(\d{1,2})月"),  # 2024年11月, 24年11月
    re.compile(r"(\d{4})[-/.](\d{1,2})"),  # 2024-11, 2024/11, 2024.11
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_AMOUNT_NOISE = re.compile(r"[¥$￥€£\s]")
_DECIMAL = Context(prec=60, rounding=ROUND_HALF_UP)


VALUE_SHOWN = 300  # characters of a refused value a row error keeps; RowError.source has the whole cell


def shown_value(value: Any) -> Any:
    """``value`` as a row error keeps it: a text longer than :data:`VALUE_SHOWN` is cut there
    and says how long it was (a 30,000-character cell is not copied into every report)."""
    if isinstance(value, str) and len(value) > VALUE_SHOWN:
        return f"{value[:VALUE_SHOWN]}… ({len(value):,} characters in all)"
    return value


@dataclass(frozen=True)
class RowError:
    """A rejected row: where (row number as Excel shows it), the raw value, and the problem."""

    file: str
    sheet: str
    row: int
    column: str
    value: Any
    message: str
    # The row's cells as read, aligned to the sheet's header, for the rejected-rows workbook
    # (refs/rejects.py); empty until facts/source_rows.py completes it.
    source: tuple[Any, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class Lookups:
    """Warehouse data read before cleansing (empty when the table does not exist)."""

    branch_codes: Mapping[str, str] = field(default_factory=dict)  # 组织架构: 机构 → 机构代码
    plan_company_ids: Mapping[str, str] = field(default_factory=dict)  # 年金计划: 年金计划号 → company_id


@dataclass
class CleansedSheet:
    rows: list[dict[str, Any]]  # keys exactly FACT_COLUMNS, in that order
    errors: list[RowError]
    rows_read: int  # non-blank rows seen
    company_id_missing: int  # valid rows left without company_id (reported, never invented)
    spellings: CodeSpellings  # of the code cells, shared by the sheets of one batch
    pending_company_ids: PendingCompanyIds  # single-plan rows 年金计划 may still give a company_id


class CompanyIdSource(enum.Enum):
    COLUMN = "company_id column"
    PLAN_OVERRIDE = "company_id_by_plan"
    PLAN_TABLE = "年金计划 of the single plan"
    NAME_OVERRIDE = "company_id_by_name"
    DELIBERATELY_NONE = "company_id_by_name: __EMPTY__"  # decided, so not counted as missing
    NO_CUSTOMER = "default for an empty 客户名称"
    MISSING = "missing"


# The sources after 年金计划: a single plan's row from one of these takes its plan's company_id
# once this run's backfill gives the plan one (facts.company_ids).
AFTER_PLAN_TABLE = frozenset({
    CompanyIdSource.NAME_OVERRIDE, CompanyIdSource.DELIBERATELY_NONE, CompanyIdSource.NO_CUSTOMER,
    CompanyIdSource.MISSING,
})  # fmt: skip


class CompanyId(NamedTuple):
    value: str | None
    source: CompanyIdSource


# --- field rules ----------------------------------------------------------------------------


def parse_month(value: Any) -> date:
    """月度 → the first day of its month."""
    reject_special(value, "a month")
    if isinstance(value, date):  # datetime too
        year, month = value.year, value.month
    elif isinstance(value, int | float):
        if not float(value).is_integer():
            raise CellProblem(f"{shown_value(value)!r} is not a month (expected YYYYMM)")
        year, month = divmod(int(value), 100)
    else:
        year, month = _month_text(clean_text(value))
    if not 1900 <= year <= 2100:
        raise CellProblem(f"year {year} is outside 1900–2100")
    if not 1 <= month <= 12:
        raise CellProblem(f"month {month} is outside 1–12")
    return date(year, month, 1)


def _month_text(text: str | None) -> tuple[int, int]:
    if text is None:
        raise CellProblem("月度 is empty")
    compact = "".join(unicodedata.normalize("NFKC", text).split())
    for pattern in _MONTH_FORMATS:
        match = pattern.fullmatch(compact)
        if match:
            year, month = match.groups()
            return int(year) + (2000 if len(year) == 2 else 0), int(month)
    raise CellProblem(
        f"{shown_value(text)!r} is not a month (expected YYYYMM, YYYY年M月, YY年M月, YYYY-M, YYYY/M or YYYY.M)"
    )


def _fitted_text(value: Any, column: str) -> str | None:
    return fit(clean_text(value), column)


def customer_names(value: Any) -> tuple[str | None, str | None]:
    """(客户名称 cleaned, 年金账户名: the name before cleaning) of a 客户名称 cell."""
    raw = fit(clean_text(value), "年金账户名")
    return fit(clean_customer_name(raw), "客户名称"), raw


def company_id(
    *,
    given: Any,
    plan_code: str,
    plan_type: str | None,
    customer_name: str | None,
    mappings: Mappings,
    lookups: Lookups,
) -> CompanyId:
    """company_id from the first source that gives one (§3); ``customer_name`` is the cleaned name."""
    found = company_id_by_plan(given, plan_code=plan_code, plan_type=plan_type, mappings=mappings, lookups=lookups)
    return found or company_id_by_name(customer_name, names=name_index(mappings.company_id_by_name))


def company_id_by_plan(
    given: Any, *, plan_code: str, plan_type: str | None, mappings: Mappings, lookups: Lookups
) -> CompanyId | None:
    """The first three sources: the company_id cell, company_id_by_plan, 年金计划 (single plans)."""
    text = clean_text(given)
    if text:
        return CompanyId(fit(text, "company_id"), CompanyIdSource.COLUMN)
    if plan_code in mappings.company_id_by_plan:
        return CompanyId(fit(mappings.company_id_by_plan[plan_code], "company_id"), CompanyIdSource.PLAN_OVERRIDE)
    if plan_type == SINGLE_PLAN and lookups.plan_company_ids.get(plan_code):
        return CompanyId(fit(lookups.plan_company_ids[plan_code], "company_id"), CompanyIdSource.PLAN_TABLE)
    return None


def company_id_by_name(customer_name: str | None, *, names: Mapping[str, str]) -> CompanyId:
    """The last sources: company_id_by_name (``names``: its :func:`name_index`), then the default
    of rows without 客户名称; otherwise missing."""
    if not customer_name:
        return CompanyId(NO_CUSTOMER_COMPANY_ID, CompanyIdSource.NO_CUSTOMER)
    named = names.get(customer_name)
    if named == COMPANY_ID_NONE:
        return CompanyId(None, CompanyIdSource.DELIBERATELY_NONE)
    if named:
        return CompanyId(fit(named, "company_id"), CompanyIdSource.NAME_OVERRIDE)
    return CompanyId(None, CompanyIdSource.MISSING)


def name_index(company_id_by_name: Mapping[str, str]) -> dict[str, str]:
    """The customer-name overrides keyed by their cleaned name too: names are matched cleaned,
    and the shipped keys are typed with ASCII brackets (``(受托)``, cleaned ``（受托）``)."""
    index = {clean_customer_name(name.strip()) or name: value for name, value in company_id_by_name.items()}
    return index | dict(company_id_by_name)


# --- amounts --------------------------------------------------------------------------------


def parse_amount(value: Any, places: int = AMOUNT_PLACES, digits: int = AMOUNT_DIGITS) -> Decimal | None:
    """An amount: Decimal rounded half-up to ``places`` that fits numeric(``digits``, ``places``).

    A float rounds as its text (``str(31982648287.809898)`` → ``31982648287.8099``), never as its
    binary expansion.
    """
    number = _exact_number(value)
    return None if number is None else _rounded(number, places, digits)


def parse_return_rate(value: Any) -> Decimal | None:
    """当期收益率: ``%`` text ÷ 100; a number above 1 in magnitude is a percentage ÷ 100; −1 … 10."""
    text = clean_text(value) if isinstance(value, str) else None
    percent = text is not None and text[-1] in "%％"
    number = _exact_number(text[:-1] if text is not None and percent else value)
    if number is None:
        if percent:
            raise CellProblem(f"{shown_value(value)!r} is not a number")
        return None
    if percent or abs(number) > 1:
        number = number.scaleb(-2)
    rate = _rounded(number, RATE_PLACES, RATE_DIGITS)
    if not RATE_MIN <= rate <= RATE_MAX:
        raise CellProblem(f"return rate {rate} is outside −1 … 10")
    return rate


def _exact_number(value: Any) -> Decimal | None:
    """The unrounded Decimal of a cell; None when empty."""
    if value is None:
        return None
    reject_special(value, "a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem(f"{value} is not a number")
        return Decimal(str(value))
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise CellProblem(f"a {type(value).__name__} cell is not a number")
    text = _AMOUNT_NOISE.sub("", unicodedata.normalize("NFKC", value))
    if clean_text(text) is None:
        return None
    if "," in text:
        if not _THOUSANDS.fullmatch(text):
            raise CellProblem(f"{shown_value(value)!r}: commas are allowed only as thousands separators")
        text = text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        raise CellProblem(f"{shown_value(value)!r} is not a number")
    return Decimal(text)


def _rounded(number: Decimal, places: int, digits: int) -> Decimal:
    limit = Decimal(10) ** (digits - places)
    if abs(number) < limit:
        number = number.quantize(Decimal(1).scaleb(-places), context=_DECIMAL)
        if abs(number) < limit:
            return number if number else abs(number)  # no negative zero
    raise CellProblem(f"{number:E} does not fit numeric({digits},{places})")


_TIE_MARGIN = 2.0**-51
_EXACT_FLOAT = 2.0**52  # below this, a float holds every integer and half-integer exactly


class _FastFloat(NamedTuple):
    """A float cell of one column rounded without Decimal text, as the parse function would.

    ``value * scale`` lies within ``|value * scale| * 2**-52`` of the exactly scaled ``str(value)``
    (half an ulp from that text to the float, half an ulp in the product), so unless it is that
    close (with a margin of two) to a tie its nearest integer is the half-up rounding of the text.
    Ties, NaN, infinities and values outside ± ``bound`` go to ``parse``.
    """

    column: str
    low: float
    high: float
    scale: float
    unit: Decimal
    zero: Decimal
    parse: Callable[[Any], Decimal | None]

    @classmethod
    def of(cls, column: str, places: int, parse: Callable[[Any], Decimal | None], bound: float = 0) -> _FastFloat:
        bound = bound or _EXACT_FLOAT / 10.0**places
        unit = Decimal(1).scaleb(-places)
        return cls(column, -bound, bound, 10.0**places, unit, unit * 0, parse)


_NUMBER_COLUMNS = (
    *(_FastFloat.of(name, AMOUNT_PLACES, parse_amount) for name in AMOUNT_COLUMNS),
    _FastFloat.of(RATE_COLUMN, RATE_PLACES, parse_return_rate, bound=1.0),  # beyond ±1: a percentage
)


# --- the sheet ------------------------------------------------------------------------------


def check_columns(sheet: SheetData) -> None:
    """Raise InputError naming the file, the sheet, the missing required columns and those present."""
    missing = [" or ".join(header_spellings(name)) for name in REQUIRED_COLUMNS if name not in sheet.header]
    if missing:
        present = ", ".join(name for name in sheet.header if name) or "none"
        raise InputError(
            f"{sheet.path}: sheet {sheet.sheet!r} lacks the required column(s) {'; '.join(missing)} "
            f"(columns present: {present})"
        )


@dataclass(frozen=True)
class ReferenceLimit:
    """A fact column whose value of one row becomes a reference column's value as it is
    (aggregations key / first / most_frequent / max_by), and that column's width."""

    source: str  # fact column
    column: str  # reference column, e.g. "年金计划.主拓代码"
    max_length: int


def cleanse_sheet(
    sheet: SheetData,
    *,
    mappings: Mappings,
    lookups: Lookups,
    progress: Callable[[int], None] | None = None,
    reference_limits: Sequence[ReferenceLimit] = (),
    spellings: CodeSpellings | None = None,
) -> CleansedSheet:
    """Cleanse every non-blank row of ``sheet``, after check_columns. No I/O beyond the sheet's
    own row stream; ``progress(rows read so far)`` is called every PROGRESS_EVERY rows and at the end.

    ``reference_limits`` (given when the run backfills references): a row whose value would not
    fit the reference column derived from it is a row error, not a database error later.

    ``spellings`` collects the spellings of the code cells (give one to share across sheets)."""
    check_columns(sheet)
    spellings = CodeSpellings() if spellings is None else spellings
    cleaner = _SheetCleaner(sheet.header, mappings, lookups, spellings)
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []  # the sheet row of each valid row, for the reference limits below
    errors: list[RowError] = []
    read = 0
    for number, values in sheet.iter_rows():
        read += 1
        try:
            rows.append(cleaner.fact_row(values))
            numbers.append(number)
        except _RowProblem as problem:
            column, value, message = problem.args
            errors.append(
                RowError(str(sheet.path), sheet.sheet, number, column, shown_value(value), message, source=values)
            )
        if progress is not None and not read % PROGRESS_EVERY:
            progress(read)
    if reference_limits and not _within_reference_limits(rows, reference_limits):
        rows, errors = _reference_limit_errors(sheet, rows, numbers, errors, reference_limits)
        cleaner.pending.keep(rows)
    if progress is not None:
        progress(read)
    return CleansedSheet(rows, errors, read, cleaner.company_id_missing, spellings, cleaner.pending)


def _within_reference_limits(rows: list[dict[str, Any]], limits: Sequence[ReferenceLimit]) -> bool:
    return widths_fit(rows, [(limit.source, limit.max_length) for limit in limits])


def widths_fit(rows: Iterable[Mapping[str, Any]], widths: Iterable[tuple[str, int]]) -> bool:
    """Whether no value of ``rows`` is longer than its column's width: one pass in C per column.
    False also when that pass cannot tell (a row without the column, a value without a length):
    the caller's row-by-row check then decides, and names the offender."""
    try:
        return all(max(map(len, filter(None, map(operator.itemgetter(column), rows))), default=0) <= width
                   for column, width in widths)  # fmt: skip
    except (KeyError, TypeError):
        return False


def _reference_limit_errors(
    sheet: SheetData,
    rows: list[dict[str, Any]],
    numbers: list[int],
    errors: list[RowError],
    limits: Sequence[ReferenceLimit],
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """The rows that fit the reference limits, and the errors with one for each row that does
    not, in sheet order (each row has one error at most: the cleansing's or this one)."""
    kept: list[dict[str, Any]] = []
    found: list[RowError] = []
    for number, row in zip(numbers, rows, strict=True):
        try:
            _check_reference_limits(row, limits)
            kept.append(row)
        except _RowProblem as problem:
            column, value, message = problem.args
            found.append(RowError(str(sheet.path), sheet.sheet, number, column, shown_value(value), message))
    return kept, sorted([*errors, *found], key=lambda error: error.row)


class _RowProblem(Exception):
    """args: column, value, message."""


def _check_reference_limits(row: dict[str, Any], limits: Sequence[ReferenceLimit]) -> None:
    for limit in limits:
        value = row.get(limit.source)
        if isinstance(value, str) and len(value) > limit.max_length:
            raise _RowProblem(
                limit.source,
                value,
                f"{limit.source} is {len(value)} characters; {limit.column}, derived from it, "
                f"holds at most {limit.max_length}",
            )


class _Memo(dict[Any, Any]):
    """``memo[key]`` is ``compute(key)``, computed on the first miss and then remembered. A
    CellProblem becomes a _RowProblem naming ``column`` and the cell (``key[0]`` of a tuple key).

    ``True == 1 == 1.0`` and ``False == 0 == 0.0`` share one dict slot but clean differently (a
    TRUE cell is not the number 1), so a cell equal to 0 or 1 is never stored.
    """

    def __init__(self, column: str, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.column, self.compute = column, compute

    def __missing__(self, key: Any) -> Any:
        cell = key[0] if type(key) is tuple else key  # the rest of a tuple key is cleaned text
        try:
            value = self.compute(key)
        except CellProblem as problem:
            raise _RowProblem(self.column, cell, str(problem)) from None
        if not (cell == 0 or cell == 1):
            self[key] = value
        return value


_POSITIONS = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    "机构名称", "机构代码", "集团企业客户号",
)  # fmt: skip


class _SheetCleaner:
    """The rules bound to one sheet's column positions and to the mappings, memoised; tuple keys
    start with the raw cell the rule cleans, followed by the cleaned values it depends on."""

    def __init__(self, header: tuple[str, ...], mappings: Mappings, lookups: Lookups, spellings: CodeSpellings) -> None:
        at = {name: index for index, name in reversed(list(enumerate(header)))}  # the first of a name
        company_column = next((name for name in COMPANY_ID_COLUMNS if name in at), COMPANY_ID_COLUMNS[0])
        self.positions = tuple(at.get(name, -1) for name in (*_POSITIONS, company_column))  # -1: absent
        self.number_values = operator.itemgetter(*(at[number.column] for number in _NUMBER_COLUMNS))
        self.company_id_missing = 0
        self.pending = PendingCompanyIds()
        self.month = _Memo("月度", parse_month)
        (
            self.business_type,
            self.plan_type,
            self.plan_name,
            self.portfolio_type,
            self.portfolio_name,
            self.branch_name,
        ) = (_Memo(name, functools.partial(_fitted_text, column=name)) for name in _PLAIN_TEXT)
        self.customer = _Memo("客户名称", customer_names)
        spelled = spellings.recording
        self.account = _Memo("集团企业客户号", spelled("年金账户号", account_number, lambda cell: cell))
        plan = functools.partial(clean_plan_code, corrections=mappings.plan_code_corrections)
        plan_code = spelled("计划代码", lambda key: plan(key[0], plan_type=key[1]), operator.itemgetter(0))
        self.plan = _Memo("计划代码", plan_code)
        self.portfolio = _Memo("组合代码", spelled("组合代码", clean_portfolio_code, lambda cell: cell))
        defaults = mappings.default_portfolio_code
        self.default_portfolio = _Memo("组合代码", lambda key: default_portfolio_code(key[0], key[1], defaults))
        branch = functools.partial(branch_code, overrides=mappings.branch_overrides, branch_codes=lookups.branch_codes)
        self.branch = _Memo("机构代码", spelled("机构代码", lambda key: branch(key[1], key[0]), operator.itemgetter(0)))
        self.product_line = _Memo("业务类型", functools.partial(product_line_code, mapping=mappings.business_type_code))
        by_plan = functools.partial(company_id_by_plan, mappings=mappings, lookups=lookups)
        self.company_by_plan = _Memo(company_column, lambda key: by_plan(key[0], plan_code=key[1], plan_type=key[2]))
        names = name_index(mappings.company_id_by_name)
        self.company_by_name = _Memo("客户名称", lambda name: company_id_by_name(name, names=names))

    def fact_row(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The fact row of ``values``; raises _RowProblem at the first bad cell, in fact-column order."""
        (month_at, business_at, plan_type_at, plan_at, plan_name_at, portfolio_type_at, portfolio_at,
         portfolio_name_at, customer_at, branch_name_at, branch_at, account_at, company_at,
         ) = self.positions  # fmt: skip
        row = {
            "月度": self.month[values[month_at]],
            "业务类型": (business_type := self.business_type[values[business_at]]),
            "计划类型": (plan_type := self.plan_type[values[plan_type_at]]),
            "计划代码": (plan := self.plan[values[plan_at], plan_type]),
            "计划名称": self.plan_name[values[plan_name_at]],
            "组合类型": self.portfolio_type[values[portfolio_type_at]],
            "组合代码": self.portfolio[values[portfolio_at]] or self.default_portfolio[business_type, plan_type],
            "组合名称": self.portfolio_name[values[portfolio_name_at]],
            "客户名称": (customer := (names := self.customer[values[customer_at]])[0]),
        }
        self._numbers(values, row)
        own_code = values[branch_at] if branch_at >= 0 else None
        row["机构代码"] = self.branch[own_code, (branch_name := self.branch_name[values[branch_name_at]])]
        row["机构名称"] = branch_name
        row["产品线代码"] = self.product_line[business_type]
        row["年金账户号"] = self.account[values[account_at]] if account_at >= 0 else None
        row["年金账户名"] = names[1]
        given = values[company_at] if company_at >= 0 else None
        company = self.company_by_plan[given, plan, plan_type] or self.company_by_name[customer]
        row["company_id"] = company.value
        missing = company.source is CompanyIdSource.MISSING
        self.company_id_missing += missing
        if plan_type == SINGLE_PLAN and company.source in AFTER_PLAN_TABLE:
            self.pending.add(plan, row, missing=missing)
        return row

    def _numbers(self, values: tuple[Any, ...], row: dict[str, Any]) -> None:
        """The amounts and 当期收益率 into ``row`` (_FastFloat inlined: 800,000 cells per 100,000
        rows; tests check it agrees with parse_amount and parse_return_rate)."""
        for (column, low, high, scale, unit, zero, parse), value in zip(
            _NUMBER_COLUMNS, self.number_values(values), strict=True
        ):
            if type(value) is float and low <= value <= high:
                if not value:
                    row[column] = zero
                    continue
                scaled = value * scale
                nearest = round(scaled)
                if abs(scaled - nearest) < 0.5 - abs(scaled) * _TIE_MARGIN - _TIE_MARGIN:
                    row[column] = unit * nearest
                    continue
            try:
                row[column] = parse(value)
            except CellProblem as problem:
                raise _RowProblem(column, value, str(problem)) from None
