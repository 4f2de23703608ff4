"""The admin: backfill runs for reviewers, reference tables for the data team.

- Audit records are evidence: nobody adds, changes or deletes them through the admin,
  superusers included (pghistory's read-only event admin is the model). A run's detail page is
  a readable layout (``admin/refs/backfillrun/detail.html``) whose keys and cells are paginated:
  one run can list tens of thousands.
- Reference rows (年金计划, 组合计划 and every other table declared under ``refs`` in the
  configuration) are browsable and searchable; staff with the model
  permission may add or edit rows by hand, and Django's admin log records each change. Rows are
  never deleted here: fact rows point at them, and the warehouse's owners delete by SQL.

Only active staff reach any of it (``AdminSite.has_permission``). Reads only, except the
reference edits Django's change form saves. Importing this package registers the model admins:
``run_admin`` (the audit records) and ``reference_admin`` (the reference tables).
"""

from __future__ import annotations

from django.contrib import admin

from refs.admin.reference_admin import AnnuityPlanAdmin, PortfolioAdmin
from refs.admin.run_admin import BackfillRunAdmin
from refs.admin.run_display import duration_text, status_badge

admin.site.site_header = "wdh · reference backfill"
admin.site.site_title = "wdh admin"
admin.site.index_title = "Reference tables and backfill runs"

__all__ = ["AnnuityPlanAdmin", "BackfillRunAdmin", "PortfolioAdmin", "duration_text", "status_badge"]
