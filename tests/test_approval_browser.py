"""Approval in a real browser (issue 12 item 3): headless Chromium against the live server. A
staff user without ``refs.approve_run`` sees no Approve button and a forged POST — the page's
own CSRF token, the review address, ``decision=approve`` — is refused with 403; a user with the
permission approves with a comment and the run page says so. ``WDH_BROWSER_TESTS`` decides
whether these run, as for ``tests/test_admin_browser.py`` (whose browser they share)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from refs.models import PlanState, RunPlan
from tests import test_admin_browser as shared
from tests.test_backfill import ROWS, run
from tests.test_saved_plans import FILE_NAME
from tests.workbooks import write_workbook

pytestmark = pytest.mark.browser
browser = shared.browser  # the session's one Chromium

FORGED_POST = """
const form = document.createElement("form");
form.method = "post";
form.action = arguments[0];
for (const [name, value] of [["csrfmiddlewaretoken", arguments[1]], ["decision", "approve"]]) {
  const input = document.createElement("input");
  input.type = "hidden"; input.name = name; input.value = value;
  form.appendChild(input);
}
document.body.appendChild(form);
form.submit();
"""


@pytest.fixture
def site(
    browser: WebDriver, live_server: object, warehouse: None, tmp_path: Path
) -> Iterator[tuple[WebDriver, str, int]]:
    """The browser logged out, the live server's address, and a plan-only run's id."""
    browser.delete_all_cookies()
    for name, codenames in [("viewer", ["view_backfillrun"]), ("approver", ["view_backfillrun", "approve_run"])]:
        user = User.objects.create_user(name, password=shared.PASSWORD, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="refs", codename__in=codenames))
    planned = int(run("backfill_refs", "--file", str(write_workbook(tmp_path / FILE_NAME, ROWS)))["audit_id"])
    yield browser, str(live_server), planned


def log_in_at_run(browser: WebDriver, base: str, username: str, run_id: int) -> None:
    page = reverse("admin:refs_backfillrun_change", args=[run_id])
    browser.delete_all_cookies()
    browser.get(f"{base}{reverse('admin:login')}?next={page}")
    browser.find_element(By.ID, "id_username").send_keys(username)
    password = browser.find_element(By.ID, "id_password")
    shared.new_page(browser, lambda: password.send_keys(shared.PASSWORD + Keys.ENTER), (By.ID, "plan"))


def test_only_a_user_with_the_permission_approves(site: tuple[WebDriver, str, int]) -> None:
    browser, base, planned = site
    log_in_at_run(browser, base, "viewer", planned)
    assert shared.section(browser, "plan-state").text == "planned (waiting for review)"
    assert not browser.find_elements(By.ID, "plan-approve") and not browser.find_elements(By.ID, "plan-reject")
    assert "refs.approve_run" in shared.section(browser, "plan-no-permission").text

    token = browser.get_cookie("csrftoken")
    assert token is not None  # the forged POST carries a valid token: only the permission refuses it
    review = reverse("admin:refs_backfillrun_review", args=[planned])
    shared.new_page(browser, lambda: browser.execute_script(FORGED_POST, review, token["value"]), (By.TAG_NAME, "h1"))
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    assert RunPlan.objects.get(run_id=planned).state == PlanState.PLANNED

    log_in_at_run(browser, base, "approver", planned)
    shared.save_full_page(browser, shared.ARTIFACTS / "run-plan-review.png")
    browser.find_element(By.ID, "plan-comment").send_keys("与月报核对一致")
    approve = browser.find_element(By.ID, "plan-approve")
    shared.new_page(browser, approve.click, (By.CSS_SELECTOR, ".messagelist .success"))
    assert "is approved" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert shared.section(browser, "plan-state").text == "approved (cron applies it)"
    assert "approver at" in shared.section(browser, "plan-reviewed").text
    assert "与月报核对一致" in shared.section(browser, "plan-reviewed").text
    assert not browser.find_elements(By.ID, "plan-approve")  # decided once
    shared.save_full_page(browser, shared.ARTIFACTS / "run-plan-approved.png")  # for a person to look at
    plan = RunPlan.objects.get(run_id=planned)
    assert (plan.state, plan.reviewed_by, plan.review_comment) == (PlanState.APPROVED, "approver", "与月报核对一致")
