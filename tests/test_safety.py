"""Admin and deployment safety: who reaches the admin, that nobody changes or deletes an audit
record through it, that no secret or connection string lands in an audit record or a run's
output, that DEBUG is off unless asked for, and that ``check --deploy`` is clean with the
documented production settings (README "Environment")."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from refs.models import BackfillRun, RunCell, RunFile, RunKey, RunStatus, RunTarget
from tests.test_admin import Runs, audit_runs
from tests.workbooks import write_workbook

RUNS_URL = reverse("admin:refs_backfillrun_changelist")
LOGIN_URL = reverse("admin:login")
PASSWORD = "pw-123456"


@pytest.fixture
def runs(db: None) -> Runs:
    return audit_runs()


def run_url(run: BackfillRun, view: str = "change") -> str:
    return reverse(f"admin:refs_backfillrun_{view}", args=[run.pk])


def user(name: str, **flags: Any) -> User:
    return User.objects.create_user(name, password=PASSWORD, **flags)


# --- who reaches the admin ---------------------------------------------------------------------

OUTSIDERS = {
    "anonymous": None,
    "active, not staff": {"is_staff": False},
    "superuser flag, not staff": {"is_staff": False, "is_superuser": True},
    "inactive staff superuser": {"is_staff": True, "is_superuser": True, "is_active": False},
}


@pytest.mark.parametrize("who", OUTSIDERS)
def test_only_active_staff_reach_the_admin(client: Client, runs: Runs, who: str) -> None:
    flags = OUTSIDERS[who]
    if flags is not None:
        outsider = user("outsider", **flags)
        assert client.login(username="outsider", password=PASSWORD) is outsider.is_active
        client.force_login(outsider)  # also a session from before the account lost its rights
    urls = ["/admin/", RUNS_URL, run_url(runs.inserted), reverse("admin:refs_annuityplan_changelist")]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(LOGIN_URL), (who, url)
    page = client.get(RUNS_URL, follow=True).content.decode()
    assert 'name="password"' in page and "2025年01月规模收入数据V2.xlsx" not in page


def test_staff_without_permissions_reach_the_index_but_no_record(client: Client, runs: Runs) -> None:
    client.force_login(user("newcomer", is_staff=True))
    assert client.get("/admin/").status_code == 200
    assert client.get(RUNS_URL).status_code == 403
    assert client.get(run_url(runs.inserted)).status_code == 403


# --- audit records are read-only for everyone ---------------------------------------------------


def audit_state() -> str:
    models = (BackfillRun, RunFile, RunTarget, RunKey, RunCell)
    return json.dumps([list(model.objects.order_by("pk").values()) for model in models], default=str)


def everything_allowed() -> User:
    staff = user("almighty", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="refs"))
    return staff


@pytest.mark.parametrize("who", ["superuser", "staff with every refs permission"])
def test_nobody_adds_changes_or_deletes_an_audit_record_through_the_admin(client: Client, runs: Runs, who: str) -> None:
    client.force_login(user("root", is_staff=True, is_superuser=True) if who == "superuser" else everything_allowed())
    before = audit_state()
    record = runs.failed
    change = {"status": RunStatus.SUCCEEDED, "error": "", "inserted_total": 99}
    attempts = [
        ("get", reverse("admin:refs_backfillrun_add"), {}),
        ("post", reverse("admin:refs_backfillrun_add"), {"command": "backfill_refs", **change}),
        ("post", run_url(record), change),
        ("get", run_url(record, "delete"), {}),
        ("post", run_url(record, "delete"), {"post": "yes"}),
    ]
    for method, url, data in attempts:
        assert getattr(client, method)(url, data).status_code == 403, (method, url)
    response = client.post(RUNS_URL, {"action": "delete_selected", "_selected_action": [r.pk for r in runs.all]})
    assert response.status_code in {200, 302, 403}
    assert audit_state() == before
    for model in (RunFile, RunTarget, RunKey, RunCell):  # their rows are reachable only through a run's page
        assert not admin.site.is_registered(model), model


# --- secrets ------------------------------------------------------------------------------------


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user_part, _, host_part = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user_part.split(':')[0]}:{password}@{host_part}"))


@pytest.mark.slow
def test_no_secret_or_connection_string_in_audit_records_or_run_output(
    warehouse: None, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    url = subprocess_env["DATABASE_URL"]
    # The configured password; without one, an invented one (a server that needs none ignores it).
    password = urlsplit(url).password or subprocess_env.get("PGPASSWORD") or "pw-" + secrets.token_hex(12)
    secret_key = "sk-" + secrets.token_urlsafe(40)
    env = {**subprocess_env, "DATABASE_URL": with_password(url, password), "SECRET_KEY": secret_key}
    env["WDH_LOG_LEVEL"] = "DEBUG"
    good = write_workbook(tmp_path / "2026年2月年金终稿数据.xlsx", [{"计划代码": "P0001"}])
    bad = write_workbook(tmp_path / "bad" / "2026年2月年金终稿数据.xlsx", [{"计划代码": "P0001"}], sheet="Sheet1")
    unreachable = "postgresql://wdh:" + password + "@127.0.0.1:9/wdh"
    runs = [
        (env, ["run_job", "--file", str(good), "--execute", "--backfill-refs", "all"]),
        (env, ["backfill_refs", "--file", str(good), "-v", "3"]),
        (env, ["run_job", "--file", str(bad), "--execute"]),
        ({**env, "DATABASE_URL": unreachable}, ["run_job", "--file", str(good), "--execute"]),
    ]
    outputs = []
    for run_env, args in runs:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=run_env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        outputs.append(done.stdout + done.stderr)
    assert "run_job execute: succeeded" in outputs[0] and "could not connect" not in outputs[0]
    assert "no sheet named '规模明细'" in outputs[2]
    assert "127.0.0.1" in outputs[3]  # it said where it could not connect …
    records = audit_state()
    assert BackfillRun.objects.count() == 3
    for text in [records, *outputs]:
        for secret in (password, secret_key, env["DATABASE_URL"], unreachable):
            assert secret not in text  # … but never with what


# --- settings -----------------------------------------------------------------------------------


def settings_of(env: dict[str, str], expression: str) -> str:
    """``expression`` over ``wdh.settings`` as a fresh process with ``env`` imports them."""
    code = f"import wdh.settings as s; print({expression})"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(("value", "debug"), [(None, "False"), ("0", "False"), ("no", "False"), ("1", "True")])
def test_debug_is_off_unless_asked_for(subprocess_env: dict[str, str], value: str | None, debug: str) -> None:
    env = {key: item for key, item in subprocess_env.items() if key != "DEBUG"}
    if value is not None:
        env["DEBUG"] = value
    assert settings_of(env, "s.DEBUG") == debug


def production_env(subprocess_env: dict[str, str], **changes: str | None) -> dict[str, str]:
    """The documented production environment (README "Environment"), with ``changes``."""
    env = {key: value for key, value in subprocess_env.items() if key not in {"DEBUG", "WDH_HTTPS"}}
    env.update({"SECRET_KEY": secrets.token_urlsafe(50), "WDH_HTTPS": "1", "ALLOWED_HOSTS": "example.org"})
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.slow
def test_check_deploy_is_clean_with_the_documented_production_settings(subprocess_env: dict[str, str]) -> None:
    done = check_deploy(production_env(subprocess_env))
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "warning"),
    [
        ({"WDH_HTTPS": None}, "security.W004"),  # no HSTS without HTTPS
        ({"DEBUG": "1"}, "security.W018"),
        ({"SECRET_KEY": "short"}, "security.W009"),
    ],
)
def test_check_deploy_fails_when_a_production_setting_is_missing(
    subprocess_env: dict[str, str], changes: dict[str, str | None], warning: str
) -> None:
    done = check_deploy(production_env(subprocess_env, **changes))
    assert done.returncode != 0 and warning in done.stderr
