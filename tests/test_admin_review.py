"""Runs a reviewer can read (issue 10 item 5), from real ``run_job`` / ``backfill_refs`` runs on
the real database: the run list names the command, says "would" for plan-only counts, gives a
failure's reason and the file a failed run opened; a run's page shows its row errors as a
paginated table, the rows read and valid, and the failure's step in words; ``show_run`` prints
the row errors and counts and wraps long key lists."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers, results
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from refs.models import BackfillRun, RunRowError
from refs.record_text import WIDTH
from refs.run_stages import stage_words
from tests.workbooks import HEADER, write_workbook

RUNS_URL = reverse("admin:refs_backfillrun_changelist")
NAME = "2026年02月规模收入数据.xlsx"
BAD_MONTH = "某月"


def good(n: int) -> dict[str, Any]:
    return {"计划代码": f"P{n:04d}", "组合代码": f"{9000 + n}"}


def job(*args: str, verbosity: int = 1) -> str:
    out = StringIO()
    call_command(*args, verbosity=verbosity, stdout=out, stderr=StringIO())
    return out.getvalue()


def columns(client: Client) -> dict[int, dict[str, str]]:
    """The run list as shown: run id → {column header: cell text}."""
    cl = client.get(RUNS_URL).context["cl"]
    headers = [str(header["text"]) for header in result_headers(cl)]
    return {
        run.pk: dict(zip(headers, (strip_tags(cell) for cell in row), strict=True))
        for run, row in zip(cl.result_list, results(cl), strict=True)
    }


def page(client: Client, run: BackfillRun, **params: str) -> str:
    response = client.get(reverse("admin:refs_backfillrun_change", args=[run.pk]), params)
    assert response.status_code == 200
    return str(response.content.decode())


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.index('<div class="module"', start + 1)]


@pytest.mark.parametrize("stage, words", [("read", "reading"), ("backfill plans", "backfilling plans"),
                                          ("facts", "loading facts"), ("derive portfolios", "deriving portfolios"),
                                          ("", "")])  # fmt: skip
def test_stage_words(stage: str, words: str) -> None:
    assert stage_words(stage) == words


def test_the_list_names_the_command_and_says_would_for_plan_only(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    path = write_workbook(tmp_path / NAME, [good(1), good(2)])
    job("run_job", "--file", str(path), "--backfill-refs", "plans")
    job("backfill_refs", "--file", str(path), "--targets", "plans", "--execute")
    planned, executed = BackfillRun.objects.order_by("id")
    rows = columns(admin_client)
    assert (rows[planned.pk]["command"], rows[planned.pk]["keys"]) == ("run_job", "would insert 2")
    assert (rows[executed.pk]["command"], rows[executed.pk]["keys"]) == ("backfill_refs", "2 inserted")
    assert rows[planned.pk]["files"] == rows[executed.pk]["files"] == "1"
    assert rows[planned.pk]["reason"] == rows[executed.pk]["reason"] == "—"


@pytest.fixture
def failed_while_reading(warehouse: None, tmp_path: Path) -> tuple[BackfillRun, Path]:
    header = [name for name in HEADER if name != "计划代码"]
    path = write_workbook(tmp_path / NAME, [good(1)], header=header)
    with pytest.raises(CommandError):
        job("run_job", "--file", str(path), "--execute")
    return BackfillRun.objects.get(), path


def test_an_execute_run_refused_by_the_workbook_check_says_so(warehouse: None, tmp_path: Path) -> None:
    """The workbook check runs before the lock; a file it refuses is reported in that step."""
    path = tmp_path / NAME
    path.write_text("not a workbook", encoding="utf-8")
    with pytest.raises(CommandError):
        job("run_job", "--file", str(path), "--execute")
    run = BackfillRun.objects.get()
    assert (run.status, run.stage, stage_words(run.stage)) == ("failed", "check", "checking the workbooks")


def test_a_failed_run_shows_the_file_it_opened_and_why_it_failed(
    failed_while_reading: tuple[BackfillRun, Path], admin_client: Client
) -> None:
    run, path = failed_while_reading
    assert run.status == "failed" and run.stage == "read" and "InputError" not in run.error_where
    row = columns(admin_client)[run.pk]
    assert row["files"] == "1"
    assert row["reason"].startswith("while reading: ") and "计划代码" in row["reason"]
    html = page(admin_client, run)
    error = html[html.index('id="error"') : html.index('id="totals"')]
    assert "Failed while reading" in error and "InputError" not in error
    assert str(path) in section(html, "files")


def test_a_failed_run_on_the_terminal(failed_while_reading: tuple[BackfillRun, Path]) -> None:
    run, path = failed_while_reading
    lines = job("show_run", str(run.pk)).splitlines()
    assert f"  file {path} ({path.stat().st_size} bytes, opened, not read to the end) []" in lines
    assert any(line.startswith("  error (while reading") and "计划代码" in line for line in lines)


@pytest.fixture
def with_row_errors(warehouse: None, tmp_path: Path) -> BackfillRun:
    rows = [good(n) for n in range(1, 121)] + [{**good(n), "月度": BAD_MONTH} for n in range(200, 305)]
    path = write_workbook(tmp_path / NAME, rows)
    job("run_job", "--file", str(path), "--backfill-refs", "plans")
    return BackfillRun.objects.get()


def test_row_errors_are_recorded_where_excel_shows_them(with_row_errors: BackfillRun) -> None:
    errors = list(RunRowError.objects.filter(run=with_row_errors))
    assert len(errors) == with_row_errors.row_errors == 105
    first = errors[0]
    assert (Path(first.file).name, first.sheet, first.row, first.column, first.value) == (
        NAME, "规模明细", 122, "月度", BAD_MONTH
    )  # fmt: skip
    assert [error.row for error in errors] == list(range(122, 227))  # header row 1, then 120 good rows


def test_the_run_page_shows_row_errors_as_a_paginated_table_and_the_counts(
    with_row_errors: BackfillRun, admin_client: Client
) -> None:
    html = page(admin_client, with_row_errors)
    totals = " ".join(strip_tags(section(html, "totals").split("</ul>")[0]).split())
    assert "225rows read" in totals and "120rows valid" in totals and "105rows failed cleansing" in totals
    table = section(html, "row-errors")
    assert '<th>File</th><th>Sheet</th><th class="num">Row</th><th>Column</th><th>Value</th><th>Message</th>' in table
    assert table.count("<tr><td>") == 100 and "1–100 of 105" in table and "errors_page=2" in table
    second = section(page(admin_client, with_row_errors, errors_page="2"), "row-errors")
    assert second.count("<tr><td>") == 5 and "101–105 of 105" in second
    assert f"<code>{BAD_MONTH}</code>" in second and ">226</td>" in second


def test_a_plan_only_page_speaks_in_the_conditional(with_row_errors: BackfillRun, admin_client: Client) -> None:
    html = page(admin_client, with_row_errors)
    assert "Fact rows that would be deleted" in html and "Fact rows deleted" not in html
    assert "rows that would be left out of the load" in section(html, "row-errors")


def test_show_run_prints_counts_and_row_errors(with_row_errors: BackfillRun) -> None:
    brief = job("show_run", str(with_row_errors.pk)).splitlines()
    assert "  rows: 225 read, 120 valid, 105 row error(s)" in brief
    listed = [line for line in brief if line.startswith(f"    {with_row_errors.files.get().path} [规模明细] row ")]
    assert len(listed) == 20 and "    … 85 more (-v 2 lists all)" in brief
    assert "row 122, column 月度: " in listed[0] and repr(BAD_MONTH) in listed[0]
    full = job("show_run", str(with_row_errors.pk), verbosity=2).splitlines()
    assert sum(" [规模明细] row " in line for line in full) == 105


def test_show_run_wraps_a_long_key_list(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / NAME, [good(n) for n in range(1, 401)])
    job("run_job", "--file", str(path), "--backfill-refs", "plans")
    lines = job("show_run", "--latest", verbosity=2).splitlines()
    keys = [line for line in lines if line.startswith(("  keys: ", "        plans:"))]
    assert len(keys) > 1 and max(map(len, keys)) <= WIDTH
    assert " ".join(keys).count("plans:P") == 400
