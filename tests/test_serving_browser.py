"""The admin as people serve it (README "Serving the admin"): ``collectstatic``, then gunicorn
as a real process with DEBUG off, and a real browser that must see the admin's stylesheet
applied — a computed style, because a page without its CSS still answers 200.

Runs like the other browser tests (``WDH_BROWSER_TESTS``, see ``tests/test_admin_browser.py``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions

from tests.processes import wait_until
from tests.test_admin_browser import PASSWORD, browser, wait_for  # noqa: F401 (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GUNICORN = Path(sys.executable).parent / "gunicorn"
ADMIN_HEADER_BLUE = "rgba(65, 118, 144, 1)"  # --header-bg in django/contrib/admin/static/admin/css/base.css


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def served(subprocess_env: dict[str, str], tmp_path: Path, transactional_db: None) -> Iterator[str]:
    """The documented set-up: ``collectstatic``, then ``gunicorn wdh.wsgi``, DEBUG off."""
    env = {key: value for key, value in subprocess_env.items() if key not in {"DEBUG", "WDH_HTTPS"}}
    env.update({"WDH_STATIC_ROOT": str(tmp_path / "static"), "ALLOWED_HOSTS": "127.0.0.1"})
    manage = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
    subprocess.run(manage, cwd=settings.BASE_DIR, env=env, check=True, timeout=120)
    port = free_port()
    command = [str(GUNICORN), "wdh.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    server = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: accepts(port) or server.poll() is not None, what="gunicorn listening")
        assert server.poll() is None, server.communicate()[1]
        User.objects.create_superuser("reviewer", password=PASSWORD)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_gunicorn_with_debug_off_serves_the_admin_with_its_stylesheet(
    browser: WebDriver,  # noqa: F811 (the fixture imported above)
    served: str,
) -> None:
    base = served
    browser.delete_all_cookies()
    browser.get(f"{base}/admin/login/?next=/admin/refs/backfillrun/")
    header = browser.find_element(By.ID, "header")
    assert header.value_of_css_property("background-color") == ADMIN_HEADER_BLUE
    browser.find_element(By.ID, "id_username").send_keys("reviewer")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD + Keys.ENTER)
    wait_for(browser, expected_conditions.presence_of_element_located((By.ID, "changelist")))
    assert browser.find_element(By.ID, "header").value_of_css_property("background-color") == ADMIN_HEADER_BLUE
    assert browser.find_element(By.ID, "changelist").value_of_css_property("display") == "flex"
