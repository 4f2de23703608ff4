"""Cleansing the rows of sheet 收入明细 into fact rows of ``收入明细`` (ANNUITY_INCOME.md §2).

Pure: reads neither files nor the database. The generic loop, row errors and reference limits are
:mod:`facts.cleansing`; the code rules are those of 规模明细 (:mod:`facts.codes`). What differs:

- the header renames: ``计划号`` → ``计划代码`` and ``机构`` → ``机构代码`` (in this sheet ``机构`` holds
  the branch *code*, the reverse of 规模明细); ``机构名称`` stays;
- only ``月度, 业务类型, 计划类型, 计划代码, 固费`` are required; a missing fee column (浮费, 回补, 税 in
  the files since 2025) is 0, as is a blank fee cell; fee text that is not a number is a row error;
- a single plan's empty 客户名称 (or the placeholder ``0``) is its plan name without a trailing
  ``企业年金计划``; and no company_id default for an empty name (that rule is 规模明细's);
- an 业务类型 the shipped mapping does not know leaves 产品线代码 empty, counted and reported.
"""

from __future__ import annotations

import functools
import operator
from decimal import Decimal
from typing import Any

from facts.amounts import AMOUNT_PLACES, parse_amount
from facts.categories import UnmappedBusinessTypes, business_type, plan_type
from facts.cells import clean_text, fit
from facts.cleansing import Memo, SheetRules, fitted_text, parse_month
from facts.codes import (
    CodeSpellings,
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
from facts.customer_names import clean_customer_name
from facts.lookups import Lookups
from wdh.config import Mappings

HEADER_RENAMES = {"计划号": "计划代码", "机构": "机构代码"}  # ANNUITY_INCOME.md §2
REQUIRED_COLUMNS: tuple[str, ...] = ("月度", "业务类型", "计划类型", "计划代码", "固费")
FEE_COLUMNS = ("固费", "浮费", "回补", "税")
PLAN_NAME_SUFFIX = "企业年金计划"  # a single plan's name is its customer's name and this
CUSTOMER_PLACEHOLDER = "0"  # what some files hold for "no customer name"
_ZERO = Decimal(1).scaleb(-AMOUNT_PLACES) * 0
_CATEGORIES = ("业务类型", "计划类型")  # normalised (facts.categories)
_TEXT = ("计划名称", "组合类型", "组合名称", "机构名称")  # loaded as they are
_CODES = ("计划代码", "组合代码", "客户名称", "机构代码")


def fee(value: Any) -> Decimal:
    """固费 / 浮费 / 回补 / 税: an amount as 规模明细's (numeric(18,4), half-up); blank is 0."""
    amount = parse_amount(value)
    return _ZERO if amount is None else amount


def customer_filled(value: Any, *, plan_type: str | None, plan_name: str | None) -> str | None:
    """客户名称 before cleaning (it becomes 年金账户名): the cell, or for a single plan whose cell is
    blank or ``0`` its plan name without a trailing 企业年金计划 — only when that suffix is there and
    something remains (the plan name itself is never taken for a customer)."""
    text = clean_text(value)
    if plan_type != SINGLE_PLAN or text not in (None, CUSTOMER_PLACEHOLDER):
        return fit(text, "年金账户名")
    stem = plan_name.removesuffix(PLAN_NAME_SUFFIX) if plan_name else ""
    return fit(stem, "年金账户名") if plan_name and stem != plan_name and stem else text


def customer_names(value: Any, *, plan_type: str | None, plan_name: str | None) -> tuple[str | None, str | None]:
    """(客户名称 cleaned, 年金账户名: the name after the fill, before cleaning)."""
    raw = customer_filled(value, plan_type=plan_type, plan_name=plan_name)
    return fit(clean_customer_name(raw), "客户名称"), raw


class SheetCleaner:
    """The rules bound to one 收入明细 sheet's column positions and to the mappings, memoised;
    tuple keys start with the raw cell the rule cleans, followed by the cleaned values it needs."""

    def __init__(self, header: tuple[str, ...], mappings: Mappings, lookups: Lookups, spellings: CodeSpellings) -> None:
        at = {name: index for index, name in reversed(list(enumerate(header)))}  # the first of a name
        company_column = next((name for name in COMPANY_ID_COLUMNS if name in at), COMPANY_ID_COLUMNS[0])
        self.category_at = tuple(at[name] for name in _CATEGORIES)  # required columns
        self.text_at = tuple(at.get(name, -1) for name in _TEXT)  # -1: an absent optional column
        self.code_at = tuple(at.get(name, -1) for name in (*_CODES, company_column))
        self.month_at, self.fees_at = at["月度"], tuple(at.get(name, -1) for name in FEE_COLUMNS)
        self.company_id_missing = 0
        self.unmapped = UnmappedBusinessTypes()
        self.pending = PendingCompanyIds()
        self.month = Memo("月度", parse_month)
        self.texts = tuple(Memo(name, functools.partial(fitted_text, column=name)) for name in _TEXT)
        self.fees = tuple(Memo(name, fee) for name in FEE_COLUMNS)
        spelled = spellings.recording
        self.business_type = Memo("业务类型", spelled("业务类型", business_type, lambda cell: cell))
        known_plan_types = tuple(mappings.default_portfolio_code)
        self.plan_type = Memo(
            "计划类型", spelled("计划类型", functools.partial(plan_type, known=known_plan_types), lambda cell: cell)
        )
        plan = functools.partial(clean_plan_code, corrections=mappings.plan_code_corrections)
        plan_code = spelled("计划代码", lambda key: plan(key[0], plan_type=key[1]), operator.itemgetter(0))
        self.plan = Memo("计划代码", plan_code)
        self.portfolio = Memo("组合代码", spelled("组合代码", clean_portfolio_code, lambda cell: cell))
        defaults = mappings.default_portfolio_code
        self.default_portfolio = Memo("组合代码", lambda key: default_portfolio_code(key[0], key[1], defaults))
        branch = functools.partial(branch_code, overrides=mappings.branch_overrides, branch_codes=lookups.branch_codes)
        self.branch = Memo("机构代码", spelled("机构代码", lambda key: branch(key[1], key[0]), operator.itemgetter(0)))
        self.product_line = Memo("业务类型", functools.partial(product_line_code, mapping=mappings.business_type_code))
        self.customer = Memo("客户名称", lambda key: customer_names(key[0], plan_type=key[1], plan_name=key[2]))
        by_plan = functools.partial(company_id_by_plan, mappings=mappings, lookups=lookups)
        self.company_by_plan = Memo(company_column, lambda key: by_plan(key[0], plan_code=key[1], plan_type=key[2]))
        names = name_index(mappings.company_id_by_name)
        self.company_by_name = Memo("客户名称", lambda name: company_id_by_name(name, names=names, no_customer=None))

    def fact_row(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The fact row of ``values``; raises RowProblem at the first bad cell, in sheet order."""
        cell = functools.partial(_cell, values)
        month = self.month[values[self.month_at]]
        business_at, plan_type_at = self.category_at
        business_type, plan_type = self.business_type[values[business_at]], self.plan_type[values[plan_type_at]]
        plan_name, portfolio_type, portfolio_name, branch_name = (
            memo[cell(position)] for memo, position in zip(self.texts, self.text_at, strict=True)
        )
        plan_at, portfolio_at, customer_at, branch_at, company_at = self.code_at
        plan = self.plan[cell(plan_at), plan_type]
        portfolio = self.portfolio[cell(portfolio_at)] or self.default_portfolio[business_type, plan_type]
        customer, account_name = self.customer[cell(customer_at), plan_type, plan_name]
        fees = [memo[cell(position)] for memo, position in zip(self.fees, self.fees_at, strict=True)]
        row = {
            "月度": month, "计划代码": plan, "company_id": None, "客户名称": customer, "年金账户名": account_name,
            "业务类型": business_type, "计划类型": plan_type, "组合代码": portfolio,
            "产品线代码": self._product_line(business_type), "机构代码": self.branch[cell(branch_at), branch_name],
            "计划名称": plan_name, "组合类型": portfolio_type, "组合名称": portfolio_name, "机构名称": branch_name,
            **dict(zip(FEE_COLUMNS, fees, strict=True)),
        }  # fmt: skip
        company = self.company_by_plan[cell(company_at), plan, plan_type] or self.company_by_name[customer]
        row["company_id"] = company.value
        missing = company.source is CompanyIdSource.MISSING
        self.company_id_missing += missing
        if plan_type == SINGLE_PLAN and company.source in AFTER_PLAN_TABLE:
            self.pending.add(plan, row, missing=missing)
        return row

    def _product_line(self, business_type: str) -> str | None:
        code: str | None = self.product_line[business_type]
        if code is None:
            self.unmapped.add(business_type)
        return code

    def warnings(self) -> list[str]:
        """One warning for the rows whose 业务类型 has no 产品线代码 (kept, the code left empty)."""
        return self.unmapped.warnings()


def _cell(values: tuple[Any, ...], position: int) -> Any:
    return values[position] if position >= 0 else None


SHEET_RULES = SheetRules(renames=HEADER_RENAMES, required=REQUIRED_COLUMNS, cleaner=SheetCleaner)
