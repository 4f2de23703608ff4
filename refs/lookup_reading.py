"""Reading the cleansing's lookups (:class:`facts.lookups.Lookups`) from the warehouse: branch
codes from the optional 组织架构 table and plans' company ids from the plans reference table.

It sits in refs because it reads a reference table through its model; facts only declares the
lookups it consults, so facts never imports refs.
"""

from __future__ import annotations

from facts.codes import normalised_code
from facts.lookups import Lookups
from refs.models import reference_model
from wdh.config import DomainConfig
from wdh.postgres import table_columns, table_pairs


def lookups_read(domain: DomainConfig) -> Lookups:
    """Read the lookups. Reads the database; a missing optional table gives an empty lookup."""
    branches = domain.branches
    branch_codes: dict[str, str] = {}
    if branches is not None:
        columns = table_columns(branches.qualified) or []
        if branches.name_column in columns and branches.code_column in columns:
            branch_codes = table_pairs(branches.qualified, branches.name_column, branches.code_column)
    plan_company_ids: dict[str, str] = {}
    plans = domain.refs.get("plans")
    if plans is not None and "company_id" in (table_columns(plans.qualified_name) or []):
        rows = reference_model(plans)._default_manager.exclude(company_id=None).exclude(company_id="")
        plan_company_ids = {str(key): str(value) for key, value in rows.values_list("pk", "company_id")}
    return Lookups(branch_codes=branch_codes, plan_company_ids=_plan_codes_normalised(plan_company_ids))


def _plan_codes_normalised(company_ids: dict[str, str]) -> dict[str, str]:
    """``company_ids`` also under each key as the cleansing spells a plan code (``Ｓ0001 `` →
    ``S0001``), so a row matches a plan keyed in an older spelling; an exact key wins."""
    normalised = {normalised_code(key).upper(): value for key, value in company_ids.items()}
    return normalised | company_ids
