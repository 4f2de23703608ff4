"""Two identical runs give identical tables although the second reads 组织架构 back (hostile
pass, item 3): the branches backfill names a code only with a 机构名称 the run gives under that code
alone, and never names G00, the fallback of rows without a branch code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import connection

from refs.derivation import derive_candidates
from tests.test_backfill import by_target, run
from tests.workbooks import write_workbook
from wdh.config import get_config

FILE_NAME = "2026年2月年金终稿数据.xlsx"
EXECUTE = ("--execute", "--backfill-refs", "all")
ROWS: list[dict[str, Any]] = [
    {"计划代码": "P0001", "组合代码": "1", "机构": "甲城", "机构代码": None},  # G00 (fallback)
    {"计划代码": "P0002", "组合代码": "2", "机构": "甲城", "机构代码": "G71"},  # 甲城 under two codes
    {"计划代码": "P0003", "组合代码": "3", "机构": "乙城", "机构代码": "G72"},  # 乙城 under G72 only
    {"计划代码": "P0004", "组合代码": "4", "机构": "乙城", "机构代码": "G72"},
    {"计划代码": "P0005", "组合代码": "5", "机构": "丙城", "机构代码": None},  # only ever G00
    {"计划代码": "P0006", "组合代码": "6", "机构": "丁城", "机构代码": "G73"},  # 甲城 first, then 丁城
    {"计划代码": "P0007", "组合代码": "7", "机构": "甲城", "机构代码": "G73"},
]


def table(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def tables() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every fact row but its identity id (a second load numbers its rows anew), as text, and 组织架构."""
    facts = table('SELECT (to_jsonb(f) - \'id\')::text FROM business."规模明细" f ORDER BY "计划代码"')
    branches = table('SELECT * FROM mapping."组织架构" ORDER BY "机构代码"')
    return facts, branches


def test_two_identical_runs_give_identical_fact_and_branch_tables(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    first = run("run_job", "--file", str(path), *EXECUTE)
    assert first["exit_code"] == 0, first["error"]
    after_first = tables()
    codes = [json.loads(row[0])["机构代码"] for row in after_first[0]]
    assert codes == ["G00", "G71", "G72", "G72", "G00", "G73", "G73"]
    named = {code: name for code, name, *_ in table('SELECT "机构代码", "机构" FROM mapping."组织架构"')}
    assert named == {"G00": None, "G71": None, "G72": "乙城", "G73": "丁城"}
    warnings = "\n".join(by_target(first)["branches"]["warnings"])
    assert "branches G00: 机构 left empty — head-office default" in warnings
    assert "branches G71: 机构 left empty — each also appears under another key" in warnings
    second = run("run_job", "--file", str(path), *EXECUTE)
    assert second["exit_code"] == 0, second["error"]
    assert tables() == after_first


def test_first_unique_skips_values_under_several_keys_and_shared_keys() -> None:
    target = get_config().domain("annuity_performance").refs["branches"]
    rows = [{"机构代码": code, "机构名称": name} for code, name in ROWS_PAIRS]
    derivation = derive_candidates(rows, target, shared={"G00": "head-office default"})
    assert {key: candidate["机构"] for key, candidate in derivation.candidates.items()} == {
        "G00": None, "G71": None, "G72": "乙城", "G73": "丁城", "G74": "戊城",
    }  # fmt: skip
    assert [warning.key for warning in derivation.warnings] == ["G00", "G71"]


ROWS_PAIRS = [
    ("G00", "甲城"), ("G71", "甲城"), ("G72", "乙城"), ("G00", "丙城"), ("G73", "甲城"), ("G73", "丁城"),
    ("G74", " "), ("G74", "戊城"), ("G74", "戊城"),
]  # fmt: skip
