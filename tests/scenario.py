"""The fault and concurrency scenario shared by tests/test_faults.py and
tests/test_concurrency_more.py (registered as a plugin in conftest.py): a warehouse seeded
by one ordinary run, and the job file of the run under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import session, warehouse_contents
from tests.test_backfill import run
from tests.workbooks import write_workbook

FILE_NAME = "2026年2月年金终稿数据.xlsx"
# Before the run: plan P0001 with portfolios 1 and 2 (two February rows), and a January row.
SEED_ROWS: list[dict[str, Any]] = [
    {"计划代码": "P0001", "组合代码": "1"},
    {"计划代码": "P0001", "组合代码": "2"},
    {"计划代码": "P0009", "组合代码": "9", "月度": 202601},
]
# The run: February again, with two new plans (P0002, P0003) and two new portfolios (3, QTAN001).
JOB_ROWS: list[dict[str, Any]] = [
    {"计划代码": "P0001", "组合代码": "1"},
    {"计划代码": "P0002", "组合代码": "3"},
    {"计划代码": "P0003", "组合代码": None},  # a collective plan without a portfolio → QTAN001
]
PLANS = '"mapping"."年金计划"'
FACTS = '"business"."规模明细"'


def job_args(path: Path) -> tuple[str, ...]:
    return ("run_job", "--file", str(path), "--execute", "--backfill-refs", "all")


@pytest.fixture
def seeded(warehouse: None, tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The warehouse after one ordinary run; returns its full contents."""
    run(*job_args(write_workbook(tmp_path / "seed" / FILE_NAME, SEED_ROWS)))
    return warehouse_contents()


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "job" / FILE_NAME, JOB_ROWS)


@pytest.fixture
def observer() -> Iterator[Any]:
    observer = session(autocommit=True)
    yield observer
    observer.close()
