"""The company_id each plan will have once a backfill plan of 年金计划 is applied (issue 9, item 8).

Read by the job to complete the single-plan fact rows of the same run
(:class:`facts.company_ids.PendingCompanyIds`). Pure: reads the plan, not the database.
"""

from __future__ import annotations

from refs.backfill import BackfillPlan

COMPANY_ID = "company_id"  # the fact column the plans' company_id is derived from
PLAN_CODE = "计划代码"  # the fact column the plans are keyed by


def planned_company_ids(plan: BackfillPlan) -> dict[str, str]:
    """Plan code → the company_id that ``plan`` writes (inserted, or filled into NULL) for it; empty
    when ``plan``'s target is not keyed by 计划代码 or takes no column from the fact company_id."""
    target = plan.target
    column = next((rule.column for rule in target.columns if rule.source == COMPANY_ID), None)
    if column is None or target.key_rule.source != PLAN_CODE:
        return {}
    key = target.key_rule.column
    found = {str(row[key]): str(row[column]) for row in plan.inserts if row.get(column)}
    return found | {code: value for code, filled, value in plan.fills if filled == column and value}
