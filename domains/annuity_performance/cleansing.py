"""Cleansing the rows of sheet 规模明细 into fact rows of ``规模明细`` (ANNUITY_PERFORMANCE.md §3).

Pure: reads neither files nor the database. The generic loop, row errors and reference limits are
:mod:`facts.cleansing`; here are this sheet's header renames, required columns and row cleaner.

:data:`REQUIRED_COLUMNS` are the columns loaded as they are or read by a rule that has no
fallback: without one of them a whole month would load NULLs or wrong defaults unnoticed.
Optional: ``机构代码`` (the code comes first from 机构名称, and ``G00`` is the documented
default), ``集团企业客户号`` (年金账户号 stays empty) and ``company_id`` / ``公司代码`` (one of
five sources of company ids).

Speed: every text rule is memoised per distinct input (:class:`~facts.cleansing.Memo`), and
float amounts are rounded by integer arithmetic unless they lie near a rounding tie
(:class:`~facts.amounts.FastFloat`).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

from facts.amounts import AMOUNT_PLACES, RATE_PLACES, TIE_MARGIN, FastFloat, parse_amount, parse_return_rate
from facts.categories import UnmappedBusinessTypes, business_type, plan_type
from facts.cells import CellProblem
from facts.cleansing import (
    CleansedSheet,
    Memo,
    ReferenceLimit,
    RowProblem,
    SheetRules,
    customer_names,
    fitted_text,
    parse_month,
)
from facts.cleansing import check_columns as check_sheet_columns
from facts.cleansing import cleanse_sheet as cleanse_with_rules
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
    COMPANY_ID_COLUMNS,
    SINGLE_PLAN,
    CompanyIdSource,
    company_id_by_name,
    company_id_by_plan,
    name_index,
)
from facts.company_ids import PendingCompanyIds
from facts.excel import SheetData
from facts.lookups import Lookups
from wdh.config import Mappings

HEADER_RENAMES = {"机构": "机构名称", "计划号": "计划代码"}  # ANNUITY_PERFORMANCE.md §3
NO_CUSTOMER_COMPANY_ID = "600866980"  # the company_id of rows without 客户名称 (this sheet's rule only)
AMOUNT_COLUMNS = ("期初资产规模", "期末资产规模", "供款", "流失_含待遇支付", "流失", "待遇支付", "投资收益")
RATE_COLUMN = "当期收益率"
REQUIRED_COLUMNS: tuple[str, ...] = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    *AMOUNT_COLUMNS, RATE_COLUMN, "机构名称",
)  # fmt: skip
NUMBER_COLUMNS = (
    *(FastFloat.of(name, AMOUNT_PLACES, parse_amount) for name in AMOUNT_COLUMNS),
    FastFloat.of(RATE_COLUMN, RATE_PLACES, parse_return_rate, bound=1.0),  # beyond ±1: a percentage
)

_PLAIN_TEXT = ("计划名称", "组合类型", "组合名称", "机构名称")  # loaded as they are
_POSITIONS = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    "机构名称", "机构代码", "集团企业客户号",
)  # fmt: skip


class SheetCleaner:
    """The rules bound to one sheet's column positions and to the mappings, memoised; tuple keys
    start with the raw cell the rule cleans, followed by the cleaned values it depends on."""

    def __init__(self, header: tuple[str, ...], mappings: Mappings, lookups: Lookups, spellings: CodeSpellings) -> None:
        at = {name: index for index, name in reversed(list(enumerate(header)))}  # the first of a name
        company_column = next((name for name in COMPANY_ID_COLUMNS if name in at), COMPANY_ID_COLUMNS[0])
        self.positions = tuple(at.get(name, -1) for name in (*_POSITIONS, company_column))  # -1: absent
        self.number_values = operator.itemgetter(*(at[number.column] for number in NUMBER_COLUMNS))
        # plain tuples: unpacking a tuple subclass (a NamedTuple) takes Python's slow path
        self.number_rules: tuple[tuple[Any, ...], ...] = tuple(tuple(number) for number in NUMBER_COLUMNS)
        self.company_id_missing = 0
        self.pending = PendingCompanyIds()
        self.month = Memo("月度", parse_month)
        (
            self.plan_name,
            self.portfolio_type,
            self.portfolio_name,
            self.branch_name,
        ) = (Memo(name, functools.partial(fitted_text, column=name)) for name in _PLAIN_TEXT)
        self.customer = Memo("客户名称", customer_names)
        spelled = spellings.recording
        self.business_type = Memo("业务类型", spelled("业务类型", business_type, lambda cell: cell))
        known_plan_types = tuple(mappings.default_portfolio_code)
        self.plan_type = Memo(
            "计划类型", spelled("计划类型", functools.partial(plan_type, known=known_plan_types), lambda cell: cell)
        )
        self.unmapped = UnmappedBusinessTypes()
        self.account = Memo("集团企业客户号", spelled("年金账户号", account_number, lambda cell: cell))
        plan = functools.partial(clean_plan_code, corrections=mappings.plan_code_corrections)
        plan_code = spelled("计划代码", lambda key: plan(key[0], plan_type=key[1]), operator.itemgetter(0))
        self.plan = Memo("计划代码", plan_code)
        self.portfolio = Memo("组合代码", spelled("组合代码", clean_portfolio_code, lambda cell: cell))
        defaults = mappings.default_portfolio_code
        self.default_portfolio = Memo("组合代码", lambda key: default_portfolio_code(key[0], key[1], defaults))
        branch = functools.partial(branch_code, overrides=mappings.branch_overrides, branch_codes=lookups.branch_codes)
        self.branch = Memo("机构代码", spelled("机构代码", lambda key: branch(key[1], key[0]), operator.itemgetter(0)))
        self.product_line = Memo("业务类型", functools.partial(product_line_code, mapping=mappings.business_type_code))
        by_plan = functools.partial(company_id_by_plan, mappings=mappings, lookups=lookups)
        self.company_by_plan = Memo(company_column, lambda key: by_plan(key[0], plan_code=key[1], plan_type=key[2]))
        names = name_index(mappings.company_id_by_name)
        self.company_by_name = Memo(
            "客户名称", lambda name: company_id_by_name(name, names=names, no_customer=NO_CUSTOMER_COMPANY_ID)
        )

    def fact_row(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The fact row of ``values``; raises RowProblem at the first bad cell, in fact-column order."""
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
        if (product_line := self.product_line[business_type]) is None:
            self.unmapped.add(business_type)
        row["产品线代码"] = product_line
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

    def warnings(self) -> list[str]:
        """One warning for the rows whose 业务类型 has no 产品线代码 (kept, the code left empty)."""
        return self.unmapped.warnings()

    def _numbers(self, values: tuple[Any, ...], row: dict[str, Any]) -> None:
        """The amounts and 当期收益率 into ``row`` (FastFloat inlined: 800,000 cells per 100,000
        rows; tests check it agrees with parse_amount and parse_return_rate)."""
        for (column, low, high, scale, unit, zero, parse), value in zip(
            self.number_rules, self.number_values(values), strict=True
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
                raise RowProblem(column, value, str(problem)) from None


SHEET_RULES = SheetRules(renames=HEADER_RENAMES, required=REQUIRED_COLUMNS, cleaner=SheetCleaner)


def check_columns(sheet: SheetData) -> None:
    """Raise InputError naming the file, the sheet, the missing required columns and those present."""
    check_sheet_columns(sheet, SHEET_RULES)


def cleanse_sheet(
    sheet: SheetData,
    *,
    mappings: Mappings,
    lookups: Lookups,
    progress: Callable[[int], None] | None = None,
    reference_limits: Sequence[ReferenceLimit] = (),
    spellings: CodeSpellings | None = None,
) -> CleansedSheet:
    """:func:`facts.cleansing.cleanse_sheet` with this sheet's rules."""
    return cleanse_with_rules(
        sheet,
        rules=SHEET_RULES,
        mappings=mappings,
        lookups=lookups,
        progress=progress,
        reference_limits=reference_limits,
        spellings=spellings,
    )
