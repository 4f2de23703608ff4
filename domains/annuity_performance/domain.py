"""The ``annuity_performance`` sheet type: sheet 规模明细 into ``business."规模明细"``."""

from __future__ import annotations

from domains.annuity_performance.cleansing import SHEET_RULES
from domains.annuity_performance.models import AnnuityPerformance, AnnuityPerformanceColumns
from domains.annuity_performance.sample import sample_sheet
from facts.domain import Domain
from wdh.config import DEFAULT_REFS

DOMAIN = Domain(
    name="annuity_performance",
    sheet=SHEET_RULES,
    columns=AnnuityPerformanceColumns,
    model=AnnuityPerformance,
    indexes=(("月度",), ("计划代码",), ("组合代码",), ("company_id",)),
    row_label=("月度", "计划代码", "组合代码"),
    default_refs=DEFAULT_REFS,
    sample_sheet=sample_sheet,
)
