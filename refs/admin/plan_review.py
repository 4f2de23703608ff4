"""Approve or reject a saved plan in the admin: the one change the admin makes to an audit record.

A POST to ``<run>/review/`` (CSRF-protected by the admin site) with ``decision`` = ``approve`` or
``reject`` and an optional ``comment``, by a user with ``refs.approve_run``; anyone else gets
403 and sees no buttons. The decision is a record (refs.plan_lifecycle.plan_review: one UPDATE of
wdh's ``RunPlan`` row): the web process never writes the warehouse, cron applies
(``run_job --apply-approved``).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import reverse

from refs.plan_lifecycle import ReviewRefused, plan_review

REVIEW_PERMISSION = "refs.approve_run"
DECISIONS = {"approve": True, "reject": False}


def may_review(request: HttpRequest) -> bool:
    """Whether the user may approve and reject: the permission, and seeing the runs at all."""
    return bool(request.user.has_perms([REVIEW_PERMISSION, "refs.view_backfillrun"]))


def review_post(request: HttpRequest, object_id: str) -> HttpResponse:
    """Record the decision on the plan of run ``object_id``, then show its page with a message
    saying what was recorded or why nothing was (a plan no longer ``planned``)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not may_review(request):
        raise PermissionDenied(f"approving or rejecting a plan needs the permission {REVIEW_PERMISSION}")
    if not object_id.isdigit():
        raise Http404(f"There is no backfill run {object_id!r}.")
    decision = request.POST.get("decision", "")
    if decision not in DECISIONS:
        return HttpResponseBadRequest("decision must be approve or reject")
    comment = request.POST.get("comment", "").strip()
    try:
        plan_review(int(object_id), approve=DECISIONS[decision], user=request.user.get_username(), comment=comment)
    except ReviewRefused as exc:
        messages.error(request, f"Nothing was recorded: {exc}.")
    else:
        verb = "rejected"
        if DECISIONS[decision]:
            verb = "approved: the next run_job --apply-approved applies it, or refuses it if anything changed since"
        messages.success(request, f"The plan of run {object_id} is {verb}.")
    return redirect(reverse("admin:refs_backfillrun_change", args=[object_id]))
