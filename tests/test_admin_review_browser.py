"""Runs a reviewer can read (issue 10 item 5) in headless Chromium against the live server: the
run list's command, "would" counts and failure reason; a run page's row-error table paged with
its own links; a failure's step in words; a long warning's "show all". ``WDH_BROWSER_TESTS``
decides whether these run, as for ``tests/test_admin_browser.py`` (whose browser they share)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management.base import CommandError
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from refs.models import BackfillRun
from tests import test_admin_browser as shared
from tests.test_admin_review import BAD_MONTH, NAME, good, job
from tests.test_admin_warnings import OTHER_BRIEF, OTHER_FULL, portfolio_rows
from tests.workbooks import HEADER, write_workbook

pytestmark = pytest.mark.browser
browser = shared.browser  # the session's one Chromium


@pytest.fixture
def reviewer(browser: WebDriver, live_server: object, warehouse: None) -> Iterator[tuple[WebDriver, str]]:
    browser.delete_all_cookies()
    User.objects.create_superuser("reviewer", password=shared.PASSWORD)
    yield browser, str(live_server)


def cells(browser: WebDriver, run: BackfillRun, column: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f"#result_list tr:has(a[href*='/{run.pk}/']) td.field-{column}").text


def test_a_reviewer_pages_through_row_errors(reviewer: tuple[WebDriver, str], tmp_path: Path) -> None:
    browser, base = reviewer
    rows = [good(n) for n in range(1, 121)] + [{**good(n), "月度": BAD_MONTH} for n in range(200, 305)]
    job("run_job", "--file", str(write_workbook(tmp_path / NAME, rows)), "--backfill-refs", "plans")
    run = BackfillRun.objects.get()
    shared.log_in(browser, base)
    assert cells(browser, run, "command") == "run_job" and cells(browser, run, "inserted") == "would insert 120"

    shared.click_link(browser, f"#{run.pk}", (By.ID, "row-errors"))
    table = shared.section(browser, "row-errors")
    assert [th.text for th in table.find_elements(By.TAG_NAME, "th")] == [
        "FILE", "SHEET", "ROW", "COLUMN", "VALUE", "MESSAGE"
    ]  # fmt: skip
    assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 100 and "1–100 of 105" in table.text
    totals = shared.section(browser, "totals").text
    assert "225\nrows read" in totals and "120\nrows valid" in totals

    next_page = table.find_element(By.CSS_SELECTOR, "a[rel=next]")
    shared.new_page(browser, next_page.click, (By.XPATH, "//*[@id='row-errors'][contains(., '101–105 of 105')]"))
    table = shared.section(browser, "row-errors")
    assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 5
    last = [td.text for td in table.find_elements(By.CSS_SELECTOR, "tbody tr:last-child td")]
    assert last[:5] == [str(tmp_path / NAME), "规模明细", "226", "月度", BAD_MONTH]


def test_a_failed_run_reads_in_words(reviewer: tuple[WebDriver, str], tmp_path: Path) -> None:
    browser, base = reviewer
    header = [name for name in HEADER if name != "计划代码"]
    path = write_workbook(tmp_path / NAME, [good(1)], header=header)
    with pytest.raises(CommandError):
        job("run_job", "--file", str(path), "--execute")
    run = BackfillRun.objects.get()
    shared.log_in(browser, base)
    assert cells(browser, run, "files_count") == "1"
    assert cells(browser, run, "reason").startswith(f"while reading: {NAME}")

    shared.click_link(browser, f"#{run.pk}", (By.ID, "error"))
    error = shared.section(browser, "error").text
    assert error.startswith("Failed while reading") and "InputError" not in error
    assert str(path) in shared.section(browser, "files").text


def test_show_all_opens_a_long_warning(reviewer: tuple[WebDriver, str], tmp_path: Path) -> None:
    browser, base = reviewer
    job("run_job", "--file", str(write_workbook(tmp_path / NAME, portfolio_rows())), "--backfill-refs", "portfolios")
    run = BackfillRun.objects.get()
    shared.log_in(browser, base)
    shared.click_link(browser, f"#{run.pk}", (By.ID, "warnings"))
    warnings = shared.section(browser, "warnings")
    assert OTHER_BRIEF in warnings.text and OTHER_FULL not in warnings.text  # closed: the short line only
    warnings.find_element(By.TAG_NAME, "summary").click()
    shared.wait_for(browser, lambda driver: OTHER_FULL in shared.section(driver, "warnings").text)
