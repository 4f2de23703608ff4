"""Rejected rows as a workbook to correct (issue 10 item 6): every run with row errors keeps
each rejected row's cells as read, and gives them back as an ``.xlsx`` from ``show_run N
--rejects PATH`` and from the run's admin page — Excel's row number, the column, the problem,
then the row's original columns and values."""

from __future__ import annotations

import io
import socket
from datetime import date, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from facts.cleansing import RowError
from facts.excel import CellError
from refs.audit import audit_row_errors
from refs.models import BackfillRun, RunFile, RunRowError
from refs.rejects import FIXED_COLUMNS, SHEET_TITLE, rejects_workbook
from tests.test_backfill import ROWS, run, run_failing
from tests.workbooks import HEADER, write_workbook

FILE_NAME = "2026年2月年金终稿数据.xlsx"
BAD_ROWS: list[dict[str, Any]] = [
    {"计划代码": "P0005", "月度": "2026年13月", "客户名称": "戊公司"},  # refused while streaming
    {"计划代码": "P0006", "供款": "abc", "组合代码": "QX01"},
    {"计划代码": "P0007", "机构代码": "G" + "1" * 10},  # refused after cleansing: too wide for 主拓代码
]
REFUSED = {6: "月度", 7: "供款", 8: "机构代码"}  # Excel row → refused column
PASSWORD = "pw-rejects-1"


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / FILE_NAME, [*ROWS, *BAD_ROWS])


def excel_rows(path: Path, sheet: str | None = None) -> list[list[Any]]:
    book = openpyxl.load_workbook(path)
    return [list(row) for row in (book[sheet] if sheet else book.active).iter_rows(values_only=True)]


def rejected(content: Path | io.BytesIO) -> openpyxl.worksheet.worksheet.Worksheet:
    return openpyxl.load_workbook(content)[SHEET_TITLE]


def assert_rejects_match_the_source(sheet: Any, source: Path) -> None:
    original = excel_rows(source, "规模明细")
    header = [cell.value for cell in sheet[1]]
    assert header == [*FIXED_COLUMNS, *HEADER]
    lines = list(sheet.iter_rows(min_row=2))
    assert [line[2].value for line in lines] == list(REFUSED)
    for line in lines:
        file, sheet_name, row, column, problem = (cell.value for cell in line[:5])
        assert (file, sheet_name, column) == (str(source), "规模明细", REFUSED[row]) and problem
        assert [cell.value for cell in line[5:]] == original[row - 1]  # every cell as the source has it
        highlighted = [header[cell.column - 1] for cell in line[5:] if cell.fill.fgColor.rgb == "00FFFF99"]
        assert highlighted == [REFUSED[row]]


def test_show_run_writes_each_rejected_row_with_its_original_values(
    warehouse: None, workbook: Path, tmp_path: Path
) -> None:
    summary = run("run_job", "--file", str(workbook), "--backfill-refs", "all", "--execute")
    assert summary["row_errors"]["count"] == 3 and summary["facts"]["inserted"] == len(ROWS)
    out = StringIO()
    call_command("show_run", str(summary["audit_id"]), "--rejects", str(tmp_path / "fix.xlsx"), stdout=out)
    assert (
        out.getvalue().strip()
        == f"wrote 3 rejected row(s) of audit record {summary['audit_id']} to {tmp_path / 'fix.xlsx'}"
    )
    assert_rejects_match_the_source(rejected(tmp_path / "fix.xlsx"), workbook)


def test_a_plan_only_run_keeps_its_rejects_too(warehouse: None, workbook: Path, tmp_path: Path) -> None:
    summary = run("backfill_refs", "--file", str(workbook))
    assert RunRowError.objects.filter(run_id=summary["audit_id"]).count() == 3
    call_command("show_run", "--latest", "--rejects", str(tmp_path / "fix.xlsx"), stdout=StringIO())
    assert_rejects_match_the_source(rejected(tmp_path / "fix.xlsx"), workbook)


def test_a_run_without_row_errors_gives_a_workbook_with_only_the_header(warehouse: None, tmp_path: Path) -> None:
    summary = run("backfill_refs", "--file", str(write_workbook(tmp_path / FILE_NAME, ROWS)))
    call_command("show_run", str(summary["audit_id"]), "--rejects", str(tmp_path / "fix.xlsx"), stdout=StringIO())
    assert excel_rows(tmp_path / "fix.xlsx") == [[*FIXED_COLUMNS, *HEADER]]


def test_a_run_refused_for_mostly_invalid_rows_keeps_them_to_correct(warehouse: None, tmp_path: Path) -> None:
    source = write_workbook(tmp_path / FILE_NAME, [ROWS[0], *BAD_ROWS[:2]])  # 2 of 3 rows invalid
    error, summary = run_failing("run_job", "--file", str(source), "--execute")
    assert error.returncode == 2 and "more than half" in summary["error"]["message"]
    assert summary["facts"] is None and summary["row_errors"]["count"] == 2
    call_command("show_run", str(summary["audit_id"]), "--rejects", str(tmp_path / "fix.xlsx"), stdout=StringIO())
    lines = excel_rows(tmp_path / "fix.xlsx")
    original = excel_rows(source, "规模明细")
    assert [line[2] for line in lines[1:]] == [3, 4]
    assert [line[5:] for line in lines[1:]] == [original[2], original[3]]


def a_run(**fields: Any) -> BackfillRun:
    return BackfillRun.objects.create(
        command="run_job", domain="annuity_performance", mode="plan_only", started_at=timezone.now(),
        user="test", host=socket.gethostname(), via="terminal", pid=1, config_path="", config_digest="", **fields,
    )  # fmt: skip


def test_a_run_recorded_before_rejects_were_kept_is_refused_not_an_empty_workbook(db: None, tmp_path: Path) -> None:
    old = a_run(row_errors=2)
    with pytest.raises(CommandError, match="kept no rejected rows") as caught:
        call_command("show_run", str(old.pk), "--rejects", str(tmp_path / "fix.xlsx"), stdout=StringIO())
    assert caught.value.returncode == 2 and not (tmp_path / "fix.xlsx").exists()


def test_cells_come_back_with_their_type_and_text_stays_text(db: None, tmp_path: Path) -> None:
    """Whatever a cell held reaches the workbook as a value of its type; text that looks like a
    formula or an error stays text, and characters no .xlsx can hold (NUL …) are shown escaped."""
    header = ("日期", "时间戳", "公式样", "错误样", "公式错误", "控制符", "数", "真假", "空")
    source = (date(2026, 2, 1), datetime(2026, 2, 1, 8, 30), "=HYPERLINK(\"http://x\")", "#N/A",
              CellError("#DIV/0!"), "a\x00b\x07c", 12.5, True, None)  # fmt: skip
    record = a_run(row_errors=1)
    RunFile.objects.create(run=record, path="/in.xlsx", size=1, sha256="0" * 64, sheet="规模明细", header=header)
    error = RowError("/in.xlsx", "规模明细", 9, "控制符", "a\x00b\x07c", "bad 'a\x00b\x07c'", source=source)
    assert audit_row_errors(record, [error]) == 1
    assert rejects_workbook(record, tmp_path / "fix.xlsx") == 1
    line = next(rejected(tmp_path / "fix.xlsx").iter_rows(min_row=2))
    assert [cell.value for cell in line] == [
        "/in.xlsx", "规模明细", 9, "控制符", "bad 'a\\x00b\\x07c'",
        datetime(2026, 2, 1), datetime(2026, 2, 1, 8, 30), "=HYPERLINK(\"http://x\")", "#N/A", "#DIV/0!",
        "a\\x00b\\x07c", 12.5, True, None,
    ]  # fmt: skip
    assert [cell.data_type for cell in line[7:11]] == ["s", "s", "s", "s"]


@pytest.fixture
def reviewer_client(db: None) -> Client:
    User.objects.create_superuser("reviewer", password=PASSWORD)
    client = Client()
    client.login(username="reviewer", password=PASSWORD)
    return client


def test_the_run_page_offers_the_rejects_for_download(warehouse: None, workbook: Path, reviewer_client: Client) -> None:
    summary = run("backfill_refs", "--file", str(workbook))
    page = reviewer_client.get(reverse("admin:refs_backfillrun_change", args=[summary["audit_id"]]))
    url = reverse("run_rejects", args=[summary["audit_id"]])
    assert f'id="rejects-download" href="{url}"' in page.content.decode()
    response = reviewer_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == f'attachment; filename="run-{summary["audit_id"]}-rejected-rows.xlsx"'
    assert_rejects_match_the_source(rejected(io.BytesIO(response.content)), workbook)


def test_only_staff_who_may_view_runs_can_download_rejects(db: None) -> None:
    record = a_run(row_errors=0)
    url = reverse("run_rejects", args=[record.pk])
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("admin:login"))
    for name, staff, codenames in [("clerk", False, ["view_backfillrun"]), ("editor", True, ["view_annuityplan"])]:
        user = User.objects.create_user(name, password=PASSWORD, is_staff=staff)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.login(username=name, password=PASSWORD)
        assert client.get(url).status_code == (302 if not staff else 403), name
    viewer = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_backfillrun"))
    client = Client()
    client.login(username="viewer", password=PASSWORD)
    assert client.get(url).status_code == 200
    assert client.get(reverse("run_rejects", args=[record.pk + 1000])).status_code == 404
