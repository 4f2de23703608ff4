"""Cleansing the rows of sheet 规模明细 into fact rows of ``规模明细`` (ANNUITY_PERFORMANCE.md §3).

Pure: reads neither files nor the database. The warehouse data a rule needs (branch codes,
plans' company ids) comes in as :class:`Lookups`, read beforehand by ``facts.lookups``.

Each field rule is a small public function that raises :class:`CellProblem` for a bad value;
:func:`cleanse_sheet` turns that into a :class:`RowError` with file, sheet, Excel row number,
column and raw value. A row with a problem is left out. Only the FIRST problem of a row is
reported, checked in fact-column order (月度, 业务类型, … company_id), so the number of errors is
the number of rejected rows — the "more than half failed" rule compares the two.

Required columns (:data:`REQUIRED_COLUMNS`): every column that is loaded as it is or that a rule
reads and that has no fallback — a file without one of them would load a whole month of NULLs
or wrong defaults without anyone noticing. Optional: ``机构代码`` (the branch code comes first
from 机构名称, then ``G00``), ``集团企业客户号`` (年金账户号 stays empty) and ``company_id`` /
``公司代码`` (company ids have four other sources).

Speed: 100,000 rows take well under a second. Every text rule is memoised per distinct value
(:class:`_Memo`, a dict whose misses compute), and float amounts are rounded with integer
arithmetic, falling back to the exact ``Decimal(str(value))`` route near a rounding tie.
"""

from __future__ import annotations

import enum
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any, NamedTuple, Protocol, overload

from facts.customer_names import clean_customer_name
from facts.excel import CellError
from facts.models import AnnuityPerformance
from wdh.config import Mappings
from wdh.errors import InputError

AMOUNT_COLUMNS = ("期初资产规模", "期末资产规模", "供款", "流失_含待遇支付", "流失", "待遇支付", "投资收益")
RATE_COLUMN = "当期收益率"
REQUIRED_COLUMNS: tuple[str, ...] = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    *AMOUNT_COLUMNS, RATE_COLUMN, "机构名称",
)  # fmt: skip
COMPANY_ID_COLUMNS = ("company_id", "公司代码")  # the first present is used
PLACEHOLDERS = frozenset({"", "-", "N/A", "无", "暂无", "null", "NULL", "None"})
DEFAULT_PLAN_CODE = {"集合计划": "AN001", "单一计划": "AN002"}
OCCUPATIONAL_BUSINESS_TYPES = frozenset({"职年受托", "职年投资"})  # always portfolio QTAN003
OCCUPATIONAL_PORTFOLIO_CODE = "QTAN003"
HEAD_OFFICE_BRANCH_CODE = "G00"
NO_CUSTOMER_COMPANY_ID = "600866980"  # company_id of rows without 客户名称
COMPANY_ID_NONE = "__EMPTY__"  # in company_id_by_name: deliberately no company_id
SINGLE_PLAN = "单一计划"
PROGRESS_EVERY = 5000  # rows between progress callbacks

_FIELDS = {f.column: f for f in AnnuityPerformance._meta.concrete_fields}
MAX_LENGTH: Mapping[str, int] = {name: f.max_length for name, f in _FIELDS.items() if f.max_length}
AMOUNT_PLACES: int = _FIELDS[AMOUNT_COLUMNS[0]].decimal_places  # type: ignore[attr-defined]
AMOUNT_DIGITS: int = _FIELDS[AMOUNT_COLUMNS[0]].max_digits  # type: ignore[attr-defined]
RATE_PLACES: int = _FIELDS[RATE_COLUMN].decimal_places  # type: ignore[attr-defined]
RATE_DIGITS: int = _FIELDS[RATE_COLUMN].max_digits  # type: ignore[attr-defined]
RATE_MIN, RATE_MAX = Decimal(-1), Decimal(10)

_MONTH_FORMATS = (
    re.compile(r"(\d{4})(\d{2})"),  # 202602
    re.compile(r"(\d{4}|\d{2})年(\d{1,2})月"),  # 2024年11月, 24年11月
    re.compile(r"(\d{4})[-/.](\d{1,2})"),  # 2024-11, 2024/11, 2024.11
)
_F_PREFIXED = re.compile(r"F[0-9A-Z]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_AMOUNT_NOISE = re.compile(r"[¥$￥€£\s]")
_DECIMAL = Context(prec=60, rounding=ROUND_HALF_UP)


class CellProblem(ValueError):
    """A cell value a rule cannot accept; the message says why."""


@dataclass(frozen=True)
class RowError:
    """A rejected row: where (as Excel shows it), the raw value, and the problem."""

    file: str
    sheet: str
    row: int
    column: str
    value: Any
    message: str


@dataclass(frozen=True)
class Lookups:
    """Warehouse data read before cleansing (empty mappings when the tables are absent)."""

    branch_codes: Mapping[str, str] = field(default_factory=dict)  # 组织架构: 机构 → 机构代码
    plan_company_ids: Mapping[str, str] = field(default_factory=dict)  # 年金计划: 年金计划号 → company_id


@dataclass
class CleansedSheet:
    rows: list[dict[str, Any]]  # keys exactly FACT_COLUMNS
    errors: list[RowError]
    rows_read: int  # non-blank rows seen
    company_id_missing: int  # valid rows left without company_id (never invented)


class SheetRows(Protocol):
    """What cleansing needs of ``facts.excel.SheetData``."""

    @property
    def path(self) -> Path: ...
    @property
    def sheet(self) -> str: ...
    @property
    def header(self) -> tuple[str, ...]: ...
    def iter_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]: ...


class CompanyIdSource(enum.Enum):
    COLUMN = "company_id column"
    PLAN_OVERRIDE = "company_id_by_plan"
    PLAN_TABLE = "年金计划 of the single plan"
    NAME_OVERRIDE = "company_id_by_name"
    DELIBERATELY_NONE = "company_id_by_name: __EMPTY__"
    NO_CUSTOMER = "default for an empty 客户名称"
    MISSING = "missing"


class CompanyId(NamedTuple):
    value: str | None
    source: CompanyIdSource


# --- cells and text -----------------------------------------------------------------------


def clean_text(value: Any) -> str | None:
    """A cell as text: stripped, placeholders → None, numbers without ``.0``, dates ISO."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if "\x00" in text:
            raise CellProblem("contains a NUL character, which PostgreSQL cannot store")
        return None if text in PLACEHOLDERS else text
    _reject_special(value, "text")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem(f"{value} is not text")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _reject_special(value: Any, expected: str) -> None:
    if isinstance(value, CellError):
        raise CellProblem(f"formula error {value.code}")
    if isinstance(value, bool):
        raise CellProblem(f"a TRUE/FALSE cell is not {expected}")


@overload
def fit(text: str, column: str) -> str: ...
@overload
def fit(text: str | None, column: str) -> str | None: ...
def fit(text: str | None, column: str) -> str | None:
    """``text`` unless it is longer than the fact column ``column`` holds."""
    limit = MAX_LENGTH[column]
    if text is not None and len(text) > limit:
        raise CellProblem(f"{column} would be {len(text)} characters; the column holds at most {limit}")
    return text


# --- field rules ----------------------------------------------------------------------------


def parse_month(value: Any) -> date:
    """月度 → the first day of the month. Raises CellProblem for anything else."""
    _reject_special(value, "a month")
    if isinstance(value, date):  # datetime too
        year, month = value.year, value.month
    elif isinstance(value, int | float):
        if not float(value).is_integer():
            raise CellProblem(f"{value!r} is not a month (expected YYYYMM)")
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
    raise CellProblem(f"{text!r} is not a month (expected YYYYMM, YYYY年M月, YY年M月, YYYY-M, YYYY/M or YYYY.M)")


def clean_plan_code(value: Any, *, plan_type: str | None, corrections: Mapping[str, str]) -> str:
    """计划代码: corrected, upper-case; blank → AN001 (集合计划) / AN002 (单一计划)."""
    text = clean_text(value)
    if text:
        text = corrections.get(text) or corrections.get(text.upper()) or text
        return fit(text.upper(), "计划代码")
    default = DEFAULT_PLAN_CODE.get(plan_type or "")
    if default is None:
        raise CellProblem(f"计划代码 is empty and 计划类型 {plan_type!r} has no default plan code")
    return default


def clean_portfolio_code(
    value: Any, *, business_type: str | None, plan_type: str | None, defaults: Mapping[str, str]
) -> str | None:
    """组合代码 as text, ``F`` + digits/capitals loses the F; blank → default by type."""
    text = clean_text(value)
    if text:
        return fit(text[1:] if _F_PREFIXED.fullmatch(text) else text, "组合代码")
    if business_type in OCCUPATIONAL_BUSINESS_TYPES:
        return OCCUPATIONAL_PORTFOLIO_CODE
    return fit(defaults.get(plan_type or ""), "组合代码")


def branch_code(
    name: str | None, own_code: Any, *, overrides: Mapping[str, str], branch_codes: Mapping[str, str]
) -> str:
    """机构代码: shipped override of 机构名称, then 组织架构, then the sheet's code, else G00."""
    code = (overrides.get(name) or branch_codes.get(name)) if name else None
    return fit(code or clean_text(own_code) or HEAD_OFFICE_BRANCH_CODE, "机构代码")


def product_line_code(business_type: str | None, mapping: Mapping[str, str]) -> str | None:
    """产品线代码 of 业务类型 (None when the type is not mapped)."""
    return fit(mapping.get(business_type), "产品线代码") if business_type else None


def account_number(value: Any) -> str | None:
    """年金账户号: 集团企业客户号 without its leading ``C``."""
    text = clean_text(value)
    return fit(text[1:] if text and text[0] == "C" else text, "年金账户号") or None


def customer_names(value: Any) -> tuple[str | None, str | None]:
    """(客户名称 cleaned, 年金账户名 = the raw name before cleaning)."""
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
    names: Mapping[str, str] | None = None,
) -> CompanyId:
    """company_id from the first source that gives one (§3); ``names`` is a prepared
    :func:`name_index` of ``mappings.company_id_by_name``."""
    names = name_index(mappings.company_id_by_name) if names is None else names
    text = clean_text(given)
    if text:
        result = CompanyId(text, CompanyIdSource.COLUMN)
    elif plan_code in mappings.company_id_by_plan:
        result = CompanyId(mappings.company_id_by_plan[plan_code], CompanyIdSource.PLAN_OVERRIDE)
    elif plan_type == SINGLE_PLAN and lookups.plan_company_ids.get(plan_code):
        result = CompanyId(lookups.plan_company_ids[plan_code], CompanyIdSource.PLAN_TABLE)
    elif customer_name and customer_name in names:
        named = names[customer_name]
        if named == COMPANY_ID_NONE:
            return CompanyId(None, CompanyIdSource.DELIBERATELY_NONE)
        result = CompanyId(named, CompanyIdSource.NAME_OVERRIDE)
    elif not customer_name:
        result = CompanyId(NO_CUSTOMER_COMPANY_ID, CompanyIdSource.NO_CUSTOMER)
    else:
        return CompanyId(None, CompanyIdSource.MISSING)
    fit(result.value, "company_id")
    return result


def name_index(company_id_by_name: Mapping[str, str]) -> dict[str, str]:
    """The customer-name overrides keyed by cleaned name too, as the lookup uses cleaned names."""
    index = dict(company_id_by_name)
    for name, value in company_id_by_name.items():
        index.setdefault(clean_customer_name(name.strip()) or name, value)
    return index


# --- amounts --------------------------------------------------------------------------------


def parse_amount(value: Any, places: int = AMOUNT_PLACES, digits: int = AMOUNT_DIGITS) -> Decimal | None:
    """An amount as Decimal rounded half-up to ``places``, within numeric(``digits``, ``places``).

    Floats round as their shortest text (``str(31982648287.809898)`` → ``31982648287.8099``).
    """
    number = _exact_number(value)
    return None if number is None else _rounded(number, places, digits)


def parse_return_rate(value: Any) -> Decimal | None:
    """当期收益率: ``%`` text ÷ 100; a number above 1 in magnitude is a percentage ÷ 100; −1 … 10."""
    text = clean_text(value) if isinstance(value, str) else None
    percent = text is not None and text[-1] in "%％"
    number = _exact_number(text[:-1] if text is not None and percent else value)
    if number is None:
        return None
    if percent or abs(number) > 1:
        number = number.scaleb(-2)
    rate = _rounded(number, RATE_PLACES, RATE_DIGITS)
    if not RATE_MIN <= rate <= RATE_MAX:
        raise CellProblem(f"return rate {rate} is outside −1 … 10")
    return rate


def _exact_number(value: Any) -> Decimal | None:
    """The unrounded Decimal of a cell, None when empty."""
    _reject_special(value, "a number")
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
            raise CellProblem(f"{value!r}: commas are allowed only as thousands separators")
        text = text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        raise CellProblem(f"{value!r} is not a number")
    return Decimal(text)


def _rounded(number: Decimal, places: int, digits: int) -> Decimal:
    limit = Decimal(10) ** (digits - places)
    if abs(number) < limit:
        number = number.quantize(Decimal(1).scaleb(-places), context=_DECIMAL)
        if abs(number) < limit:
            return abs(number) if not number else number  # no negative zero
    raise CellProblem(f"{number:E} does not fit numeric({digits},{places})")


class _FastFloat(NamedTuple):
    """The float route of parse_amount / parse_return_rate for one column, without Decimal text.

    ``value * scale`` lies within ``|value * scale| * 2**-52`` of the exactly scaled shortest
    text (half an ulp from that text to the float, half an ulp in the multiplication), so away
    from a tie its nearest integer is the half-up rounding; near a tie (twice the bound), for
    NaN, infinities and values beyond ``low`` … ``high`` the exact route decides.
    """

    column: str
    low: float
    high: float
    scale: float
    unit: Decimal
    parse: Callable[[Any], Decimal | None]

    @classmethod
    def of(
        cls, column: str, places: int, low: float, high: float, parse: Callable[[Any], Decimal | None]
    ) -> _FastFloat:
        return cls(column, low, high, 10.0**places, Decimal(1).scaleb(-places), parse)


_TIE_MARGIN = 2.0**-51
_EXACT_FLOAT = 2.0**52  # below this a float holds every integer and half-integer exactly
_NUMBER_COLUMNS = (
    *(
        _FastFloat.of(name, AMOUNT_PLACES, -_EXACT_FLOAT / 1e4, _EXACT_FLOAT / 1e4, parse_amount)
        for name in AMOUNT_COLUMNS
    ),
    _FastFloat.of(RATE_COLUMN, RATE_PLACES, -1.0, 1.0, parse_return_rate),  # beyond ±1: a percentage
)


# --- the sheet ------------------------------------------------------------------------------


def check_columns(sheet: SheetRows) -> None:
    """Raise InputError naming the file, the sheet, the missing required columns and those present."""
    missing = [name for name in REQUIRED_COLUMNS if name not in sheet.header]
    if missing:
        present = ", ".join(name for name in sheet.header if name) or "none"
        raise InputError(
            f"{sheet.path}: sheet {sheet.sheet!r} lacks the required column(s) {', '.join(missing)} "
            f"(columns present: {present})"
        )


def cleanse_sheet(
    sheet: SheetRows,
    *,
    mappings: Mappings,
    lookups: Lookups,
    progress: Callable[[int], None] | None = None,
) -> CleansedSheet:
    """Cleanse every non-blank row of ``sheet`` (checks the columns first). Pure: no I/O but
    the sheet's own row stream. ``progress(rows_read)`` is called every few thousand rows."""
    check_columns(sheet)
    cleaner = _SheetCleaner(sheet.header, mappings, lookups)
    result = CleansedSheet(rows=[], errors=[], rows_read=0, company_id_missing=0)
    valid, fact_row = result.rows.append, cleaner.fact_row  # bound once: the loop runs per row
    for number, values in sheet.iter_rows():
        result.rows_read += 1
        try:
            valid(fact_row(values))
        except _RowProblem as problem:
            result.errors.append(
                RowError(str(sheet.path), sheet.sheet, number, problem.column, problem.value, problem.message)
            )
        if progress is not None and not result.rows_read % PROGRESS_EVERY:
            progress(result.rows_read)
    result.company_id_missing = cleaner.company_id_missing
    if progress is not None:
        progress(result.rows_read)
    return result


class _RowProblem(Exception):
    def __init__(self, column: str, value: Any, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column, self.value, self.message = column, value, message


class _Memo(dict[Any, Any]):
    """``memo[key]`` is ``compute(key)``, computed on the first miss and then remembered; a
    CellProblem becomes a _RowProblem naming ``column`` and the cell value (``key[0]`` of a tuple).

    ``True == 1 == 1.0`` and ``False == 0 == 0.0`` share a dict slot but clean differently (a
    TRUE cell is not the number 1), so keys equal to 0 or 1 are computed every time.
    """

    def __init__(self, column: str, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.column, self.compute = column, compute

    def __missing__(self, key: Any) -> Any:
        try:
            value = self.compute(key)
        except CellProblem as problem:
            raise _RowProblem(self.column, key[0] if type(key) is tuple else key, str(problem)) from None
        if not (key == 0 or key == 1):
            self[key] = value
        return value


_POSITIONS = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    "机构名称", "机构代码", "集团企业客户号",
)  # fmt: skip


def _text_memo(column: str) -> _Memo:
    return _Memo(column, lambda value: fit(clean_text(value), column))


class _SheetCleaner:
    """The rules bound to one sheet's column positions, each memoised per distinct input."""

    def __init__(self, header: tuple[str, ...], mappings: Mappings, lookups: Lookups) -> None:
        at = {name: index for index, name in reversed(list(enumerate(header)))}  # first wins
        company_column = next((name for name in COMPANY_ID_COLUMNS if name in at), "company_id")
        self.positions = tuple(at.get(name, -1) for name in (*_POSITIONS, company_column))  # -1: absent
        self.number_values = operator.itemgetter(*(at[number.column] for number in _NUMBER_COLUMNS))
        self.company_id_missing = 0
        self.month = _Memo("月度", parse_month)
        self.business_type, self.plan_type, self.plan_name, self.portfolio_type, self.portfolio_name = (
            _text_memo(name) for name in ("业务类型", "计划类型", "计划名称", "组合类型", "组合名称")
        )
        self.branch_name = _text_memo("机构名称")
        self.plan_text, self.portfolio_text, self.branch_text, self.company_text = (
            _Memo(name, clean_text) for name in ("计划代码", "组合代码", "机构代码", company_column)
        )
        self.customer = _Memo("客户名称", customer_names)
        self.account = _Memo("集团企业客户号", account_number)
        self._bind_rules(mappings, lookups, company_column)

    def _bind_rules(self, mappings: Mappings, lookups: Lookups, company_column: str) -> None:
        corrections, defaults = mappings.plan_code_corrections, mappings.default_portfolio_code
        overrides, branches, names = (
            mappings.branch_overrides,
            lookups.branch_codes,
            name_index(mappings.company_id_by_name),
        )
        self.plan = _Memo("计划代码", lambda key: clean_plan_code(key[0], plan_type=key[1], corrections=corrections))
        self.portfolio = _Memo(
            "组合代码",
            lambda key: clean_portfolio_code(key[0], business_type=key[1], plan_type=key[2], defaults=defaults),
        )
        self.branch = _Memo(
            "机构代码", lambda key: branch_code(key[1], key[0], overrides=overrides, branch_codes=branches)
        )
        self.product_line = _Memo("业务类型", lambda value: product_line_code(value, mappings.business_type_code))
        self.company = _Memo(
            company_column,
            lambda key: company_id(
                given=key[0], plan_code=key[1], plan_type=key[2], customer_name=key[3],
                mappings=mappings, lookups=lookups, names=names,
            ),
        )  # fmt: skip

    def fact_row(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The fact row of ``values`` (keys in FACT_COLUMNS order); raises _RowProblem for the
        first bad cell, in that order."""
        (month_at, business_at, plan_type_at, plan_at, plan_name_at, portfolio_type_at, portfolio_at,
         portfolio_name_at, customer_at, branch_name_at, branch_at, account_at, company_at) = self.positions  # fmt: skip
        row = {
            "月度": self.month[values[month_at]],
            "业务类型": (business_type := self.business_type[values[business_at]]),
            "计划类型": (plan_type := self.plan_type[values[plan_type_at]]),
            "计划代码": (plan := self.plan[self.plan_text[values[plan_at]], plan_type]),
            "计划名称": self.plan_name[values[plan_name_at]],
            "组合类型": self.portfolio_type[values[portfolio_type_at]],
            "组合代码": self.portfolio[self.portfolio_text[values[portfolio_at]], business_type, plan_type],
            "组合名称": self.portfolio_name[values[portfolio_name_at]],
            "客户名称": (customer := (names := self.customer[values[customer_at]])[0]),
        }
        self._numbers(values, row)
        own_branch = self.branch_text[values[branch_at]] if branch_at >= 0 else None
        row["机构代码"] = self.branch[own_branch, (branch_name := self.branch_name[values[branch_name_at]])]
        row["机构名称"] = branch_name
        row["产品线代码"] = self.product_line[business_type]
        row["年金账户号"] = self.account[values[account_at]] if account_at >= 0 else None
        row["年金账户名"] = names[1]
        given = self.company_text[values[company_at]] if company_at >= 0 else None
        company = self.company[given, plan, plan_type, customer]
        row["company_id"] = company.value
        self.company_id_missing += company.source is CompanyIdSource.MISSING
        return row

    def _numbers(self, values: tuple[Any, ...], row: dict[str, Any]) -> None:
        """The amounts and 当期收益率 into ``row``, via _FastFloat when it can (900,000 cells per
        100,000 rows); tests check it gives what parse_amount / parse_return_rate give."""
        for (column, low, high, scale, unit, parse), value in zip(_NUMBER_COLUMNS, self.number_values(values)):
            if type(value) is float and low <= value <= high:
                scaled = value * scale
                nearest = round(scaled)
                if abs(scaled - nearest) < 0.5 - abs(scaled) * _TIE_MARGIN - _TIE_MARGIN:
                    row[column] = unit * nearest
                    continue
            try:
                row[column] = parse(value)
            except CellProblem as problem:
                raise _RowProblem(column, value, str(problem)) from None
