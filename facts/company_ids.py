"""The company_id a single plan's rows take from 年金计划 — as the table will be after this run.

Rule 3 of company_id (ANNUITY_PERFORMANCE.md §3) reads ``年金计划.company_id`` of the row's plan
when 计划类型 is 单一计划. Read only before the run, it misses the plans this run inserts or
fills, so a run's rows would lack a company_id their rerun gives them: two identical runs, two
different fact tables. So the cleansing marks the single-plan rows whose company_id came from a
later source (or none) in :class:`PendingCompanyIds`; the rows themselves flow on to the staging
table (:mod:`facts.fact_staging`) carrying their plan code, and only counts per plan stay here.
Once the run's backfill plan for 年金计划 is known, :func:`refs.company_ids.planned_company_ids`
says which company_id each plan will then have; :meth:`PendingCompanyIds.complete` takes those
plans (and their counts) as completed, and the staging table gives their rows that company_id
in one UPDATE, exactly as the rerun's lookup would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COMPANY_ID = "company_id"  # the fact column


@dataclass
class PendingCompanyIds:
    """Per plan code, how many rows of single plans wait for 年金计划's company_id, and how many
    of them are counted as without one; the rows themselves are not kept (only the marks of the
    chunk under way, until :meth:`take`)."""

    counts: dict[str, list[int]] = field(default_factory=dict)  # plan → [rows, of them missing]
    completed: dict[str, str] = field(default_factory=dict)  # plan → the company_id its rows take
    _marks: dict[int, tuple[dict[str, Any], str, bool]] = field(default_factory=dict, repr=False)

    def add(self, plan_code: str, row: dict[str, Any], *, missing: bool) -> None:
        """Mark ``row`` of ``plan_code``; ``missing``: the row is counted as without company_id.
        The mark holds the row until :meth:`take` (so no other row can reuse its id meanwhile)."""
        self._marks[id(row)] = (row, plan_code, missing)

    def take(self, kept: Sequence[dict[str, Any]]) -> list[str | None]:
        """The plan code of each row of ``kept`` (None: not pending), in order, counting them;
        forgets every mark, so rows left out after all (too wide for a reference) are not counted."""
        marks, self._marks = self._marks, {}
        if not marks:
            return [None] * len(kept)
        codes: list[str | None] = []
        for row in kept:
            mark = marks.get(id(row))
            if mark is None:
                codes.append(None)
                continue
            _, plan_code, missing = mark
            count = self.counts.setdefault(plan_code, [0, 0])
            count[0] += 1
            count[1] += missing
            codes.append(plan_code)
        return codes

    def merge(self, other: PendingCompanyIds) -> None:
        for plan_code, (rows, missing) in other.counts.items():
            count = self.counts.setdefault(plan_code, [0, 0])
            count[0] += rows
            count[1] += missing

    @property
    def rows(self) -> int:
        """Rows still pending."""
        return sum(rows for rows, _ in self.counts.values())

    def complete(self, company_ids: Mapping[str, str]) -> int:
        """Take every pending plan in ``company_ids`` (with a company_id) as completed: its rows
        take that company_id (:attr:`completed`, applied to the staged rows). Returns how many of
        them were counted as missing a company_id."""
        found = 0
        for plan_code in [plan for plan in self.counts if company_ids.get(plan)]:
            _, missing = self.counts.pop(plan_code)
            self.completed[plan_code] = company_ids[plan_code]
            found += missing
        return found


@dataclass
class PendingRows:
    """The pending rows themselves, for a caller that holds a whole sheet's rows anyway
    (:func:`facts.cleansing.cleanse_sheet`: tests, the benchmark's floors), never a run."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # plan → its pending rows

    def complete(self, company_ids: Mapping[str, str]) -> int:
        """Give the rows of every plan in ``company_ids`` its company_id, and forget them;
        returns how many rows took one."""
        taken = 0
        for plan_code in [plan for plan in self.rows if company_ids.get(plan)]:
            for row in self.rows.pop(plan_code):
                row[COMPANY_ID] = company_ids[plan_code]
                taken += 1
        return taken
