"""The admin in a real browser: Debian's headless Chromium, driven by Selenium, against
pytest-django's live server and the real database.

``WDH_BROWSER_TESTS`` decides what happens:

- unset or ``0``: skipped, with how to turn them on;
- ``1``: run; skipped with the same hint when the browser is not installed;
- ``required`` (CI, after ``bash scripts/install_browser.sh``): a missing browser is a failure.

The run detail page is saved as ``test-artifacts/run-detail.png`` for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from refs.models import AnnuityPlan, Portfolio
from tests.test_admin import COMPLETE_PLAN, RUNS_URL, WARNING, Runs, audit_runs

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HINT = "needs Debian chromium + chromium-driver: bash scripts/install_browser.sh"
OFF = f"browser tests are off: set WDH_BROWSER_TESTS=1 ({HINT})"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in containers and CI
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1366,900",
    "--lang=en-US",
)
PASSWORD = "pw-browser-123"
TIMEOUT = 15
Locator = tuple[str, str]  # (By.ID, "totals")


def browser_mode() -> str:
    value = os.environ.get("WDH_BROWSER_TESTS", "").strip().lower()
    if value in {"", "0", "off", "false", "no"}:
        return "off"
    if value in {"1", "on", "true", "yes"}:
        return "on"
    if value == "required":
        return "required"
    pytest.fail(f"WDH_BROWSER_TESTS={value!r}: expected 0, 1 or required", pytrace=False)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One headless Chromium for the session, with a fresh profile."""
    mode = browser_mode()
    if mode == "off":
        pytest.skip(OFF)
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        message = f"browser tests are on but {' and '.join(missing)} not installed ({HINT})"
        if mode == "required":
            pytest.fail(f"WDH_BROWSER_TESTS=required: {message}", pytrace=False)
        pytest.skip(message)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()


@pytest.fixture
def site(browser: WebDriver, live_server: object, warehouse: None) -> Iterator[tuple[WebDriver, str, Runs]]:
    """The browser logged out, the live server's address, and one run of each kind."""
    browser.delete_all_cookies()
    User.objects.create_superuser("reviewer", password=PASSWORD)
    yield browser, str(live_server), audit_runs()


def wait_for(browser: WebDriver, condition: object) -> None:
    WebDriverWait(browser, TIMEOUT).until(condition)  # type: ignore[arg-type]


def new_page(browser: WebDriver, action: Callable[[], object], ready: Locator) -> None:
    """Do ``action`` (a click, an Enter) and wait until the page it leads to is the one shown.

    Every wait depends on the new page: first the old document must be gone (its ``<html>``
    element goes stale), then ``ready`` must be present in the new one. A wait on the URL or
    on an element both pages share can be satisfied by the old page and read it instead.
    """
    old = browser.find_element(By.TAG_NAME, "html")
    action()
    wait_for(browser, lambda _: gone(old))
    wait_for(browser, expected_conditions.presence_of_element_located(ready))


def gone(element: WebElement) -> bool:
    """Whether ``element``'s document was replaced. Selenium's ``staleness_of`` knows only its
    own StaleElementReferenceException; Chromium may instead answer a query on a node of the
    replaced document with "Node with given id does not belong to the document" (seen in CI),
    which says the same and must not fail the wait."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def log_in(browser: WebDriver, base: str) -> None:
    browser.get(f"{base}{reverse('admin:login')}?next={RUNS_URL}")
    browser.find_element(By.ID, "id_username").send_keys("reviewer")
    password = browser.find_element(By.ID, "id_password")
    new_page(browser, lambda: password.send_keys(PASSWORD + Keys.ENTER), (By.ID, "changelist"))


def search(browser: WebDriver, term: str) -> None:
    """Search the list shown for ``term`` and wait for the list of that search."""
    box = browser.find_element(By.ID, "searchbar")
    box.clear()
    new_page(browser, lambda: box.send_keys(term + Keys.ENTER), (By.ID, "searchbar"))
    wait_for(browser, lambda driver: driver.find_element(By.ID, "searchbar").get_attribute("value") == term)


def click_link(browser: WebDriver, text: str, ready: Locator) -> None:
    """Follow the link ``text`` and wait for ``ready`` on the page it opens."""
    link = browser.find_element(By.LINK_TEXT, text)
    new_page(browser, link.click, ready)


def listed_runs(browser: WebDriver) -> list[str]:
    """The run numbers (``#12``) in the result table, as shown."""
    return [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody th.field-run a")]


def section(browser: WebDriver, element_id: str) -> WebElement:
    return browser.find_element(By.ID, element_id)


def save_full_page(browser: WebDriver, path: Path) -> None:
    """A screenshot of the whole page: the window grown until the viewport holds all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = browser.get_window_size()
    chrome = size["height"] - int(browser.execute_script("return window.innerHeight"))
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.set_window_size(size["width"], height + chrome)
    try:
        assert browser.save_screenshot(str(path)), path
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_reviewer_filters_searches_and_reads_a_run(site: tuple[WebDriver, str, Runs]) -> None:
    browser, base, runs = site
    log_in(browser, base)
    assert len(listed_runs(browser)) == 5
    assert "wdh · reference backfill" in browser.find_element(By.ID, "site-name").text

    click_link(
        browser, "succeeded", (By.CSS_SELECTOR, "#changelist-filter li.selected a[href*='status__exact=succeeded']")
    )
    assert sorted(listed_runs(browser)) == sorted([f"#{runs.inserted.pk}", f"#{runs.filled.pk}"])

    search(browser, "X0002")
    assert "status__exact=succeeded" in browser.current_url  # the search kept the filter
    assert listed_runs(browser) == [f"#{runs.inserted.pk}"]

    click_link(browser, f"#{runs.inserted.pk}", (By.ID, "totals"))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(f"Run {runs.inserted.pk} · backfill_refs")
    totals = section(browser, "totals").text
    assert "5\nkeys inserted" in totals and "2\nwarnings" in totals
    targets = section(browser, "targets").text
    assert "plans" in targets and '"mapping"."组合计划"' in targets
    assert WARNING in section(browser, "warnings").text
    assert "2025年01月规模收入数据V2.xlsx" in section(browser, "files").text
    keys = section(browser, "keys").text
    assert "X0002" in keys and "P0001" not in keys  # narrowed to the key searched for
    assert not browser.find_elements(By.NAME, "_save")  # read-only, even for a superuser

    click_link(browser, "show all keys", (By.ID, "keys"))
    assert "P0001" in section(browser, "keys").text
    save_full_page(browser, ARTIFACTS / "run-detail.png")
    assert (ARTIFACTS / "run-detail.png").stat().st_size > 10_000


def test_search_for_a_key_finds_its_run(site: tuple[WebDriver, str, Runs]) -> None:
    browser, base, runs = site
    log_in(browser, base)
    for term, expected in [("P9001", runs.planned), ("P0003", runs.filled), ("2025年01月", runs.inserted)]:
        search(browser, term)
        assert listed_runs(browser) == [f"#{expected.pk}"], term
    search(browser, "Z9999")
    assert listed_runs(browser) == []
    assert "0 results" in browser.find_element(By.ID, "changelist-search").text


def test_plan_page_leads_to_its_portfolios_and_creating_run(site: tuple[WebDriver, str, Runs]) -> None:
    browser, base, runs = site
    AnnuityPlan.objects.create(年金计划号="P0001", 计划全称="甲计划", **COMPLETE_PLAN)
    Portfolio.objects.create(组合代码="X0001", 年金计划号="P0001", 组合名称="甲固收组合")
    log_in(browser, base)
    browser.get(base + reverse("admin:refs_annuityplan_changelist"))
    search(browser, "甲计划")
    click_link(browser, "P0001", (By.CLASS_NAME, "wdh-portfolios"))
    assert "X0001 甲固收组合" in browser.find_element(By.CLASS_NAME, "wdh-portfolios").text
    click_link(browser, f"Run {runs.inserted.pk}", (By.ID, "totals"))
    assert f"Run {runs.inserted.pk}" in browser.find_element(By.TAG_NAME, "h1").text
