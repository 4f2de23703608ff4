"""Where a fact row's company_id comes from (ANNUITY_PERFORMANCE.md §3): the first of five
sources that gives one — the row's own column, ``company_id_by_plan``, 年金计划 for a single plan,
``company_id_by_name``, and the default of rows without 客户名称 (a sheet type's own rule: 规模明细
has one, 收入明细 none) — or none, never invented.

Pure: 年金计划's company ids come in as :class:`~facts.lookups.Lookups`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, NamedTuple

from facts.cells import clean_text, fit
from facts.customer_names import clean_customer_name
from facts.lookups import Lookups
from wdh.config import Mappings

COMPANY_ID_COLUMNS = ("company_id", "公司代码")  # a sheet's own company_id column: the first present is read
COMPANY_ID_NONE = "__EMPTY__"  # company_id_by_name value: deliberately no company_id
SINGLE_PLAN = "单一计划"


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


def company_id(
    *,
    given: Any,
    plan_code: str,
    plan_type: str | None,
    customer_name: str | None,
    mappings: Mappings,
    lookups: Lookups,
    no_customer: str | None,
) -> CompanyId:
    """company_id from the first source that gives one (§3); ``customer_name`` is the cleaned name."""
    found = company_id_by_plan(given, plan_code=plan_code, plan_type=plan_type, mappings=mappings, lookups=lookups)
    names = name_index(mappings.company_id_by_name)
    return found or company_id_by_name(customer_name, names=names, no_customer=no_customer)


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


def company_id_by_name(customer_name: str | None, *, names: Mapping[str, str], no_customer: str | None) -> CompanyId:
    """The last sources: company_id_by_name (``names``: its :func:`name_index`), then
    ``no_customer`` for rows without 客户名称 (None: the sheet type has no such default);
    otherwise missing."""
    if not customer_name:
        if no_customer is None:
            return CompanyId(None, CompanyIdSource.MISSING)
        return CompanyId(no_customer, CompanyIdSource.NO_CUSTOMER)
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
