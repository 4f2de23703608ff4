"""The benchmark's big cases (a year's re-load of monthly workbooks in one run, one very large
workbook) on tiny sizes: their self-checks pass, the run's tables are the floors', and every
target of the issue is printed — measured, or marked with the option that measures it. Not a
timing test: the numbers are not asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection

from bench.__main__ import main
from bench.batch import batch_run
from bench.batch_report import BIG, YEAR
from bench.database import database_url, schema_setup
from bench.report import all_checks_ok, bench_json, bench_table, machine, targets
from bench.workbook import workbook_for, year_workbooks

pytestmark = pytest.mark.slow


def test_year_and_big_cases_check_themselves_and_report_their_targets(warehouse: None, tmp_path: Path) -> None:
    schema_setup()
    url = database_url(connection.settings_dict)
    books = year_workbooks(300, files=3, blank_rows=20, directory=tmp_path)
    assert [book.spec.month for book in books] == [1, 2, 3]
    year = batch_run(YEAR, books, database_url=url)
    big = batch_run(BIG, [workbook_for(600, blank_rows=20, directory=tmp_path)], database_url=url, reader=True)

    failed = [f"{check.name}: {check.detail}" for run in (year, big) for check in run.checks if not check.ok]
    assert failed == []
    assert all_checks_ok([], [year, big])
    assert year.counts["rows_read"] == 900 and year.counts["row_errors"] == 3 * 2  # two broken rows per file
    assert year.counts["floor_inserted"] == 900 - 6
    assert len(year.floors["read floor"]) == len(year.floors["facts floor"]) == 3
    assert big.reader is not None and big.reader.peak_rss_bytes > 0
    assert big.streaming is not None and big.streaming.peak_rss_bytes > 0  # the footprint judged
    assert year.child is not None and year.child.summary["rows"]["read"] == 900

    found = {target.name: target for target in targets([], [year, big])}
    measured = [name for name, target in found.items() if name.startswith(("3 workbooks", "one 600-row"))]
    assert len(measured) == 4 and all(found[name].value is not None for name in measured)
    assert found["whole job ≤ 1.3× (read floor + facts floor)"].missing == "--rows 100000"

    document = json.loads(json.dumps(bench_json([], options={}, machine_info=machine(), batches=[year, big])))
    cases = {case["case"]: case for case in document["batches"]}
    assert len(cases[YEAR]["files"]) == 3 and cases[YEAR]["floors_sum_s"] > 0 and cases[YEAR]["peak_rss_bytes"] > 0
    assert cases[BIG]["reader_peak_rss_bytes"] > 0 and cases[BIG]["reader_streaming_peak_rss_bytes"] > 0
    table = "\n".join(bench_table([], machine_info=machine(), batches=[year, big]))
    assert "reader's own footprint" in table and "per-file floors, summed" in table
    checks = len(year.checks) + len(big.checks)
    assert f"self-checks: {checks}/{checks} passed" in table


def test_every_target_is_printed_even_when_its_case_is_not_run() -> None:
    names = [(target.name, target.missing) for target in targets([], [])]
    assert ("12 workbooks × 50,000 rows: peak RSS ≤ 600 MB", "--year") in names
    assert ("one 999,998-row workbook: peak RSS ≤ reader's footprint + 300 MB", "--big") in names
    assert len(names) == 10


def test_the_big_cases_need_the_peak_rss_child(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--all", "--no-rss"])
    assert exit_.value.code == 2
    assert "leave out --no-rss" in capsys.readouterr().err


def test_the_big_workbook_stays_within_the_rows_wdh_reads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--big", "--big-rows", "999999"])
    assert exit_.value.code == 2
    assert "wdh reads rows up to 999,999" in capsys.readouterr().err
