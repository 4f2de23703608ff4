"""Characters a cell can hold that PostgreSQL cannot store, or that act on a terminal (issue 9, item 3).

Workbooks spell such characters as ``_xHHHH_`` (Excel's escape in the XML); the reader turns
them back into the character, exactly as it does for a file saved by Excel.
"""

from __future__ import annotations

import json
import unicodedata
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from facts.cleansing import CellProblem, clean_text
from refs.models import BackfillRun, RunStatus
from tests.test_backfill import run
from tests.workbooks import write_workbook
from wdh.escaping import ESCAPED_CATEGORIES, json_printable, printable

FILE_NAME = "2026年2月年金终稿数据.xlsx"
EXECUTE = ("--execute", "--backfill-refs", "all", "--verbosity", "2")
ESC_PLAN = "P0_x001B_[2J01"  # ESC [ 2 J: "clear the screen"
ESC_PLAN_VALUE = "P0\x1b[2J01"
RLO_PORTFOLIO = "Z9\u202e1"  # U+202E RIGHT-TO-LEFT OVERRIDE: shows the rest of the line reversed


def raw_controls(text: str) -> list[str]:
    """The characters of ``text`` that would act on a terminal (line feeds aside)."""
    return [char for char in text if char != "\n" and unicodedata.category(char) in ESCAPED_CATEGORIES]


def test_a_nul_in_a_data_cell_is_a_row_error_and_the_run_succeeds(warehouse: None, tmp_path: Path) -> None:
    rows = [
        {"计划代码": "P0001", "组合代码": "1"},
        {"计划代码": "P0002", "组合代码": "2", "客户名称": "甲_x0000_公司"},
        {"计划代码": "P0003", "组合代码": "3", "计划名称": "_x0000_"},
        {"计划代码": "P0004", "组合代码": "4"},
        {"计划代码": "P0005", "组合代码": "5"},
    ]
    summary = run("run_job", "--file", str(write_workbook(tmp_path / FILE_NAME, rows)), *EXECUTE)
    assert summary["status"] == "succeeded" and summary["exit_code"] == 0, summary["error"]
    items = [(item["row"], item["column"], item["value"]) for item in summary["row_errors"]["items"]]
    assert items == [(3, "客户名称", "甲\\x00公司"), (4, "计划名称", "\\x00")]
    assert all("NUL" in item["message"] for item in summary["row_errors"]["items"])
    assert summary["facts"]["inserted"] == 3
    record = BackfillRun.objects.get(pk=summary["audit_id"])  # the audit record keeps the escaped value
    assert record.status == RunStatus.SUCCEEDED
    assert record.summary["row_errors"]["items"][0]["value"] == "甲\\x00公司"


def test_a_nul_row_error_in_text_output_shows_the_value_escaped(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "P0001", "组合代码": "1"}, {"客户名称": "甲_x0000_"}])
    out = StringIO()
    call_command("run_job", "--file", str(path), *EXECUTE, stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "row 3, column 客户名称: contains a NUL character" in text and "(value '甲\\x00')" in text
    assert raw_controls(text) == []


@pytest.mark.parametrize("value", ["a\x00b", "a\ud800b", "\udfff"])
def test_text_postgresql_cannot_store_is_a_cell_problem(value: str) -> None:
    with pytest.raises(CellProblem, match="PostgreSQL cannot store"):
        clean_text(value)


def keys_workbook(tmp_path: Path) -> Path:
    """Control and bidi characters in a code (a row error since the hostile pass on categories: no code holds a control
    character), in a month (a row error) and in text loaded as it is (计划名称, 客户名称)."""
    rows = [
        {"计划代码": ESC_PLAN, "组合代码": "Z91", "计划名称": "计划_x001B_]0;owned_x0007_"},
        {"计划代码": "P0002", "组合代码": RLO_PORTFOLIO, "客户名称": "乙\u202e公司", "月度": "2026\u202e02"},
        {"计划代码": "P0003", "组合代码": RLO_PORTFOLIO, "计划名称": "计划_x001B_]0;owned_x0007_"},
        {"计划代码": "P0004", "组合代码": "Z92", "客户名称": "乙\u202e公司"},
    ]
    return write_workbook(tmp_path / FILE_NAME, rows)


def test_text_output_escapes_control_and_bidi_characters(warehouse: None, tmp_path: Path) -> None:
    out = StringIO()
    call_command("run_job", "--file", str(keys_workbook(tmp_path)), *EXECUTE, stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert raw_controls(text) == []
    assert "P0\\x1b[2J01" in text  # the refused code, as its characters
    assert "\\u202e" in text


def test_json_output_escapes_them_and_keeps_the_values(warehouse: None, tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "run_job", "--file", str(keys_workbook(tmp_path)), *EXECUTE, "--format", "json", stdout=out, stderr=StringIO()
    )
    document = out.getvalue()
    assert raw_controls(document) == []
    summary: dict[str, Any] = json.loads(document)
    plans = next(target for target in summary["backfill"]["targets"] if target["target"] == "plans")
    assert plans["keys"] == ["P0003", "P0004"]  # no key holds a control character
    (error, _) = summary["row_errors"]["items"]
    assert (error["row"], error["column"], error["value"]) == (2, "计划代码", printable(ESC_PLAN_VALUE))
    assert "control character \\x1b" in error["message"]


def test_json_printable_keeps_every_value() -> None:
    value = {"k": "a\x7f\x85\u202e\u2066\u2028\U000e0001\x00\x1b\n", "ok": "甲 公司"}
    document = json_printable(json.dumps(value, ensure_ascii=False, indent=2))
    assert raw_controls(document) == [] and json.loads(document) == value


def test_printable_escapes_as_python_writes_the_character() -> None:
    assert printable("a\x1b[31mb\x00\x7f\x9b\u202e\u2069\ufeff\u200b\U000e0001") == (
        "a\\x1b[31mb\\x00\\x7f\\x9b\\u202e\\u2069\\ufeff\\u200b\\U000e0001"
    )
    assert printable("甲\u3000乙 丙") == "甲\u3000乙 丙"  # visible spacing is not a control
    assert printable("a\nb") == "a\\nb" and printable("a\nb", newlines=True) == "a\nb"
