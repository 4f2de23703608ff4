"""The operator's side (issue 4): the JSON schema on real runs, every documented exit code from a
real process, progress only on a terminal, one log line per run, a README in sync with --help."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from tests.test_backfill import ROWS, run, run_failing
from tests.test_concurrency import other_session
from tests.workbooks import write_workbook
from wdh.docs import command_reference, readme_block
from wdh.postgres import BACKFILL_LOCK_KEY

SCHEMA = json.loads((Path(settings.BASE_DIR) / "wdh" / "run_schema.json").read_text(encoding="utf-8"))
FILE_NAME = "2026年2月年金终稿数据.xlsx"


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / FILE_NAME, ROWS)


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_json_of_plan_only_and_execute_runs_follows_the_schema(warehouse: None, workbook: Path) -> None:
    for args in (["--backfill-refs", "all"], ["--backfill-refs", "all", "--execute"], ["--execute"]):
        summary = run("run_job", "--file", str(workbook), *args, "--verbosity", "2")
        jsonschema.validate(summary, SCHEMA)
    summary = run("backfill_refs", "--file", str(workbook), "--mode", "fill_null_only")
    jsonschema.validate(summary, SCHEMA)
    assert summary["schema"] == "wdh.run/2" and summary["facts"] is None


def test_json_of_failed_and_refused_runs_follows_the_schema(warehouse: None, workbook: Path, tmp_path: Path) -> None:
    error, failed = run_failing("run_job", "--file", str(tmp_path / "absent.xlsx"), "--execute")
    jsonschema.validate(failed, SCHEMA)
    assert (failed["status"], failed["exit_code"], error.returncode) == ("failed", 2, 2)
    holder = other_session()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [BACKFILL_LOCK_KEY])
        error, refused = run_failing("backfill_refs", "--file", str(workbook), "--execute")
    finally:
        holder.close()
    jsonschema.validate(refused, SCHEMA)
    assert (refused["status"], refused["exit_code"], error.returncode) == ("refused_locked", 3, 3)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_every_documented_exit_code_comes_from_a_real_process(
    warehouse: None, workbook: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    file = ["--file", str(workbook)]
    assert manage(subprocess_env, "backfill_refs", *file).returncode == 0
    pending = manage(subprocess_env, "backfill_refs", *file, "--check")
    assert pending.returncode == 4, pending.stderr
    assert manage(subprocess_env, "backfill_refs", "--file", str(tmp_path / "absent.xlsx")).returncode == 2
    assert manage(subprocess_env, "run_job", "--plan-only", "--execute").returncode == 2  # argparse usage error
    holder = other_session()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [BACKFILL_LOCK_KEY])
        assert manage(subprocess_env, "backfill_refs", *file, "--execute").returncode == 3
    finally:
        holder.close()
    with connection.cursor() as cursor:  # a CHECK constraint: what the preflight leaves to the database
        cursor.execute('ALTER TABLE "mapping"."年金计划" ADD CONSTRAINT "短名" CHECK (length("计划全称") <= 2)')
    try:
        failed = manage(subprocess_env, "backfill_refs", *file, "--execute")
    finally:
        with connection.cursor() as cursor:
            cursor.execute('ALTER TABLE "mapping"."年金计划" DROP CONSTRAINT "短名"')
    assert failed.returncode == 1 and "violates check constraint" in failed.stderr
    done = manage(subprocess_env, "backfill_refs", *file, "--execute")
    assert done.returncode == 0, done.stderr
    assert manage(subprocess_env, "backfill_refs", *file, "--check").returncode == 0  # nothing pending now


def test_progress_goes_to_a_terminal_only_and_never_in_json(warehouse: None, workbook: Path) -> None:
    shown, quiet, as_json = Terminal(), StringIO(), Terminal()
    call_command("run_job", "--file", str(workbook), stdout=StringIO(), stderr=shown)
    call_command("run_job", "--file", str(workbook), stdout=StringIO(), stderr=quiet)
    call_command("run_job", "--file", str(workbook), "--format", "json", stdout=StringIO(), stderr=as_json)
    assert f"reading {FILE_NAME}" in shown.getvalue()
    assert quiet.getvalue() == "" and as_json.getvalue() == ""


def test_one_info_log_line_per_run_names_the_audit_record(
    warehouse: None, workbook: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="wdh"):
        summary = run("backfill_refs", "--file", str(workbook), "--execute")
    lines = [record.getMessage() for record in caplog.records if record.name == "wdh.jobs"]
    assert lines == [f"run {summary['audit_id']} backfill_refs execute: succeeded (exit 0)"]


def test_show_run_prints_the_record_and_where_to_review_it(warehouse: None, workbook: Path) -> None:
    summary = run("backfill_refs", "--file", str(workbook), "--execute")
    out = StringIO()
    call_command("show_run", "--latest", stdout=out)
    text = out.getvalue()
    assert f"audit record {summary['audit_id']}: backfill_refs execute — succeeded" in text
    assert f"/admin/refs/backfillrun/{summary['audit_id']}/change/" in text
    assert "plans:P0001" in text


def test_readme_command_reference_matches_every_commands_help() -> None:
    readme = Path(settings.BASE_DIR) / "README.md"
    assert readme_block(readme) == command_reference(), "run: python manage.py command_reference --write"


def test_readme_documents_every_exit_code() -> None:
    from wdh.errors import ExitCode

    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"\n| {int(code)} | " in readme, code


@pytest.mark.slow
def test_an_unreachable_database_is_a_clear_failure(workbook: Path, subprocess_env: dict[str, str]) -> None:
    """No server at DATABASE_URL: exit 1 and a sentence saying so, not a traceback."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**subprocess_env, "DATABASE_URL": f"postgresql://wdh:secret-word@127.0.0.1:{port}/wdh"}
    result = manage(env, "run_job", "--file", str(workbook), "--execute")
    assert result.returncode == 1, result.stderr
    assert "cannot reach the database (" in result.stderr
    assert "Traceback" not in result.stderr and "secret-word" not in result.stderr
