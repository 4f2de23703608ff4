"""The ``annuity_income`` sheet type: sheet 收入明细 into ``business."收入明细"``."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from domains.annuity_income.cleansing import SHEET_RULES
from domains.annuity_income.models import AnnuityIncome, AnnuityIncomeColumns
from domains.annuity_income.sample import sample_sheet
from facts.domain import Domain
from wdh.config import DEFAULT_REFS, RefTarget

WEIGHT = "固费"  # where 规模明细 weighs by 期末资产规模 (ANNUITY_INCOME.md §4)


def _weighed_by_fee(target: RefTarget) -> RefTarget:
    rules = tuple(dataclasses.replace(rule, weight=WEIGHT) if rule.weight else rule for rule in target.columns)
    return dataclasses.replace(target, columns=rules)


DEFAULT_REFS_BY_FEE = MappingProxyType({name: _weighed_by_fee(target) for name, target in DEFAULT_REFS.items()})

DOMAIN = Domain(
    name="annuity_income",
    sheet=SHEET_RULES,
    columns=AnnuityIncomeColumns,
    model=AnnuityIncome,
    indexes=(("月度",), ("计划代码",), ("company_id",), ("月度", "计划代码", "company_id")),
    row_label=("月度", "计划代码", "组合代码"),
    default_refs=DEFAULT_REFS_BY_FEE,
    sample_sheet=sample_sheet,
)
