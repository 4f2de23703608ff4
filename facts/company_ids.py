"""The company_id a single plan's rows take from 年金计划 — as the table will be after this run.

Rule 3 of company_id (ANNUITY_PERFORMANCE.md §3) reads ``年金计划.company_id`` of the row's plan
when 计划类型 is 单一计划. Read only before the run, it misses the plans this run inserts or
fills, so a run's rows would lack a company_id their rerun gives them: two identical runs, two
different fact tables. So the cleansing keeps the single-plan rows whose company_id came from a
later source (or none) as :class:`PendingCompanyIds`; once the run's backfill plan for 年金计划
is known, :func:`refs.company_ids.planned_company_ids` says which company_id each plan will then have, and
:meth:`PendingCompanyIds.complete` gives it to those rows, exactly as the rerun's lookup would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

COMPANY_ID = "company_id"  # the fact column


@dataclass
class PendingCompanyIds:
    """Fact rows of single plans that 年金计划 gives a company_id once their plan has one."""

    rows: dict[str, list[tuple[dict[str, Any], bool]]] = field(default_factory=dict)  # plan → (row, missing)

    def add(self, plan_code: str, row: dict[str, Any], *, missing: bool) -> None:
        """Remember ``row`` of ``plan_code``; ``missing``: the row is counted as without company_id."""
        self.rows.setdefault(plan_code, []).append((row, missing))

    def merge(self, other: PendingCompanyIds) -> None:
        for plan_code, rows in other.rows.items():
            self.rows.setdefault(plan_code, []).extend(rows)

    def keep(self, kept: Iterable[dict[str, Any]]) -> None:
        """Forget the rows not in ``kept`` (rows left out after all, e.g. too wide for a reference)."""
        ids = set(map(id, kept))
        self.rows = {plan: [entry for entry in rows if id(entry[0]) in ids] for plan, rows in self.rows.items()}

    def complete(self, company_ids: Mapping[str, str]) -> int:
        """Set the company_id of the rows of every plan in ``company_ids``, and forget them; returns
        how many of them were counted as missing a company_id."""
        found = 0
        for plan_code in [plan for plan in self.rows if company_ids.get(plan)]:
            for row, missing in self.rows.pop(plan_code):
                row[COMPANY_ID] = company_ids[plan_code]
                found += missing
        return found
