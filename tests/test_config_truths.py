"""Smaller truths (issue 10 item 8): what the commands say and record is exactly what happened —
absolute paths and the working directory, real key paths instead of placeholders, fixes that
fit the cause, the header spellings accepted, the ids that exist, the plan-only help, and
``--check``'s exit code 4 in its own JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from refs.models import BackfillRun
from tests.test_backfill import ROWS, run_failing
from tests.workbooks import HEADER, write_workbook
from wdh.docs import command_help

FILE_NAME = "2026年2月年金终稿数据.xlsx"
SCHEMA = json.loads((Path(settings.BASE_DIR) / "wdh" / "run_schema.json").read_text(encoding="utf-8"))


def test_relative_paths_are_recorded_absolute_with_the_working_directory(
    transactional_db: None, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    write_workbook(tmp_path / "month" / FILE_NAME, ROWS)
    done = subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "run_job",
         "--file", f"month/{FILE_NAME}", "--format", "json"],
        cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = BackfillRun.objects.get(pk=json.loads(done.stdout)["audit_id"])
    assert run.options["files"] == [str(tmp_path / "month" / FILE_NAME)]
    assert run.working_dir == str(tmp_path)
    assert run.files.get().path == str(tmp_path / "month" / FILE_NAME)


def test_a_relative_data_dir_is_recorded_absolute(transactional_db: None, monkeypatch: Any, tmp_path: Path) -> None:
    write_workbook(tmp_path / "month" / FILE_NAME, ROWS)
    monkeypatch.chdir(tmp_path)
    call_command("run_job", "--data-dir", "month", "--format", "json", stdout=StringIO(), stderr=StringIO())
    run = BackfillRun.objects.get()
    assert run.options["data_dir"] == str(tmp_path / "month")
    assert run.working_dir == str(tmp_path)


def test_a_missing_sheet_names_the_real_key_path(db: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS, sheet="Sheet1")
    error, _ = run_failing("run_job", "--file", str(path))
    assert "Pass the right one with --sheet or set domains.annuity_performance.sheet" in str(error)
    assert "<domain>" not in str(error)


def test_a_missing_data_dir_does_not_tell_to_pass_data_dir(db: None, tmp_path: Path) -> None:
    error, _ = run_failing("run_job", "--data-dir", str(tmp_path / "absent"))
    assert f"data directory {tmp_path / 'absent'} (from --data-dir) does not exist" in str(error)
    assert "pass an existing folder to --data-dir" in str(error)
    assert "or pass --data-dir" not in str(error)


def test_a_missing_column_lists_the_spellings_accepted(db: None, tmp_path: Path) -> None:
    header = [name for name in HEADER if name != "计划代码"]
    path = write_workbook(tmp_path / FILE_NAME, ROWS, header=header)
    error, _ = run_failing("run_job", "--file", str(path))
    assert "lacks the required column(s) 计划代码 or 计划号" in str(error)


def test_show_run_of_an_unknown_id_says_which_ids_exist(transactional_db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError) as empty:
        call_command("show_run", "9999", stdout=StringIO())
    assert "there are no audit records yet" in str(empty.value)
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    for _ in range(2):
        call_command("run_job", "--file", str(path), "--format", "json", stdout=StringIO(), stderr=StringIO())
    first, last = sorted(BackfillRun.objects.values_list("pk", flat=True))
    with pytest.raises(CommandError) as unknown:
        call_command("show_run", "9999", stdout=StringIO())
    assert unknown.value.returncode == 2
    assert f"no audit record 9999; 2 record(s) exist, ids {first}–{last}" in str(unknown.value)


@pytest.mark.parametrize("command", ["run_job", "backfill_refs"])
def test_plan_only_help_says_an_audit_record_is_written(command: str) -> None:
    text = " ".join(command_help(command).split())
    assert "nothing is written to the warehouse (an audit record is)" in text


def test_check_exit_code_4_is_in_its_json_and_the_schema_allows_it(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    error, summary = run_failing("backfill_refs", "--file", str(path), "--check")
    assert error.returncode == 4
    assert summary["exit_code"] == 4 and summary["status"] == "planned"
    jsonschema.validate(summary, SCHEMA)
    assert BackfillRun.objects.get(pk=summary["audit_id"]).summary["exit_code"] == 4
