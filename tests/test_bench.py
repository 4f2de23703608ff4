"""The benchmark harness (``python -m bench``) end to end on a tiny workbook: its self-checks
pass and its JSON carries every ratio. Not a timing test: the numbers are not asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from bench.database import database_url, schema_setup
from bench.harness import BenchOptions, bench_run
from bench.report import RATIOS, all_checks_ok, bench_json, bench_table, machine

pytestmark = pytest.mark.slow


def test_bench_harness_checks_itself_and_reports_every_ratio(warehouse: None, tmp_path: Path) -> None:
    schema_setup()  # what python -m bench does first; idempotent on the test database
    options = BenchOptions(
        sizes=(2000,),
        repeat=1,
        blank_rows=50,
        workdir=tmp_path / "workbooks",
        child_database_url=database_url(connection.settings_dict),
    )
    runs = bench_run(options)

    failed = [f"{check.name}: {check.detail}" for run in runs for check in run.checks if not check.ok]
    assert failed == []
    assert all_checks_ok(runs)
    document = json.loads(json.dumps(bench_json(runs, options={"rows": [2000]}, machine_info=machine())))
    (size,) = document["sizes"]
    assert size["rows"] == 2000 and size["repetitions"] == 1
    assert set(size["ratios"]) == set(RATIOS)
    assert all(value > 0 for value in size["ratios"].values())
    assert size["peak_rss_bytes"] > 0
    assert size["counts"]["rows_read"] == 2000
    # Single plans' rows that take their company_id from the plans this run inserts (as run_job
    # completes them): the floors must load those rows too, or the whole-job check fails.
    assert size["counts"]["company_ids_completed"] > 0
    # The month loaded again (information, no target): it deletes, archives and reinserts every
    # row, and its revert puts the first load's rows back, ids included — each a self-check.
    assert {"whole job, re-load", "revert of the re-load"} <= set(size["stages"])
    assert size["reload_timings_s"]["facts"] > 0
    names = {check["name"] for check in size["checks"]}
    assert {
        "whole job, re-load: tables identical to the whole job's",
        "whole job, re-load: deletes, archives and inserts every row of the month",
        "revert of the re-load: the whole job's fact rows back, ids included",
    } <= names
    checks = sum(len(run.checks) for run in runs)
    table = "\n".join(bench_table(runs, machine_info=machine()))
    assert f"self-checks: {checks}/{checks} passed" in table
    assert "whole job" in table and "read floor" in table and "re-load of the loaded month" in table
