"""The refs app's models, one module per concept: the reference tables (unmanaged, production
layout: :mod:`refs.models.reference_tables`) and the backfill audit records (managed:
:mod:`refs.models.run_records`). Django loads an app's models from this module, so it names them all.
"""

from refs.models.reference_tables import (
    AnnuityPlan,
    AnnuityPlanColumns,
    Portfolio,
    PortfolioColumns,
    reference_model,
    target_models,
)
from refs.models.run_records import (
    ArchiveKind,
    BackfillRun,
    FactArchive,
    PlanState,
    RunCell,
    RunContext,
    RunFile,
    RunKey,
    RunMode,
    RunPlan,
    RunRowError,
    RunStatus,
    RunTarget,
)

__all__ = [
    "AnnuityPlan",
    "AnnuityPlanColumns",
    "ArchiveKind",
    "BackfillRun",
    "FactArchive",
    "PlanState",
    "Portfolio",
    "PortfolioColumns",
    "RunCell",
    "RunContext",
    "RunFile",
    "RunKey",
    "RunMode",
    "RunPlan",
    "RunRowError",
    "RunStatus",
    "RunTarget",
    "reference_model",
    "target_models",
]
