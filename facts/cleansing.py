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
they lie near a rounding tie (:class:`FastFloat`).
"""

from __future__ import annotations

import functools
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from facts.amounts import (
    AMOUNT_COLUMNS,
    NUMBER_COLUMNS,
    RATE_COLUMN,
    TIE_MARGIN,
)
from facts.cells import MAX_LENGTH as MAX_LENGTH  # re-exported: these lived here before facts.cells
from facts.cells import PLACEHOLDERS as PLACEHOLDERS
from facts.cells import CellProblem as CellProblem
from facts.cells import clean_text as clean_text
from facts.cells import fit as fit
from facts.cells import reject_special, shown_value
from facts.codes import (
    CodeSpellings,
    account_number,
    branch_code,
    clean_plan_code,
    clean_portfolio_code,
    default_portfolio_code,
    product_line_code,
)
from facts.company_id_sources import (
    AFTER_PLAN_TABLE,
    SINGLE_PLAN,
    CompanyIdSource,
    company_id_by_name,
    company_id_by_plan,
    name_index,
)
from facts.company_ids import PendingCompanyIds
from facts.customer_names import clean_customer_name
from facts.excel import SheetData
from facts.lookups import Lookups
from facts.sheet_header import header_spellings
from wdh.config import Mappings
from wdh.errors import InputError

REQUIRED_COLUMNS: tuple[str, ...] = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    *AMOUNT_COLUMNS, RATE_COLUMN, "机构名称",
)  # fmt: skip
COMPANY_ID_COLUMNS = ("company_id", "公司代码")  # the first present is read
PROGRESS_EVERY = 5000  # rows between progress callbacks

_PLAIN_TEXT = ("业务类型", "计划类型", "计划名称", "组合类型", "组合名称", "机构名称")  # loaded as they are
_MONTH_FORMATS = (
    re.compile(r"(\d{4})(\d{2})"),  # 202602
    re.compile(r"(\d{4}|\d{2})年(\d{1,2})月"),  # 2024年11月, 24年11月
    re.compile(r"(\d{4})[-/.](\d{1,2})"),  # 2024-11, 2024/11, 2024.11
)


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


@dataclass
class CleansedSheet:
    rows: list[dict[str, Any]]  # keys exactly FACT_COLUMNS, in that order
    errors: list[RowError]
    rows_read: int  # non-blank rows seen
    company_id_missing: int  # valid rows left without company_id (reported, never invented)
    spellings: CodeSpellings  # of the code cells, shared by the sheets of one batch
    pending_company_ids: PendingCompanyIds  # single-plan rows 年金计划 may still give a company_id


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
        self.number_values = operator.itemgetter(*(at[number.column] for number in NUMBER_COLUMNS))
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
        """The amounts and 当期收益率 into ``row`` (FastFloat inlined: 800,000 cells per 100,000
        rows; tests check it agrees with parse_amount and parse_return_rate)."""
        for (column, low, high, scale, unit, zero, parse), value in zip(
            NUMBER_COLUMNS, self.number_values(values), strict=True
        ):
            if type(value) is float and low <= value <= high:
                if not value:
                    row[column] = zero
                    continue
                scaled = value * scale
                nearest = round(scaled)
                if abs(scaled - nearest) < 0.5 - abs(scaled) * TIE_MARGIN - TIE_MARGIN:
                    row[column] = unit * nearest
                    continue
            try:
                row[column] = parse(value)
            except CellProblem as problem:
                raise _RowProblem(column, value, str(problem)) from None
