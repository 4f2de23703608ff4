"""Files the admin hands out: a run's rejected rows as a workbook to correct (refs/rejects.py).

The view is served under the admin's own URL and login (``admin.site.admin_view`` in
``wdh/urls.py``): active staff only, and only those who may view backfill runs.
"""

from __future__ import annotations

import io

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from refs.models import BackfillRun
from refs.rejects import rejects_workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rejects_download(request: HttpRequest, run_id: int) -> HttpResponse:
    """The rejected rows of audit record ``run_id`` as an ``.xlsx`` attachment. Reads the database."""
    if not (request.user.has_perm("refs.view_backfillrun") or request.user.has_perm("refs.change_backfillrun")):
        raise PermissionDenied
    run = get_object_or_404(BackfillRun, pk=run_id)
    buffer = io.BytesIO()
    rejects_workbook(run, buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-rejected-rows.xlsx"'
    return response
