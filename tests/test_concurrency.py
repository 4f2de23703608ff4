"""Concurrency with real connections and processes: exact counts while another session writes
the same keys, and one execute run at a time (issue 3, issue 6)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections

from jobs.job_request import JobRequest
from jobs.job_run import job_run
from refs.backfill import BackfillMode
from refs.models import AnnuityPlan, BackfillRun, RunStatus
from tests.test_backfill import ROWS, by_target
from tests.workbooks import write_workbook

pytestmark = pytest.mark.slow


def other_session() -> Any:
    """A second, independent PostgreSQL session on the test database."""
    params = connection.settings_dict
    return psycopg2.connect(
        dbname=params["NAME"], user=params["USER"], password=params["PASSWORD"] or None,
        host=params["HOST"] or None, port=params["PORT"] or None,
    )  # fmt: skip


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def backend_waiting_on_lock(observer: Any) -> bool:
    with observer.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:  # reported to the test thread
            box["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread, box


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "2026年2月年金终稿数据.xlsx", ROWS)


def test_concurrent_insert_of_the_same_key_is_no_error_no_duplicate_exact_counts(
    warehouse: None, workbook: Path
) -> None:
    other = other_session()
    observer = other_session()
    observer.autocommit = True
    try:
        with other.cursor() as cursor:  # uncommitted when our run inserts the same key
            cursor.execute(
                'INSERT INTO "mapping"."年金计划" ("年金计划号", "计划全称") VALUES (%s, %s)', ["P0001", "别人"]
            )

        def backfill() -> dict[str, Any]:
            out = StringIO()
            call_command("backfill_refs", "--file", str(workbook), "--execute", "--format", "json",
                         "--verbosity", "2", stdout=out, stderr=StringIO())  # fmt: skip
            summary: dict[str, Any] = json.loads(out.getvalue())
            return summary

        thread, box = in_thread(backfill)
        wait_until(lambda: backend_waiting_on_lock(observer))  # our INSERT … ON CONFLICT waits for theirs
        other.commit()
        thread.join(30)
        assert "error" not in box, box.get("error")
        plans = by_target(box["value"])["plans"]
        assert plans["keys"] == ["P0002", "XNP596"]  # P0001 was theirs: not counted as ours
        assert (plans["inserted"], plans["already_present"]) == (2, 1)
        assert AnnuityPlan.objects.filter(pk="P0001").count() == 1
        assert AnnuityPlan.objects.get(pk="P0001").计划全称 == "别人"
        assert AnnuityPlan.objects.count() == 3
    finally:
        other.close()
        observer.close()


def test_second_execute_run_is_refused_at_once_while_the_first_proceeds(
    warehouse: None, workbook: Path, subprocess_env: dict[str, str]
) -> None:
    holding = threading.Event()
    release = threading.Event()

    def progress(step: str, done: int, total: int | None) -> None:
        holding.set()  # called once the run holds the lock and reads the workbook
        release.wait(30)

    request = JobRequest(
        command="backfill_refs", domain="annuity_performance", execute=True, targets="all",
        backfill_mode=BackfillMode.INSERT_MISSING, files=(workbook,),
    )  # fmt: skip
    thread, box = in_thread(lambda: job_run(request, progress=progress))
    try:
        assert holding.wait(30)
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "manage.py", "backfill_refs", "--file", str(workbook), "--execute"],
            cwd=settings.BASE_DIR, env=subprocess_env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        release.set()
        thread.join(30)
    assert second.returncode == 3, second.stderr
    assert "another wdh execute run holds the backfill lock" in second.stderr
    assert elapsed < 15  # exits at once (process start-up included), does not wait for the lock
    assert "error" not in box, box.get("error")
    assert box["value"].status == RunStatus.SUCCEEDED
    assert AnnuityPlan.objects.count() == 3
    statuses = sorted(BackfillRun.objects.values_list("status", flat=True))
    assert statuses == [RunStatus.REFUSED_LOCKED, RunStatus.SUCCEEDED]
