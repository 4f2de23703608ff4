"""Rows flow (issue 13 items 1-2): a batch's cleansed rows are held a chunk at a time, go to the
run's temporary staging table by a writer thread, and are loaded from there — memory does not
grow with the batch, and the staging table and the thread never outlive the run.

The rows alive are counted for real: each fact row the domain's cleaner makes carries one
weak-referenceable marker under a key no step reads, so a marker is alive exactly as long as its
row; the count is taken as each row is made (the reading thread's peak) and as each chunk is
copied (the writer's).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Max

from domains.annuity_performance.models import AnnuityPerformance
from facts import workbook
from facts.cleansing import RowCleaner
from facts.codes import CodeSpellings
from facts.domain import domain_get
from facts.fact_staging import FactStaging
from facts.lookups import Lookups
from facts.staging_writer import IN_FLIGHT
from refs.models import BackfillRun, RunStatus
from tests.test_backfill import run, run_failing
from tests.test_concurrency import other_session
from tests.workbooks import write_workbook
from wdh.config import Mappings
from wdh.postgres import BACKFILL_LOCK_KEY

CHUNK = 20
FILES = 4
ROWS = 150  # per file: 600 rows, thirty chunks
STAGING = "pg_temp.wdh_staged_annuity_performance"


class Marker:
    """Alive as long as the row that holds it."""


class RowCount:
    """The cleansed rows alive, counted by their markers; ``peak`` is the most seen at once."""

    def __init__(self) -> None:
        self.alive: weakref.WeakSet[Marker] = weakref.WeakSet()
        self.made = 0
        self.peak = 0
        self.lock = threading.Lock()

    def made_one(self, row: dict[str, Any]) -> None:
        marker = Marker()
        row["__marker__"] = marker  # read by no step: COPY, folds and checks take named columns
        with self.lock:
            self.alive.add(marker)
            self.made += 1
        self.look()

    def look(self) -> None:
        with self.lock:
            self.peak = max(self.peak, len(self.alive))


class Counted:
    """The domain's row cleaner, marking every row it makes."""

    def __init__(self, inner: RowCleaner, count: RowCount) -> None:
        self.inner, self.count = inner, count

    def __getattr__(self, name: str) -> Any:  # company_id_missing, pending, warnings
        return getattr(self.inner, name)

    def fact_row(self, values: tuple[Any, ...]) -> dict[str, Any]:
        row = self.inner.fact_row(values)
        self.count.made_one(row)
        return row


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> RowCount:
    count = RowCount()
    registered = domain_get("annuity_performance")
    inner = registered.sheet.cleaner

    def cleaner(header: tuple[str, ...], mappings: Mappings, lookups: Lookups, spellings: CodeSpellings) -> Any:
        return Counted(inner(header, mappings, lookups, spellings), count)

    counting = dataclasses.replace(registered, sheet=dataclasses.replace(registered.sheet, cleaner=cleaner))
    monkeypatch.setattr("facts.batch.domain_get", lambda name: counting)
    monkeypatch.setattr("facts.batch.CHUNK_ROWS", CHUNK, raising=False)  # absent before rows flowed
    copy = FactStaging.copy

    def copying(self: FactStaging, cursor: Any, start: int, rows: Sequence[dict[str, Any]], pending: Any) -> int:
        count.look()  # the writer's moment: the chunk being copied, those waiting, the one being cleansed
        return copy(self, cursor, start, rows, pending)

    monkeypatch.setattr(FactStaging, "copy", copying)
    return count


def row(month: int, index: int) -> dict[str, Any]:
    return {
        "月度": 202600 + month,
        "计划代码": f"P{index % 9:04d}",
        "组合代码": f"Q{index % 13}",
        "客户名称": f"客户{index % 17}",
        "期末资产规模": 1000.0 + index,
    }


def workbooks(tmp_path: Path) -> list[Path]:
    """FILES workbooks, one month each (their delete scopes differ), ROWS rows each."""
    return [
        write_workbook(
            tmp_path / f"2026年{month}月规模明细.xlsx",
            [row(month, index) for index in range(ROWS)],
        )
        for month in range(1, FILES + 1)
    ]


def file_args(paths: list[Path]) -> list[str]:
    return [arg for path in paths for arg in ("--file", str(path))]


def staging_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [STAGING])
        return cursor.fetchone()[0] is not None


def writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "wdh-staging-writer"]


def test_a_batch_holds_no_more_cleansed_rows_than_its_chunks_in_flight(
    warehouse: None, tmp_path: Path, counted: RowCount
) -> None:
    """Four workbooks, 600 rows, chunks of 20: at no moment are more than the chunk being
    cleansed and the IN_FLIGHT chunks handed to the writer alive — not 600, as when every row
    was held until the single commit — and every row is loaded, in order."""
    paths = workbooks(tmp_path)
    summary = run("run_job", *file_args(paths), "--backfill-refs", "all", "--execute")
    assert summary["status"] == "succeeded"
    assert counted.made == FILES * ROWS == summary["facts"]["inserted"] == AnnuityPerformance.objects.count()
    assert CHUNK <= counted.peak <= CHUNK * (1 + IN_FLIGHT) < FILES * ROWS
    assert AnnuityPerformance.objects.aggregate(largest=Max("期末资产规模"))["largest"] == 1000 + ROWS - 1
    assert not staging_exists() and not writer_threads()


def test_plan_only_streams_too_and_its_saved_plan_applies(warehouse: None, tmp_path: Path, counted: RowCount) -> None:
    paths = workbooks(tmp_path)
    planned = run("run_job", *file_args(paths), "--backfill-refs", "all")
    assert planned["status"] == "planned" and counted.peak <= CHUNK * (1 + IN_FLIGHT)
    assert not staging_exists()
    applied = run("run_job", "--apply", str(planned["audit_id"]))
    assert applied["status"] == "succeeded" and applied["facts"]["inserted"] == FILES * ROWS


def test_a_failed_copy_fails_the_run_and_writes_nothing(
    warehouse: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer thread's error is the run's error (never lost); the thread is joined, the
    staging table dropped, nothing written."""
    monkeypatch.setattr("facts.batch.CHUNK_ROWS", CHUNK)
    copy = FactStaging.copy
    calls = []

    def failing(self: FactStaging, cursor: Any, start: int, rows: Sequence[dict[str, Any]], pending: Any) -> int:
        calls.append(start)
        if len(calls) == 3:
            cursor.execute("SELECT 1/0")  # the server refuses the writer's statement
        return copy(self, cursor, start, rows, pending)

    monkeypatch.setattr(FactStaging, "copy", failing)
    _, summary = run_failing("run_job", *file_args(workbooks(tmp_path)), "--backfill-refs", "all", "--execute")
    assert summary["status"] == "failed" and "division by zero" in summary["error"]["message"]
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.FAILED
    assert AnnuityPerformance.objects.count() == 0
    assert not staging_exists() and not writer_threads()


def test_a_refusal_while_reading_drops_the_staging_and_joins_the_writer(warehouse: None, tmp_path: Path) -> None:
    """Two files holding rows of one delete scope: refused (exit 2) while the writer had chunks."""
    first = write_workbook(tmp_path / "a" / "2026年2月规模明细.xlsx", [{"计划代码": f"P{i}"} for i in range(30)])
    second = write_workbook(tmp_path / "b" / "2026年2月规模明细_b.xlsx", [{"计划代码": "P9"}])
    _, summary = run_failing("run_job", "--file", str(first), "--file", str(second), "--execute")
    assert summary["exit_code"] == 2 and "both hold rows of the delete scope" in summary["error"]["message"]
    assert not staging_exists() and not writer_threads()
    assert AnnuityPerformance.objects.count() == 0


COMPANIES = '"wdh_stream"."客户"'


@pytest.fixture
def companies(warehouse: None, use_config: Any) -> Iterator[Any]:
    """A declared target keyed by the facts' company_id, backfilled after the plans."""
    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA IF NOT EXISTS "wdh_stream"')
        cursor.execute(f'CREATE TABLE {COMPANIES} (company_id varchar(20) PRIMARY KEY, "客户名称" varchar(200))')

    def edit(domain: dict[str, Any]) -> None:
        domain["refs"]["companies"] = {
            "schema": "wdh_stream", "table": "客户", "key": ["company_id"], "after": ["plans"],
            "columns": {"company_id": {"from": "company_id", "agg": "key"},
                        "客户名称": {"from": "客户名称", "agg": "first"}},
        }  # fmt: skip

    yield use_config(edit)
    with connection.cursor() as cursor:
        cursor.execute('DROP SCHEMA "wdh_stream" CASCADE')


@pytest.mark.parametrize("command", ["run_job", "backfill_refs"])
def test_a_target_after_the_plans_sees_the_company_ids_they_complete(
    companies: Any, tmp_path: Path, command: str
) -> None:
    """Two rows of one single plan, each given a company_id by its client's name: the plan takes
    the first, and so does the second row, as a rerun's lookup in 年金计划 would give it. A target
    keyed by company_id after the plans must see that (folded again from the staged rows), or a
    rerun would derive other keys than the run: only 1918884945, never 606285385."""
    single = {"计划类型": "单一计划", "计划代码": "P0777", "业务类型": "企年受托"}
    path = write_workbook(
        tmp_path / "2026年2月规模明细.xlsx",
        [{**single, "客户名称": "宣城城建城市运营管理有限公司"}, {**single, "客户名称": "内江筑石混泥土有限公司"}],
    )
    targets = ("--backfill-refs", "all") if command == "run_job" else ("--targets", "all")
    summary = run(command, "--file", str(path), *targets, "--execute")
    assert summary["status"] == "succeeded"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT company_id FROM {COMPANIES} ORDER BY 1")
        assert cursor.fetchall() == [("1918884945",)]
    if command == "run_job":
        stored = AnnuityPerformance.objects.values_list("company_id", flat=True)
        assert list(stored) == ["1918884945", "1918884945"]


@pytest.mark.django_db
def test_a_char_column_is_staged_whole_and_loaded_whole() -> None:
    """char(n) and bit(n) columns stage without their length — not as ``character`` (char(1)),
    which would cut a completed company_id to its first character and load it, exit 0."""
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE "char_facts" ("company_id" char(9), "flags" bit(3), "name" varchar(5))')
    staging = FactStaging.create("chars", '"char_facts"', ["company_id", "flags", "name"])
    assert staging.types == {"company_id": "text", "flags": "bit varying", "name": "character varying"}
    with connection.cursor() as cursor:
        staging.copy(cursor.cursor, 1, [{"company_id": None, "flags": "101", "name": "单一计划"}], ["P0001"])
    staging.rows = 1
    assert staging.complete_company_ids({"P0001": "600123456"}) == 1
    assert staging.load_into('"char_facts"') == 1
    staging.drop()
    with connection.cursor() as cursor:
        cursor.execute('SELECT "company_id", "flags"::text, "name" FROM "char_facts"')
        assert cursor.fetchall() == [("600123456", "101", "单一计划")]


def test_a_run_refused_by_the_lock_leaves_no_checked_sheet_behind(warehouse: None, tmp_path: Path) -> None:
    """The check before the lock parses the first workbook for the reading; a run that never
    reads (the lock is held) must not leave that parsed sheet to the process (a service, tests)."""
    (path,) = workbooks(tmp_path)[:1]
    holder = other_session()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [BACKFILL_LOCK_KEY])
        error, refused = run_failing("run_job", *file_args([path]), "--backfill-refs", "all", "--execute")
    finally:
        holder.close()
    assert (refused["status"], error.returncode) == ("refused_locked", 3)
    assert workbook._checked == {}
