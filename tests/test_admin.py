"""The admin through Django's test client, on the real database: the read-only audit pages
(list, filters, search, detail, pagination, no writes for anyone) and the reference tables
(search, needs-attention, related links, edits recorded in the admin log)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.templatetags.admin_list import result_headers, results
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from refs.admin import duration_text
from refs.models import (
    AnnuityPlan,
    BackfillRun,
    Portfolio,
    RunCell,
    RunFile,
    RunKey,
    RunMode,
    RunStatus,
    RunTarget,
)

RUNS_URL = reverse("admin:refs_backfillrun_changelist")
PLANS_URL = reverse("admin:refs_annuityplan_changelist")
PORTFOLIOS_URL = reverse("admin:refs_portfolio_changelist")
WARNING = "portfolio QTAN001 appears under several plans: P0001, P0002 (kept P0001)"
STATEMENT = (
    'INSERT INTO "mapping"."年金计划" ("年金计划号", "计划全称") VALUES (%s, %s) ON CONFLICT ("年金计划号") DO NOTHING'
)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime(2025, month, day, hour, 0))


def make_run(**fields: Any) -> BackfillRun:
    started = fields.pop("started_at", at(2, 3))
    values: dict[str, Any] = {
        "command": "backfill_refs",
        "domain": "annuity_performance",
        "mode": RunMode.EXECUTE,
        "backfill_mode": "insert_missing",
        "targets": "all",
        "status": RunStatus.SUCCEEDED,
        "started_at": started,
        "finished_at": started + timedelta(seconds=95),
        "user": "etl",
        "host": "wh01",
        "via": "cron",
        "pid": 4242,
        "argv": ["manage.py", "backfill_refs", "--targets", "all", "--execute"],
        "options": {"targets": "all", "execute": True},
        "config_path": "/srv/wdh/data_sources.yml",
        "config_digest": "ab" * 32,
        **fields,
    }
    return BackfillRun.objects.create(**values)


def add_file(run: BackfillRun, name: str) -> RunFile:
    return RunFile.objects.create(
        run=run,
        path=f"/data/annuity/{name}",
        size=1_234_567,
        sha256="cd" * 32,
        sheet="规模明细",
        rows_read=5210,
        rows_valid=5208,
    )


@dataclass
class Runs:
    inserted: BackfillRun  # execute, insert_missing: keys and a warning
    filled: BackfillRun  # execute, fill_null_only: cells
    planned: BackfillRun  # plan-only: statements and a key it would insert
    failed: BackfillRun
    running: BackfillRun

    @property
    def all(self) -> list[BackfillRun]:
        return [self.inserted, self.filled, self.planned, self.failed, self.running]


def audit_runs() -> Runs:
    """One run of each kind a reviewer meets, written as the audit service writes them."""
    inserted = make_run(inserted_total=5, warnings=["3 row(s) have no company_id (left empty, never invented)"])
    add_file(inserted, "2025年01月规模收入数据V2.xlsx")
    RunTarget.objects.create(
        run=inserted,
        target="plans",
        table='"mapping"."年金计划"',
        candidates=3,
        inserted=2,
        already_present=1,
        rows_changed=2,
    )
    RunTarget.objects.create(
        run=inserted,
        target="portfolios",
        table='"mapping"."组合计划"',
        candidates=4,
        inserted=3,
        already_present=1,
        rows_changed=3,
        warnings=[WARNING],
    )
    for target, key in [("plans", "P0001"), ("plans", "P0002"), ("portfolios", "QTAN001"), ("portfolios", "X0001")]:
        RunKey.objects.create(run=inserted, target=target, key=key)
    RunKey.objects.create(run=inserted, target="portfolios", key="X0002")

    filled = make_run(started_at=at(3, 4), backfill_mode="fill_null_only", targets="plans", filled_total=2)
    add_file(filled, "2025年02月规模收入数据.xlsx")
    RunTarget.objects.create(
        run=filled,
        target="plans",
        table='"mapping"."年金计划"',
        candidates=1,
        already_present=1,
        cells_filled={"客户名称": 1, "主拓机构": 1},
        rows_changed=1,
    )
    RunCell.objects.create(run=filled, target="plans", key="P0003", column="客户名称", value="丙公司")
    RunCell.objects.create(run=filled, target="plans", key="P0003", column="主拓机构", value="北京")

    planned = make_run(
        started_at=at(3, 5), mode=RunMode.PLAN_ONLY, status=RunStatus.PLANNED, targets="plans", inserted_total=1
    )
    planned.statements = [STATEMENT]
    planned.save()
    add_file(planned, "2025年03月规模收入数据.xlsx")
    RunTarget.objects.create(run=planned, target="plans", table='"mapping"."年金计划"', candidates=1, inserted=1)
    RunKey.objects.create(run=planned, target="plans", key="P9001")

    failed = make_run(
        started_at=at(4, 1),
        status=RunStatus.FAILED,
        targets="plans",
        error="required column 计划代码 is missing from sheet 规模明细",
        error_where="file 2025年04月规模收入数据.xlsx, sheet 规模明细, header row 1",
    )
    running = make_run(started_at=at(4, 2), status=RunStatus.RUNNING, finished_at=None, targets="portfolios")
    return Runs(inserted, filled, planned, failed, running)


def listed(response: Any) -> list[int]:
    assert response.status_code == 200, response.status_code
    return [run.pk for run in response.context["cl"].result_list]


def run_url(run: BackfillRun) -> str:
    return reverse("admin:refs_backfillrun_change", args=[run.pk])


def staff(username: str, *codenames: str, active: bool = True) -> User:
    user = User.objects.create_user(username, password="pw-123456", is_staff=True, is_active=active)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def runs(db: None) -> Runs:
    return audit_runs()


# --- run list -------------------------------------------------------------------------------


def test_run_list_shows_each_run_at_a_glance(admin_client: Client, runs: Runs) -> None:
    response = admin_client.get(RUNS_URL)
    cl = response.context["cl"]
    assert [str(header["text"]) for header in result_headers(cl)] == [
        "run",
        "command",
        "status",
        "mode",
        "targets",
        "started",
        "duration",
        "files",
        "keys",
        "cells",
        "warnings",
        "reason",
        "plan",
    ]
    rows = {run.pk: [strip_tags(cell) for cell in row] for run, row in zip(cl.result_list, results(cl), strict=True)}
    assert rows[runs.inserted.pk] == [
        f"#{runs.inserted.pk}",
        "backfill_refs",
        "succeeded",
        "execute",
        "all",
        "2025-02-03 10:00",
        "1 min 35 s",
        "1",
        "5 inserted",
        "—",
        "2",
        "—",
        "—",
    ]
    assert rows[runs.running.pk][6] == "unfinished" and rows[runs.failed.pk][10] == "—"
    assert 'class="wdh-status wdh-status-failed"' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status__exact=failed", ["failed"]),
        ("status__exact=running", ["running"]),
        ("mode__exact=plan_only", ["planned"]),
        ("mode__exact=execute", ["inserted", "filled", "failed", "running"]),
        ("target=plans", ["inserted", "filled", "planned", "failed"]),
        ("target=portfolios", ["inserted", "running"]),
        ("target=none", []),
        ("started_at__year=2025&started_at__month=2", ["inserted"]),
        ("started_at__year=2025&started_at__month=3&started_at__day=5", ["planned"]),
    ],
)
def test_run_list_filters(admin_client: Client, runs: Runs, query: str, expected: list[str]) -> None:
    assert set(listed(admin_client.get(f"{RUNS_URL}?{query}"))) == {getattr(runs, name).pk for name in expected}


def test_run_list_offers_the_filters_and_date_hierarchy(admin_client: Client, runs: Runs) -> None:
    html = admin_client.get(RUNS_URL).content.decode()
    for title in ("By status", "By mode", "By plan", "By target", "By started at"):
        assert title in html, title
    assert 'class="toplinks"' in html and "February 2025" in html and "April 2025" in html


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("P0002", ["inserted"]),  # an inserted key (RunKey)
        ("p0002", ["inserted"]),  # typed in lower case
        ("P0003", ["filled"]),  # a filled cell's key (RunCell)
        ("P9001", ["planned"]),  # a key a plan-only run would insert
        ("2025年02月", ["filled"]),  # part of a file name (RunFile.path)
        ("规模收入数据V2.xlsx", ["inserted"]),
        ('"2025年01月规模收入数据V2.xlsx"', ["inserted"]),
        ("P000", []),  # keys match whole, never a prefix
        ("NOPE", []),
    ],
)
def test_run_list_search(admin_client: Client, runs: Runs, term: str, expected: list[str]) -> None:
    response = admin_client.get(RUNS_URL, {"q": term})
    assert set(listed(response)) == {getattr(runs, name).pk for name in expected}


def test_run_search_lists_each_run_once(admin_client: Client, runs: Runs) -> None:
    for name in ("a.xlsx", "b.xlsx"):
        add_file(runs.inserted, f"规模收入数据/{name}")
    found = listed(admin_client.get(RUNS_URL, {"q": "规模收入数据"}))
    assert sorted(found) == sorted({runs.inserted.pk, runs.filled.pk, runs.planned.pk})


# --- run detail -----------------------------------------------------------------------------


def test_detail_of_an_execute_run(admin_client: Client, runs: Runs) -> None:
    response = admin_client.get(run_url(runs.inserted))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Run {runs.inserted.pk} · backfill_refs · execute" in html
    assert "keys inserted" in html and "<b>5</b>" in html
    assert '"mapping"."组合计划"' in html.replace("&quot;", '"')
    assert WARNING in html and "3 row(s) have no company_id" in html
    assert "Warnings (2)" in html
    assert "2025年01月规模收入数据V2.xlsx" in html and "1.2\xa0MB" in html
    assert "1 min 35 s" in html and "etl@wh01 · cron" in html
    assert "manage.py backfill_refs --targets all --execute" in html
    plan_url = reverse("admin:refs_annuityplan_change", args=[quote("P0001")])
    portfolio_url = reverse("admin:refs_portfolio_change", args=[quote("QTAN001")])
    assert f'href="{plan_url}"' in html and f'href="{portfolio_url}"' in html
    assert f'href="{PLANS_URL}?created_by_run={runs.inserted.pk}"' in html
    assert "No cell was filled." in html


def test_detail_of_a_fill_run_lists_cells(admin_client: Client, runs: Runs) -> None:
    html = admin_client.get(run_url(runs.filled)).content.decode()
    assert "Cells filled (2)" in html
    assert "客户名称: 1" in html and "主拓机构: 1" in html
    assert "<td>客户名称</td><td>丙公司</td>" in html


def test_detail_of_a_plan_only_run_speaks_in_the_conditional(admin_client: Client, runs: Runs) -> None:
    html = admin_client.get(run_url(runs.planned)).content.decode()
    assert "Statements the execute run would send (1)" in html
    assert "<pre>" + STATEMENT.replace('"', "&quot;") + "</pre>" in html
    assert "Keys that would be inserted (1)" in html and "P9001" in html
    assert reverse("admin:refs_annuityplan_change", args=["P9001"]) not in html  # nothing was created


def test_detail_of_a_failed_run_shows_the_error_and_where(admin_client: Client, runs: Runs) -> None:
    html = admin_client.get(run_url(runs.failed)).content.decode()
    assert 'id="error"' in html
    assert "required column 计划代码 is missing from sheet 规模明细" in html
    assert "file 2025年04月规模收入数据.xlsx, sheet 规模明细, header row 1" in html


def test_detail_of_an_unfinished_run_says_so(admin_client: Client, runs: Runs) -> None:
    html = admin_client.get(run_url(runs.running)).content.decode()
    assert "This run has not finished" in html and "unfinished" in html


def test_detail_of_a_missing_run_is_404(admin_client: Client, runs: Runs) -> None:
    assert admin_client.get(reverse("admin:refs_backfillrun_change", args=[999999])).status_code == 404


@pytest.fixture
def big_run(db: None) -> BackfillRun:
    run = make_run(inserted_total=250)
    RunKey.objects.bulk_create(RunKey(run=run, target="plans", key=f"K{n:04d}") for n in range(250))
    return run


def test_detail_paginates_keys(admin_client: Client, big_run: BackfillRun) -> None:
    first = admin_client.get(run_url(big_run))
    assert [row["item"].key for row in first.context["keys"].rows][:2] == ["K0000", "K0001"]
    assert len(first.context["keys"].rows) == 100
    html = first.content.decode()
    assert "K0099" in html and "K0100" not in html
    assert "1–100 of 250 · page 1 of 3" in html
    assert 'href="?keys_page=2#keys"' in html

    last = admin_client.get(run_url(big_run), {"keys_page": 3}).content.decode()
    assert "K0200" in last and "K0249" in last and "K0199" not in last
    assert "201–250 of 250 · page 3 of 3" in last and 'href="?keys_page=2#keys"' in last

    assert "K0000" in admin_client.get(run_url(big_run), {"keys_page": "x"}).content.decode()


def test_detail_finds_a_key_in_a_large_run(admin_client: Client, big_run: BackfillRun) -> None:
    response = admin_client.get(run_url(big_run), {"key": "K0123"})
    assert [row["item"].key for row in response.context["keys"].rows] == ["K0123"]
    # Arriving from a search of the run list narrows the keys to the searched key.
    for term in ("K0201", "k0201"):
        response = admin_client.get(run_url(big_run), {"_changelist_filters": f"q={term}"})
        assert [row["item"].key for row in response.context["keys"].rows] == ["K0201"]
    response = admin_client.get(run_url(big_run), {"_changelist_filters": "q=规模"})
    assert len(response.context["keys"].rows) == 100  # not a key of this run: not applied


def test_duration_text() -> None:
    assert [duration_text(s) for s in (None, 0.25, 12.44, 95, 7620)] == [
        "unfinished",
        "250 ms",
        "12.4 s",
        "1 min 35 s",
        "2 h 07 min",
    ]


# --- read-only for everyone -----------------------------------------------------------------


def test_superuser_cannot_add_change_or_delete_runs(admin_client: Client, runs: Runs) -> None:
    run = runs.failed
    listing = admin_client.get(RUNS_URL).content.decode()
    detail = admin_client.get(run_url(run)).content.decode()
    assert reverse("admin:refs_backfillrun_add") not in listing and 'name="action"' not in listing
    assert 'name="_save"' not in detail and "deletelink" not in detail and '<form method="post"' not in detail
    assert admin_client.get(reverse("admin:refs_backfillrun_add")).status_code == 403
    assert admin_client.post(reverse("admin:refs_backfillrun_add"), {"command": "x"}).status_code == 403
    assert admin_client.post(run_url(run), {"status": "succeeded", "error": ""}).status_code == 403
    delete_url = reverse("admin:refs_backfillrun_delete", args=[run.pk])
    assert admin_client.get(delete_url).status_code == 403
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    admin_client.post(RUNS_URL, {"action": "delete_selected", "_selected_action": [run.pk], "post": "yes"})
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and BackfillRun.objects.count() == len(runs.all)


def test_staff_with_view_permission_reads_runs(client: Client, runs: Runs) -> None:
    client.force_login(staff("reviewer", "view_backfillrun"))
    assert set(listed(client.get(RUNS_URL))) == {run.pk for run in runs.all}
    assert WARNING in client.get(run_url(runs.inserted)).content.decode()


def test_only_active_staff_reach_the_admin(client: Client, runs: Runs) -> None:
    login = reverse("admin:login")
    User.objects.create_user("clerk", password="pw-123456")  # active, not staff
    assert client.login(username="clerk", password="pw-123456")
    for url in ("/admin/", RUNS_URL, run_url(runs.inserted)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(login), url
    client.logout()

    former = staff("former", "view_backfillrun", active=False)
    assert not client.login(username="former", password="pw-123456")
    response = client.post(login, {"username": "former", "password": "pw-123456", "next": "/admin/"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()
    client.force_login(former)  # a session from before the account was deactivated
    response = client.get(RUNS_URL)
    assert response.status_code == 302 and response["Location"].startswith(login)


# --- reference tables -----------------------------------------------------------------------

COMPLETE_PLAN = {
    "计划类型": "单一计划",
    "客户名称": "甲公司",
    "company_id": "C001",
    "主拓代码": "G01",
    "主拓机构": "北京",
    "管理资格": "受托+投资",
    "备注": "2501_新建",
}


@pytest.fixture
def references(warehouse: None) -> Runs:
    runs = audit_runs()
    AnnuityPlan.objects.create(年金计划号="P0001", 计划全称="甲计划", **COMPLETE_PLAN)
    AnnuityPlan.objects.create(年金计划号="P0002", 计划全称="乙计划", **{**COMPLETE_PLAN, "客户名称": None})
    AnnuityPlan.objects.create(年金计划号="P0003", 计划全称="丙计划", **{**COMPLETE_PLAN, "主拓机构": ""})
    AnnuityPlan.objects.create(年金计划号="P0004", 计划全称="丁计划", **{**COMPLETE_PLAN, "管理资格": "  "})
    portfolio = {"组合类型": "固收", "备注": "2501_新建"}
    Portfolio.objects.create(组合代码="X0001", 年金计划号="P0001", 组合名称="甲固收组合", **portfolio)
    Portfolio.objects.create(组合代码="X0002", 年金计划号="P0001", 组合名称="甲权益组合", 备注="2501_新建")
    Portfolio.objects.create(组合代码="Y0001", 年金计划号="P0002", 组合名称="乙组合", **portfolio)
    return runs


def keys(response: Any) -> list[str]:
    assert response.status_code == 200, response.status_code
    return sorted(str(row.pk) for row in response.context["cl"].result_list)


@pytest.mark.parametrize(
    ("url", "term", "expected"),
    [
        (PLANS_URL, "P0002", ["P0002"]),
        (PLANS_URL, "p000", ["P0001", "P0002", "P0003", "P0004"]),
        (PLANS_URL, "乙计划", ["P0002"]),
        (PLANS_URL, "甲公司", ["P0001", "P0003", "P0004"]),
        (PORTFOLIOS_URL, "X0002", ["X0002"]),
        (PORTFOLIOS_URL, "权益", ["X0002"]),
        (PORTFOLIOS_URL, "P0001", ["X0001", "X0002"]),
    ],
)
def test_reference_search_by_code_and_name(
    admin_client: Client, references: Runs, url: str, term: str, expected: list[str]
) -> None:
    assert keys(admin_client.get(url, {"q": term})) == expected


def test_needs_attention_filter(admin_client: Client, references: Runs) -> None:
    assert keys(admin_client.get(PLANS_URL, {"attention": "yes"})) == ["P0002", "P0003", "P0004"]
    assert keys(admin_client.get(PLANS_URL, {"attention": "no"})) == ["P0001"]
    assert keys(admin_client.get(PORTFOLIOS_URL, {"attention": "yes"})) == ["X0002"]
    html = admin_client.get(PLANS_URL, {"attention": "yes"}).content.decode()
    assert "needs attention" in html and "客户名称" in html  # the empty column is named in its row


def test_needs_attention_follows_the_configured_updatable_columns(
    admin_client: Client, references: Runs, use_config: Any
) -> None:
    use_config(lambda domain: domain["refs"]["portfolios"]["updatable"].remove("组合类型"))
    assert keys(admin_client.get(PORTFOLIOS_URL, {"attention": "yes"})) == []  # X0002 lacks only 组合类型


def test_plan_page_shows_its_portfolios_and_the_run_that_created_it(admin_client: Client, references: Runs) -> None:
    html = admin_client.get(reverse("admin:refs_annuityplan_change", args=["P0001"])).content.decode()
    assert "X0001" in html and "甲固收组合" in html and "X0002" in html and "Y0001" not in html
    assert reverse("admin:refs_portfolio_change", args=["X0001"]) in html
    assert f'href="{run_url(references.inserted)}"' in html and "2025年01月规模收入数据V2.xlsx" in html
    assert f'href="{run_url(references.planned)}"' not in html  # plan-only runs create nothing
    assert f'href="{PORTFOLIOS_URL}?%E5%B9%B4%E9%87%91%E8%AE%A1%E5%88%92%E5%8F%B7=P0001"' in html  # ?年金计划号=P0001

    other = admin_client.get(reverse("admin:refs_annuityplan_change", args=["P0004"])).content.decode()
    assert "No recorded run inserted this row" in other and "No portfolio (组合计划) names this plan" in other


def test_portfolio_list_by_plan_and_plans_by_run(admin_client: Client, references: Runs) -> None:
    assert keys(admin_client.get(PORTFOLIOS_URL, {"年金计划号": "P0001"})) == ["X0001", "X0002"]
    assert keys(admin_client.get(PLANS_URL, {"created_by_run": references.inserted.pk})) == ["P0001", "P0002"]
    assert keys(admin_client.get(PORTFOLIOS_URL, {"created_by_run": references.inserted.pk})) == ["X0001", "X0002"]
    assert keys(admin_client.get(PLANS_URL, {"created_by_run": "x"})) == []
    portfolio = admin_client.get(reverse("admin:refs_portfolio_change", args=["X0001"])).content.decode()
    assert reverse("admin:refs_annuityplan_change", args=["P0001"]) in portfolio
    assert f'href="{run_url(references.inserted)}"' in portfolio


def plan_form(plan: AnnuityPlan, **changes: Any) -> dict[str, Any]:
    fields = [f.name for f in AnnuityPlan._meta.concrete_fields if not f.primary_key]
    return {name: "" if getattr(plan, name) is None else getattr(plan, name) for name in fields} | changes


def test_staff_edit_of_a_plan_is_logged(client: Client, references: Runs) -> None:
    url = reverse("admin:refs_annuityplan_change", args=["P0002"])
    client.force_login(staff("editor", "view_annuityplan", "change_annuityplan"))
    response = client.post(url, plan_form(AnnuityPlan.objects.get(pk="P0002"), 客户名称="乙公司"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert AnnuityPlan.objects.get(pk="P0002").客户名称 == "乙公司"
    entry = LogEntry.objects.get(object_id="P0002")
    assert entry.action_flag == CHANGE and entry.user.username == "editor" and "客户名称" in entry.get_change_message()
    assert AnnuityPlan.objects.count() == 4  # the key is read-only: no second row


def test_reference_edits_need_the_permission_and_nobody_deletes(client: Client, references: Runs) -> None:
    url = reverse("admin:refs_annuityplan_change", args=["P0002"])
    client.force_login(staff("viewer", "view_annuityplan"))
    response = client.post(url, plan_form(AnnuityPlan.objects.get(pk="P0002"), 客户名称="乙公司"))
    assert response.status_code == 403
    assert AnnuityPlan.objects.get(pk="P0002").客户名称 is None
    client.force_login(User.objects.create_superuser("root", password="pw-123456"))
    delete = reverse("admin:refs_annuityplan_delete", args=["P0002"])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AnnuityPlan.objects.filter(pk="P0002").exists()
