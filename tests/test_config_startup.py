"""Commands start whatever state the configuration and the database are in (issue 10 items 1
and 2), proved with real ``manage.py`` processes: Django's system checks run there (they do not
under ``call_command``), and so does a fresh connection to the database named by DATABASE_URL.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from refs.models import BackfillRun, RunStatus
from tests.processes import session, wait_until

DOMAIN = "domains.annuity_performance"
SHIPPED = Path(settings.BASE_DIR) / "wdh" / "data_sources.yml"


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def broken(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped configuration and its mapping files, with one edit."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    shutil.copytree(SHIPPED.parent / "mappings", tmp_path / "mappings")
    path = tmp_path / "data_sources.yml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.fixture
def bad_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(configuration file, key path of its mistake) for each kind of mistake of issue 10."""
    kind = request.param
    cases = {
        "unknown key": ("    sheet: 规模明细\n", "    sheet: 规模明细\n    colour: blue\n", f"{DOMAIN}.colour"),
        "bad agg": ("agg: concat_distinct", "agg: concatenate", f"{DOMAIN}.refs.plans.columns.管理资格.agg"),
        "bad updatable": ("[计划全称, 计划类型,", "[计划全称, 计划简称,", f"{DOMAIN}.refs.plans.updatable[1]"),
        "broken YAML": ("domains:\n", "domains: [\n", "(file)"),
    }
    if kind == "missing file":
        yield tmp_path / "absent.yml", "(file)"
        return
    old, new, where = cases[kind]
    yield broken(tmp_path, old, new), where


KINDS = ["unknown key", "bad agg", "bad updatable", "broken YAML", "missing file"]


@pytest.mark.parametrize("bad_config", KINDS, indirect=True)
def test_a_configuration_mistake_is_exit_2_with_json_and_an_audit_record(
    transactional_db: None, subprocess_env: dict[str, str], bad_config: tuple[Path, str]
) -> None:
    path, where = bad_config
    env = {**subprocess_env, "WDH_DATA_SOURCES": str(path)}
    done = manage(env, "run_job", "--execute", "--backfill-refs", "all", "--format", "json")
    assert done.returncode == 2, done.stderr
    assert "SystemCheckError" not in done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "failed" and summary["exit_code"] == 2
    assert summary["error"]["where"] == where
    run = BackfillRun.objects.get(pk=summary["audit_id"])
    assert run.status == RunStatus.FAILED and run.error_where == where
    assert run.config_path == str(path)


@pytest.mark.parametrize("bad_config", ["bad updatable"], indirect=True)
def test_backfill_refs_in_text_names_the_key_path(
    transactional_db: None, subprocess_env: dict[str, str], bad_config: tuple[Path, str]
) -> None:
    path, where = bad_config
    done = manage({**subprocess_env, "WDH_DATA_SOURCES": str(path)}, "backfill_refs")
    assert done.returncode == 2
    assert f"{where}: '计划简称' has no derivation rule" in done.stderr
    assert "failed — audit record" in done.stdout
    assert BackfillRun.objects.get().error_where == where


@pytest.mark.parametrize("bad_config", ["unknown key"], indirect=True)
def test_show_run_and_abandon_runs_work_with_a_broken_configuration(
    transactional_db: None, subprocess_env: dict[str, str], bad_config: tuple[Path, str]
) -> None:
    path, where = bad_config
    env = {**subprocess_env, "WDH_DATA_SOURCES": str(path)}
    assert manage(env, "run_job").returncode == 2
    shown = manage(env, "show_run", "--latest")
    assert shown.returncode == 0, shown.stderr
    assert f"error (while checking the configuration and tables; {where})" in shown.stdout
    abandoned = manage(env, "abandon_runs")
    assert abandoned.returncode == 0, abandoned.stderr
    assert "no unfinished run" in abandoned.stderr


@pytest.mark.parametrize("bad_config", ["bad agg", "missing file"], indirect=True)
def test_check_still_reports_the_configuration(subprocess_env: dict[str, str], bad_config: tuple[Path, str]) -> None:
    path, where = bad_config
    done = manage({**subprocess_env, "WDH_DATA_SOURCES": str(path)}, "check")
    assert done.returncode == 1
    assert "wdh.E001" in done.stderr and where in done.stderr


@pytest.mark.parametrize("bad_config", ["broken YAML"], indirect=True)
def test_the_admin_lists_runs_with_a_broken_configuration(
    admin_client: Any, settings: Any, bad_config: tuple[Path, str]
) -> None:
    from wdh.config import clear_config_cache

    settings.WDH_DATA_SOURCES = bad_config[0]
    clear_config_cache()
    try:
        response = admin_client.get(reverse("admin:refs_backfillrun_changelist"))
        plans = admin_client.get(reverse("admin:refs_annuityplan_changelist"))
    finally:
        clear_config_cache()
    assert response.status_code == 200 and plans.status_code == 200


@pytest.fixture
def empty_database(subprocess_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The environment of a process whose DATABASE_URL names a database where migrate never ran."""
    name = f"{connection.settings_dict['NAME']}_unmigrated"
    admin = session(autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = subprocess_env["DATABASE_URL"]
    head, _, tail = url.partition(connection.settings_dict["NAME"])
    yield {**subprocess_env, "DATABASE_URL": f"{head}{name}{tail}"}
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


NO_TABLES = "the database has no wdh tables: run `python manage.py migrate`"


@pytest.mark.parametrize(
    "args", [("run_job", "--format", "json"), ("backfill_refs",), ("show_run", "--latest"), ("abandon_runs",)]
)
def test_an_unmigrated_database_says_run_migrate(empty_database: dict[str, str], args: tuple[str, ...]) -> None:
    done = manage(empty_database, *args)
    assert done.returncode == 2
    assert NO_TABLES in done.stderr
    assert "Traceback" not in done.stderr and "cannot reach" not in done.stderr


UNREACHABLE = "postgresql://wdh@/wdh?host=/nonexistent-wdh-socket-dir"


@pytest.mark.parametrize("args", [("run_job",), ("show_run", "1"), ("abandon_runs",)])
def test_an_unreachable_database_is_one_sentence(subprocess_env: dict[str, str], args: tuple[str, ...]) -> None:
    done = manage({**subprocess_env, "DATABASE_URL": UNREACHABLE}, *args)
    assert done.returncode == 1
    assert "cannot reach the database" in done.stderr and "DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("bad_config", ["bad agg"], indirect=True)
def test_runserver_serves_the_admin_with_a_broken_configuration(
    transactional_db: None, subprocess_env: dict[str, str], bad_config: tuple[Path, str]
) -> None:
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR, env={**subprocess_env, "WDH_DATA_SOURCES": str(bad_config[0])},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    statuses: list[int] = []

    def answered() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"runserver ended (exit {server.returncode}):\n{server.communicate()[1]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as response:
                statuses.append(response.status)
        except OSError:
            return False
        return True

    try:
        wait_until(answered, timeout=60, what="runserver answers")
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert statuses == [200]


def test_a_database_behind_the_migrations_says_run_migrate(empty_database: dict[str, str]) -> None:
    migrated = manage(empty_database, "migrate", "refs", "0001")
    assert migrated.returncode == 0, migrated.stderr
    for args in (("show_run", "--latest"), ("run_job",)):
        done = manage(empty_database, *args)
        assert done.returncode == 2
        assert "the database's wdh tables are behind this version" in done.stderr
        assert "refs.0002_audit_indexes" in done.stderr and "run `python manage.py migrate`" in done.stderr
