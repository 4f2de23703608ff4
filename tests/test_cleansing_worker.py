"""A sheet's second piece parsed and cleansed by a worker process (issue 13 item 2,
facts/cleansing_worker.py): what the batch reads is exactly what one process reading the whole
sheet reads — staged rows in order, row errors with their cells, warnings in order, counts,
spellings, pending company ids, delete scopes and every target's candidates — and the worker's
failures and death stop the run as one process would have stopped, with nothing written.

The sheet below holds in both of its pieces: row errors (a bad month, an uncalculated formula),
unmapped 业务类型, a code spelled two ways, single-plan rows waiting for a company_id, blank rows
and cells outside the table. ``SHARED_ROWS`` is set small so that it is shared at all.
"""

from __future__ import annotations

import gc
import inspect
import multiprocessing
import os
import pickle
import tempfile
import threading
import weakref
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.db import connection

from facts import cleansing_worker, excel, sheet_pieces
from facts.batch import FactBatch, batch_read
from facts.cleansing import CleansedChunk, RowError, SheetCleansing
from facts.cleansing_worker import _packed, _unpacked
from facts.domain import domain_get
from facts.fact_staging import FactStaging
from facts.sheet_pieces import PiecedSheet
from facts.staging_writer import WRITER
from facts.workbook import LoadedSheet, load_sheet
from refs.conflicts import expected_shared
from refs.derivation import CandidateFold
from refs.lookup_reading import lookups_read
from refs.models import BackfillRun, RunStatus
from tests.processes import (
    backend_gone,
    lock_holder,
    run_holder,
    run_job_process,
    start_job,
    wait_until,
    warehouse_contents,
)
from tests.scenario import job_args
from tests.test_backfill import run_failing
from tests.test_faults import big_workbook  # noqa: F401 — a fixture
from tests.workbooks import DEFAULTS, HEADER
from wdh.config import get_config
from wdh.errors import InputError
from wdh.interruption import WATCHER

ROWS = 400


def cells(index: int, month: int = 202602) -> list[Any]:
    """The sheet row of data row ``index``: odd rows of every kind in both pieces."""
    row = {**DEFAULTS, "月度": month}
    row.update(
        {
            "计划代码": f"P{index % 23:04d}",
            "计划名称": f"计划{index % 23}",
            "组合代码": f"Q{index % 11:03d}",
            "客户名称": f"客户{index % 29}有限公司",
            "集团企业客户号": f"C{index % 29:018d}",
            "期末资产规模": 1000.0 + index * 3.25,
        }
    )
    if index % 50 == 7:
        row["计划代码"] = "Ｐ０００７"  # a second spelling of P0007
    if index % 60 == 11:
        row["业务类型"] = "未知业务A" if index < 250 else "未知业务B"
    if index % 70 == 13:
        row["业务类型"] = "未知业务A"
    if index % 37 == 5:
        row["月度"] = "上个月"  # a row error
    if index % 89 == 17:
        row["期末资产规模"] = "=1/0"  # never calculated: a row error
    if index % 45 == 9:
        row.update({"计划类型": "单一计划", "客户名称": f"新客户{index}"})  # waits for a company_id
    values = [row.get(name) for name in HEADER]
    if index % 97 == 3:
        values += [None, f"note {index}"]  # a cell outside the table
    return values


def write_sheet(path: Path, month: int = 202602) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "规模明细"
    sheet.append(list(HEADER))
    for index in range(ROWS):
        sheet.append(cells(index, month))
        if index % 41 == 40:
            sheet.append([" "])  # a blank row
    for index in range(3):  # below the last value, rows of formulas never calculated: row errors
        sheet.append([f"={index + 1}" for _ in HEADER])
    workbook.create_sheet("收入明细").append(["月度", "收入"])
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[PiecedSheet]]:
    """Sheets from 50 rows on shared with a worker; the pieced sheets read are collected."""
    monkeypatch.setattr(sheet_pieces, "SHARED_ROWS", 50)
    # a test session runs threads of its own (the admin's live server): the worker forks beside them
    monkeypatch.setattr(cleansing_worker, "_forkable", lambda: True)
    loaded: list[PiecedSheet] = []
    load = load_sheet

    def loading(*args: Any) -> LoadedSheet:
        sheet = load(*args)
        if isinstance(sheet.cells, PiecedSheet):
            loaded.append(sheet.cells)
        return sheet

    monkeypatch.setattr("facts.excel.load_sheet", loading)
    yield loaded


def read(path: Path) -> tuple[FactBatch, dict[str, Any]]:
    """The batch of ``path`` read as run_job reads it, and what it staged and derived."""
    domain = get_config().domain("annuity_performance")
    targets = domain.targets("all")
    folds = [CandidateFold(target, shared=expected_shared(domain)) for target in targets]
    staging = FactStaging.create(domain.name, domain.facts.qualified, domain_columns(domain.name))
    try:
        batch = batch_read(
            domain, data_dir=None, files=[path], max_files=None, sheet=None, lookups=lookups_read(domain),
            sinks=folds, staging=staging,
        )  # fmt: skip
        staged = [row for part in staging.read_back() for row in part]
        pending = staged_pending(staging)
    finally:
        staging.drop()
    return batch, {
        "staged": staged,
        "pending": pending,
        "derived": [(fold.derivation().candidates, fold.derivation().warnings) for fold in folds],
    }


def domain_columns(name: str) -> tuple[str, ...]:
    return domain_get(name).fact_columns


def staged_pending(staging: FactStaging) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT wdh_pending FROM {staging.table} ORDER BY wdh_seq")
        return [value for (value,) in cursor.fetchall()]


def summary(batch: FactBatch) -> dict[str, Any]:
    return {
        "errors": [(e.file, e.sheet, e.row, e.column, e.value, e.message, e.source) for e in batch.errors],
        "warnings": batch.warnings,
        "counts": (batch.rows_read, batch.rows_valid, batch.company_id_missing),
        "spellings": pickle.dumps(batch.spellings.seen),  # their order too
        "spelling warnings": batch.spellings.warnings(),
        "pending": batch.pending_company_ids.counts,
        "scopes": batch.scopes,
        "files": [(f.rows_read, f.rows_valid, f.header) for f in batch.files],
    }


def test_a_shared_sheet_reads_exactly_as_one_process_reads_it(
    warehouse: None, tmp_path: Path, shared: list[PiecedSheet], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_sheet(tmp_path / "2026年2月规模明细.xlsx")
    batch, read_shared = read(path)
    assert len(shared) == 1 and shared[0].plan.worker_from is not None
    assert shared[0].pieces_read == 1  # this process parsed the first piece only: the worker read the rest

    monkeypatch.setattr(sheet_pieces, "SHARED_ROWS", 10**6)  # read whole, in this process alone
    whole, read_whole = read(path)
    assert len(shared) == 1  # not pieced

    assert summary(batch) == summary(whole)
    assert read_shared == read_whole
    # the sheet had every kind of row on both sides of the cut
    cut = shared[0].plan.worker_from
    rows = [error.row for error in whole.errors]
    assert min(rows) < cut < max(rows)
    assert any("未知业务A" in warning and "未知业务B" in warning for warning in whole.warnings)
    assert any("outside the table" in warning for warning in whole.warnings)
    assert whole.spellings.warnings() and whole.pending_company_ids.counts
    last = max(number for number, _ in excel.read_sheet(path, "规模明细").iter_rows())
    assert rows[-3:] == [last - 2, last - 1, last]  # the rows of formulas, past calamine's last row


def test_the_workers_death_refuses_the_run_and_writes_nothing(
    warehouse: None, tmp_path: Path, shared: list[PiecedSheet], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed (the out-of-memory killer, a kill -9): exit 2 naming the file, the rows and what to
    do; the audit record failed; no process left behind."""
    path = write_sheet(tmp_path / "data" / "2026年2月规模明细.xlsx")
    before = warehouse_contents()

    parent, dumps = os.getpid(), pickle.dumps

    def dying(*args: Any, **kwargs: Any) -> bytes:
        if os.getpid() != parent:
            os._exit(9)  # the worker, as it writes its first chunk
        return dumps(*args, **kwargs)

    monkeypatch.setattr(pickle, "dumps", dying)
    error, summary = run_failing("run_job", "--execute", "--backfill-refs", "all", "--file", str(path))

    assert error.returncode == 2, error
    assert str(path) in str(error) and "ended without a result" in str(error) and "nothing was written" in str(error)
    assert summary["status"] == "failed"
    assert warehouse_contents() == before
    assert BackfillRun.objects.latest("pk").status == RunStatus.FAILED
    assert not multiprocessing.active_children()


def test_an_error_in_the_workers_rows_is_raised_after_every_row_above(
    warehouse: None, tmp_path: Path, shared: list[PiecedSheet], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error in the worker's piece comes back as it was, once this process has
    handed on every row above the cut, as one process would have met it."""
    path = write_sheet(tmp_path / "2026年2月规模明细.xlsx")
    taken: list[int] = []
    chunks = SheetCleansing.chunks

    def failing(self: Any, size: int = 10_000, part: Any = None) -> Iterator[Any]:
        if part is not None and os.getpid() != parent:
            raise OSError("disk on fire")  # the worker's rows
        for chunk in chunks(self, size, part):
            taken.append(chunk.rows_read)
            yield chunk

    parent = os.getpid()
    monkeypatch.setattr(SheetCleansing, "chunks", failing)
    domain = get_config().domain("annuity_performance")
    with pytest.raises(OSError, match="disk on fire"):
        batch_read(domain, data_dir=None, files=[path], max_files=None, sheet=None, lookups=lookups_read(domain))
    cut = shared[0].plan.worker_from
    assert cut is not None
    above = sum(1 for number, _ in excel.read_sheet(path, "规模明细").iter_rows() if number < cut)
    assert 0 < sum(taken) == above
    assert not multiprocessing.active_children()


def test_a_failure_here_ends_the_worker(
    warehouse: None, tmp_path: Path, shared: list[PiecedSheet], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_sheet(tmp_path / "2026年2月规模明细.xlsx")
    domain = get_config().domain("annuity_performance")

    class Refusing:
        def add(self, rows: list[dict[str, Any]]) -> None:
            raise InputError("refused by a sink")

    with pytest.raises(InputError, match="refused by a sink"):
        batch_read(
            domain, data_dir=None, files=[path], max_files=None, sheet=None, lookups=lookups_read(domain),
            sinks=[Refusing()],
        )  # fmt: skip
    assert not multiprocessing.active_children()


def test_a_chunk_comes_back_from_the_worker_as_it_was() -> None:
    """The worker's chunks travel column by column, a column of Decimals as their texts: every
    value comes back equal and of its type — exponent, sign and NULLs kept — and rows that differ
    in their columns or their order travel as they are."""
    amounts = [Decimal("1.10"), Decimal("-0"), Decimal("1E+3"), None, Decimal("0.000001"), Decimal("123456789.123456")]
    rows = [
        {"月度": date(2026, 2, 1), "计划代码": f"P{index}", "期末资产规模": amount, "当期收益率": None, "n": index}
        for index, amount in enumerate(amounts)
    ]
    mixed = [{**rows[0], "期末资产规模": "1.10"}, *rows[1:]]  # a text among Decimals: not read as one
    shuffled = [rows[0], {"n": 1, **{k: v for k, v in rows[1].items() if k != "n"}}]
    error = RowError("f.xlsx", "规模明细", 9, "月度", "x", "bad", source=("x", 1.0))
    for chunk_rows in (rows, mixed, shuffled, []):
        chunk = CleansedChunk(chunk_rows, ["P1"] * len(chunk_rows), [error], len(chunk_rows) + 1)
        back = _unpacked(_packed(chunk))
        assert back == chunk
        for was, now in zip(chunk.rows, back.rows, strict=True):
            assert list(now.items()) == list(was.items())
            assert [type(value) for value in now.values()] == [type(value) for value in was.values()]
            assert [str(value) for value in now.values()] == [str(value) for value in was.values()]
        assert back.errors[0].source == ("x", 1.0)


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_a_killed_runs_worker_lets_its_session_go_and_ends(
    seeded: dict[str, Any],
    big_workbook: Path,  # noqa: F811
    observer: Any,
    subprocess_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """``kill -9`` of a run while its worker cleanses: the worker held a copy of the run's database
    socket and waited for ever to hand on its next chunk, so the run's backend — and its advisory
    lock — lived on (every later run was refused as locked). Now the session ends with the run
    and the worker ends by itself; the folder of the sheet's pieces, which the killed run could not
    remove (megabytes: the workbook's other parts), is removed by the next run (wdh/temp_folder.py;
    found by a hostile pass: every killed run left one for ever)."""
    env = {**subprocess_env, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    process = start_job(env, *job_args(big_workbook))
    workers: list[int] = []

    def forked() -> bool:
        workers[:] = children(process.pid)
        return bool(workers)

    try:
        pid = run_holder(observer, process)
        wait_until(forked, what="the worker is forked")
    finally:
        process.kill()
        process.wait()
    wait_until(lambda: backend_gone(observer, pid), what="killed run's backend ends")
    assert lock_holder(observer) is None
    wait_until(lambda: not any(map(alive, workers)), what="the worker ends")
    assert warehouse_contents() == seeded
    assert [path.name.split("-")[1] for path in (tmp_path / "tmp").iterdir()] == ["pieces"]  # left behind

    done = run_job_process(env, *job_args(big_workbook))
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_worker_is_forked_beside_the_runs_own_threads_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's threads are its signal watcher and its staging writer; beside any other (a web
    server's, a library's), which may hold a lock the fork copies, the sheet is read here alone."""
    here = threading.current_thread()
    watcher, writer, other = (threading.Thread(name=name) for name in (WATCHER, WRITER, "other"))
    monkeypatch.setattr(threading, "enumerate", lambda: [here, watcher, writer])
    assert cleansing_worker._forkable()
    monkeypatch.setattr(threading, "enumerate", lambda: [here, watcher, writer, other])
    assert not cleansing_worker._forkable()


def test_a_worker_whose_run_stopped_listening_ends_quietly(
    warehouse: None, tmp_path: Path, shared: list[PiecedSheet]
) -> None:
    """The run failed or was stopped and closed its end of the pipe: the worker's next hand-off
    fails, and it ends without a word — before, the broken pipe escaped it, and multiprocessing
    printed its traceback on the run's stderr, under the run's own one-line error."""
    path = write_sheet(tmp_path / "2026年2月规模明细.xlsx")
    domain = get_config().domain("annuity_performance")
    rules = domain_get(domain.name).sheet
    sheet = excel.read_sheet(path, "规模明细", renames=rules.renames)
    cleansing = SheetCleansing(sheet, rules=rules, mappings=domain.mappings, lookups=lookups_read(domain))
    assert sheet.worker_from is not None
    receiver, sender = multiprocessing.Pipe(duplex=False)
    receiver.close()  # the run is gone
    with tempfile.TemporaryFile() as spool:
        pid = os.fork()
        if pid == 0:  # the worker, as multiprocessing would run it
            code = 1
            try:
                cleansing_worker._work(cleansing, sheet.worker_from, 50, spool, receiver, sender)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_batch_keeps_no_earlier_files_sheet_alive(
    warehouse: None, tmp_path: Path, shared: list[PiecedSheet], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cycle collector off, as a run has it (jobs/job_run.py), each file's sheet — the
    cells of its first piece — is freed once the file is read: the sheet held its pieces'
    generator, which held the sheet, and the cycle kept every file's first piece to the run's end
    (twelve 50,000-row workbooks: 650 MB instead of 258 MB; found by the benchmark)."""
    sheets: list[weakref.ref[PiecedSheet]] = []

    def loading(*args: Any) -> LoadedSheet:
        sheet = load_sheet(*args)
        if isinstance(sheet.cells, PiecedSheet):
            sheets.append(weakref.ref(sheet.cells))
        return sheet

    monkeypatch.setattr("facts.excel.load_sheet", loading)
    paths = [write_sheet(tmp_path / f"2026年{month}月规模明细.xlsx", 202600 + month) for month in (1, 2, 3)]
    domain = get_config().domain("annuity_performance")
    gc.disable()
    try:
        batch_read(domain, data_dir=None, files=paths, max_files=None, sheet=None, lookups=lookups_read(domain))
        assert len(sheets) == 3 and [sheet() for sheet in sheets] == [None, None, None]
    finally:
        gc.enable()


def test_a_files_pieces_are_let_go_when_it_is_read_not_by_the_collector(
    warehouse: None, tmp_path: Path, shared: list[PiecedSheet]
) -> None:
    """The run's reader of the pieces (its zip stream, its temporary folder) is closed as the
    file's read ends, in the run's own code, even while something still holds the sheet: left to
    the sheet's garbage collection, that clean-up ran where Python ignores exceptions, and a signal
    landing then was lost — the run went on to its end (the signal tests, 1 in ≈ 15 runs)."""
    path = write_sheet(tmp_path / "2026年2月规模明细.xlsx")
    domain = get_config().domain("annuity_performance")

    batch_read(domain, data_dir=None, files=[path], max_files=None, sheet=None, lookups=lookups_read(domain))

    assert len(shared) == 1  # held here: not freed
    assert inspect.getgeneratorstate(shared[0]._parsed) == inspect.GEN_CLOSED  # not suspended after the first piece
