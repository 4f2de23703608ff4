"""Approval and cron apply (issue 12 items 3 and 5): a reviewer approves or rejects a saved plan
in the admin — a record, nothing else —, a newer plan for the same domain and month supersedes
the older ones, and ``run_job --apply-approved`` applies every approved plan, oldest first,
recording each one applied or refused."""

from __future__ import annotations

import json
import re
import threading
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from domains.annuity_performance.models import AnnuityPerformance
from refs.models import AnnuityPlan, BackfillRun, PlanState, Portfolio, RunMode, RunPlan, RunStatus, target_models
from refs.plan_lifecycle import PlanClosedError, plan_settle
from refs.saved_plans import plan_decode, plan_save
from tests.processes import session, wait_until, waits_on_lock
from tests.test_backfill import ROWS, run, run_failing
from tests.test_saved_plans import FILE_NAME, run_failing_plain, tables
from tests.workbooks import write_workbook
from wdh.postgres import BACKFILL_LOCK_KEY

MARCH = FILE_NAME.replace("26年2月", "26年3月")
RUNS_URL = reverse("admin:refs_backfillrun_changelist")


def review_url(run_id: int) -> str:
    return reverse("admin:refs_backfillrun_review", args=[run_id])


def page_url(run_id: int) -> str:
    return reverse("admin:refs_backfillrun_change", args=[run_id])


def plan_of(run_id: int) -> RunPlan:
    return RunPlan.objects.get(run_id=run_id)


def review(client: Client, run_id: int, decision: str = "approve", comment: str = "") -> str:
    """POST a decision and return the page it leads to (with its message)."""
    response = client.post(review_url(run_id), {"decision": decision, "comment": comment}, follow=True)
    assert response.status_code == 200
    return str(response.content.decode())


def apply_approved(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("run_job", "--apply-approved", "--format", "json", *args, stdout=out, stderr=StringIO())
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def backfill_plan(path: Path, *flags: str) -> int:
    return int(run("backfill_refs", "--file", str(path), *flags)["audit_id"])


def reviewer(*, may_approve: bool) -> Client:
    user = User.objects.create_user("approver" if may_approve else "viewer", password="pw-123", is_staff=True)
    codenames = ["view_backfillrun", "approve_run"] if may_approve else ["view_backfillrun"]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="refs", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_approve_then_apply_approved_writes_exactly_the_planned_rows(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    run("run_job", "--file", str(path), "--backfill-refs", "all", "--execute")
    by_execute = tables()
    models = target_models()
    with connection.cursor() as cursor:  # the same starting state again: empty tables
        tables_named = [*(model._meta.db_table for model in models.values()), AnnuityPerformance._meta.db_table]
        cursor.execute(f"TRUNCATE {', '.join(tables_named)}")
    planned = int(run("run_job", "--file", str(path), "--backfill-refs", "all")["audit_id"])
    assert plan_of(planned).state == PlanState.PLANNED and plan_of(planned).months == ["2026-02"]

    assert "is approved" in review(admin_client, planned, comment="checked against the monthly report")
    assert tables()[AnnuityPlan._meta.db_table] == []  # approving wrote nothing to the warehouse
    document = apply_approved()

    assert document["exit_code"] == 0 and [o["plan"] for o in document["apply_approved"]] == [planned]
    applying = BackfillRun.objects.get(pk=document["apply_approved"][0]["audit_id"])
    assert applying.status == RunStatus.SUCCEEDED and applying.applies_id == planned
    assert tables() == by_execute
    saved = plan_decode(bytes(plan_of(planned).data))
    assert {t.target: set(t.insert_keys()) for t in saved.targets} == {
        name: set(model._default_manager.values_list("pk", flat=True)) for name, model in models.items()
    }
    plan = plan_of(planned)
    assert (plan.state, plan.outcome_run_id, plan.reviewed_by) == (PlanState.APPLIED, applying.pk, "admin")
    assert plan.review_comment == "checked against the monthly report" and plan.reviewed_at is not None
    out = StringIO()
    call_command("show_run", str(planned), stdout=out)
    assert f"  plan: already applied by run {applying.pk} — checked against the monthly report" in out.getvalue()
    assert apply_approved() == {"apply_approved": [], "exit_code": 0}  # applied once: nothing left to do
    newer = int(run("run_job", "--file", str(path), "--backfill-refs", "all")["audit_id"])
    assert plan_of(planned).state == PlanState.APPLIED and plan_of(newer).state == PlanState.PLANNED  # final


def test_a_refused_plan_is_recorded_and_the_next_one_is_still_applied(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    february = write_workbook(tmp_path / FILE_NAME, ROWS)
    march = write_workbook(tmp_path / MARCH, [{"计划代码": "P0300", "计划名称": "三月计划", "组合代码": "9300"}])
    first, second = backfill_plan(february), backfill_plan(march)
    review(admin_client, first)
    review(admin_client, second)
    write_workbook(february, ROWS[:1])  # the February workbook changed after its plan was approved

    error, document = run_failing("run_job", "--apply-approved")
    assert error.returncode == 2 and f"refused plan(s) {first} (run" in str(error)
    refused, applied = document["apply_approved"]
    assert (refused["plan"], refused["status"], refused["exit_code"]) == (first, "failed", 2)
    assert (applied["plan"], applied["status"], applied["exit_code"]) == (second, "succeeded", 0)
    assert sorted(AnnuityPlan.objects.values_list("pk", flat=True)) == ["P0300"]  # nothing of the refused plan
    plan = plan_of(first)
    assert (plan.state, plan.outcome_run_id) == (PlanState.REFUSED, refused["audit_id"])
    assert "SHA-256" in plan.refusal and "nothing was written" in plan.refusal
    assert plan_of(second).state == PlanState.APPLIED
    assert apply_approved()["apply_approved"] == []  # a refused plan is never retried


def test_the_text_of_apply_approved_says_what_it_applied_and_refused(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    out = StringIO()
    call_command("run_job", "--apply-approved", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "apply-approved: no approved plan to apply"
    planned = backfill_plan(write_workbook(tmp_path / FILE_NAME, ROWS))
    review(admin_client, planned)
    out = StringIO()
    call_command("run_job", "--apply-approved", stdout=out, stderr=StringIO())
    applying = BackfillRun.objects.get(applies_id=planned)
    assert f"backfill_refs annuity_performance (execute, applying the plan of run {planned})" in out.getvalue()
    assert out.getvalue().splitlines()[-2:] == [
        "apply-approved: 1 approved plan(s)",
        f"  plan {planned}: applied by run {applying.pk}",
    ]


def test_a_locked_warehouse_stops_apply_approved_and_leaves_the_plans_approved(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    # plans and portfolios only: both months' rows have the same branch and product line, which
    # the first apply inserts, so the second plan (planned when they were absent) would be refused
    targets = ("--targets", "plans,portfolios")
    first = backfill_plan(write_workbook(tmp_path / FILE_NAME, ROWS), *targets)
    second = backfill_plan(write_workbook(tmp_path / MARCH, [{"计划代码": "P0300"}]), *targets)
    review(admin_client, first)
    review(admin_client, second)
    other = session(autocommit=True)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [BACKFILL_LOCK_KEY])
        error, document = run_failing("run_job", "--apply-approved")
    finally:
        other.close()
    assert error.returncode == 3 and f"stopped at plan {first}" in str(error)
    assert [(o["plan"], o["status"]) for o in document["apply_approved"]] == [(first, "refused_locked")]
    assert plan_of(first).state == plan_of(second).state == PlanState.APPROVED
    assert AnnuityPlan.objects.count() == 0
    assert [o["status"] for o in apply_approved()["apply_approved"]] == ["succeeded", "succeeded"]  # next time


def test_a_newer_plan_for_the_same_month_supersedes_the_older_ones(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    february = write_workbook(tmp_path / FILE_NAME, ROWS)
    rejected, approved = backfill_plan(february), backfill_plan(february)
    assert plan_of(rejected).state == PlanState.SUPERSEDED  # by the second, at once
    review(admin_client, approved)
    in_march = backfill_plan(write_workbook(tmp_path / MARCH, [{"计划代码": "P0300"}]))
    assert plan_of(approved).state == PlanState.APPROVED  # another month supersedes nothing
    undated = backfill_plan(write_workbook(tmp_path / "规模明细.xlsx", ROWS))
    assert plan_of(undated).months == [] and plan_of(approved).state == PlanState.APPROVED

    newest = backfill_plan(february)
    older = plan_of(approved)
    assert (older.state, older.superseded_by_id, older.reviewed_by) == (PlanState.SUPERSEDED, newest, "admin")
    assert plan_of(in_march).state == plan_of(undated).state == PlanState.PLANNED
    error, _ = run_failing_plain("backfill_refs", "--apply", str(approved))
    assert error.returncode == 2 and f"superseded by run {newest}" in str(error)
    assert apply_approved()["apply_approved"] == []  # the stale approved plan is never applied
    assert AnnuityPlan.objects.count() == 0


def test_a_plan_saved_after_a_newer_one_for_its_month_is_born_superseded(warehouse: None, tmp_path: Path) -> None:
    """A plan-only run that started first but ended last: the newer run's plan wins."""
    february = write_workbook(tmp_path / FILE_NAME, ROWS)
    older, newer = backfill_plan(february), backfill_plan(february)
    saved = plan_decode(bytes(plan_of(older).data))
    RunPlan.objects.filter(run_id=older).delete()  # as if the older run had not saved its plan yet
    with transaction.atomic():
        plan_save(BackfillRun.objects.get(pk=older), saved)
    assert (plan_of(older).state, plan_of(older).superseded_by_id) == (PlanState.SUPERSEDED, newer)
    assert plan_of(newer).state == PlanState.PLANNED


def test_a_plan_applied_while_a_newer_plan_is_saved_stays_applied(warehouse: None, tmp_path: Path) -> None:
    """Another session marks the older plan applied (its apply's transaction, not committed yet)
    while a newer plan for the same month is saved: the save waits for the row, then sees the
    plan applied and leaves it so — never "superseded" after it was written."""
    february = write_workbook(tmp_path / FILE_NAME, ROWS)
    older, newer = backfill_plan(february), backfill_plan(february)
    saved = plan_decode(bytes(plan_of(newer).data))
    RunPlan.objects.filter(run_id=newer).delete()  # the newer run has not saved its plan yet
    RunPlan.objects.filter(run_id=older).update(state=PlanState.APPROVED, superseded_by=None)
    applying = session()
    with applying.cursor() as cursor:  # an open transaction holding the plan's row
        cursor.execute("UPDATE refs_runplan SET state = 'applied' WHERE run_id = %s", [older])
    backend: list[int] = []

    def save_newer() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend.append(cursor.fetchone()[0])
            with transaction.atomic():
                plan_save(BackfillRun.objects.get(pk=newer), saved)
        finally:
            connection.close()

    saving = threading.Thread(target=save_newer)
    saving.start()
    observer = session(autocommit=True)
    try:
        wait_until(lambda: bool(backend) and waits_on_lock(observer, backend[0]), what="the save waits for the row")
        applying.commit()
    finally:
        saving.join(timeout=60)
        applying.close()
        observer.close()
    assert not saving.is_alive()
    assert (plan_of(older).state, plan_of(older).superseded_by_id) == (PlanState.APPLIED, None)
    assert plan_of(newer).state == PlanState.PLANNED


def test_a_plan_is_reviewed_once_and_only_while_planned(warehouse: None, tmp_path: Path, admin_client: Client) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    superseded, rejected = backfill_plan(path), backfill_plan(path)
    review(admin_client, rejected, "reject", comment="wrong month")
    applied = backfill_plan(write_workbook(tmp_path / MARCH, [{"计划代码": "P0300"}]))
    run("backfill_refs", "--apply", str(applied))
    executed = int(run("backfill_refs", "--file", str(path), "--execute")["audit_id"])
    for run_id, state in [(superseded, "superseded by run"), (rejected, "rejected by admin at"),
                          (applied, "already applied by run"), (executed, "kept no plan to review")]:  # fmt: skip
        before = list(RunPlan.objects.order_by("pk").values())
        html = review(admin_client, run_id)
        assert "Nothing was recorded" in html and state in html, run_id
        assert list(RunPlan.objects.order_by("pk").values()) == before
    assert (plan_of(rejected).state, plan_of(rejected).review_comment) == (PlanState.REJECTED, "wrong month")
    error, _ = run_failing_plain("backfill_refs", "--apply", str(rejected))
    assert error.returncode == 2 and "rejected by admin" in str(error)


def test_an_apply_loses_to_a_plan_closed_meanwhile(warehouse: None, tmp_path: Path) -> None:
    """The last step of an apply, inside its transaction: a plan superseded or rejected since
    the apply started is not marked applied, and the apply rolls back."""
    planned = backfill_plan(write_workbook(tmp_path / FILE_NAME, ROWS))
    RunPlan.objects.filter(run_id=planned).update(state=PlanState.REJECTED)
    applying = BackfillRun.objects.get(pk=planned)
    applying.pk, applying.mode, applying.status, applying.applies_id = (
        None,
        RunMode.EXECUTE,
        RunStatus.SUCCEEDED,
        planned,
    )
    with pytest.raises(PlanClosedError, match="not applied, the plan is rejected"), transaction.atomic():
        applying.save()
        plan_settle(applying, exit_code=0)
    assert plan_of(planned).state == PlanState.REJECTED and plan_of(planned).outcome_run_id is None


def test_reviewing_needs_the_permission_a_post_and_the_csrf_token(warehouse: None, tmp_path: Path) -> None:
    planned = backfill_plan(write_workbook(tmp_path / FILE_NAME, ROWS))
    viewer = reviewer(may_approve=False)
    html = str(viewer.get(page_url(planned)).content.decode())
    assert 'id="plan-approve"' not in html and 'id="plan-no-permission"' in html
    assert viewer.post(review_url(planned), {"decision": "approve"}).status_code == 403
    approver = reviewer(may_approve=True)
    assert approver.get(review_url(planned)).status_code == 405
    blind = User.objects.create_user("blind", password="pw-123", is_staff=True)  # may approve, sees no run
    blind.user_permissions.set(Permission.objects.filter(codename="approve_run"))
    blind_client = Client()
    blind_client.force_login(blind)
    assert blind_client.post(review_url(planned), {"decision": "approve"}).status_code == 403
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(User.objects.get(username="approver"))
    assert forged.post(review_url(planned), {"decision": "approve"}).status_code == 403  # no CSRF token
    assert plan_of(planned).state == PlanState.PLANNED and plan_of(planned).reviewed_by == ""

    assert 'id="plan-approve"' in str(approver.get(page_url(planned)).content.decode())
    html = review(approver, planned, comment="ok")
    assert "The plan of run" in html and "is approved" in html and 'id="plan-approve"' not in html
    plan = plan_of(planned)
    assert (plan.state, plan.reviewed_by, plan.review_comment) == (PlanState.APPROVED, "approver", "ok")


# Tables a review may name: wdh's audit records and Django's own (users, sessions, messages).
OWN_TABLE = re.compile(r"^(refs_(backfillrun|run\w+)|auth_\w+|django_\w+)$")
TABLE_REFERENCE = re.compile(r'\b(?:FROM|JOIN|UPDATE|INTO)\s+((?:"[^"]+"\.)?"[^"]+")', re.IGNORECASE)


def test_approving_sends_no_statement_outside_wdhs_own_tables(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    planned = int(run("run_job", "--file", str(path), "--backfill-refs", "all")["audit_id"])
    with CaptureQueriesContext(connection) as captured:
        review(admin_client, planned, comment="审核通过")
    assert plan_of(planned).state == PlanState.APPROVED
    statements = [query["sql"] for query in captured.captured_queries]
    named = {name for sql in statements for name in TABLE_REFERENCE.findall(sql)}
    assert '"refs_runplan"' in named
    assert all(OWN_TABLE.match(name.strip('"')) for name in named), named
    warehouse_tables = [model._meta.db_table for model in (AnnuityPlan, Portfolio, AnnuityPerformance)]
    assert not [sql for sql in statements if any(table in sql for table in warehouse_tables)]
    writes = [sql for sql in statements if sql.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
    assert writes and all(
        re.match(r'(?i)(UPDATE|INSERT INTO|DELETE FROM) "(refs_runplan|django_session)"', w) for w in writes
    )


def test_run_pages_show_the_plan_state_with_links_both_ways_and_the_list_filters_by_it(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    february = write_workbook(tmp_path / FILE_NAME, ROWS)
    superseded, approved = backfill_plan(february), backfill_plan(february)
    review(admin_client, approved, comment="looks right")
    applying = int(apply_approved()["apply_approved"][0]["audit_id"])

    html = str(admin_client.get(page_url(approved)).content.decode())
    assert 'id="plan-state"><span class="wdh-plan wdh-plan-applied">applied</span>' in html
    assert f'id="plan-outcome" href="{page_url(applying)}">run {applying}</a>' in html
    assert f'<a href="{page_url(superseded)}">run {superseded}</a>' in html  # supersedes
    assert "Approved by" in html and "admin at" in html and "looks right" in html
    html = str(admin_client.get(page_url(applying)).content.decode())
    assert f'id="plan-applies" href="{page_url(approved)}">run {approved}</a>' in html
    assert "applies the plan of run" not in html  # named once, in the plan section
    html = str(admin_client.get(page_url(superseded)).content.decode())
    assert f'id="plan-superseded-by" href="{page_url(approved)}">run {approved}</a>' in html
    assert 'id="plan-approve"' not in html

    for state, expected in [("applied", [approved]), ("superseded", [superseded]), ("planned", [])]:
        listed = admin_client.get(RUNS_URL, {"plan": state}).context["cl"].result_list
        assert [r.pk for r in listed] == expected, state
    assert "superseded by a newer plan" in str(admin_client.get(RUNS_URL).content.decode())  # the column
