"""The next workbook's sheet loaded by a thread while this one is read (facts/sheet_ahead.py): the
batch is exactly what loading each workbook at its turn gives, the next one's failure is raised
when it is due (after every row of those before), and a read that stops leaves no thread and no
temporary file behind. The sheets are shared with a worker (``SHARED_ROWS`` set small), as a
year's monthly workbooks are."""

from __future__ import annotations

import gc
import inspect
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from facts import batch as batch_module
from facts import cleansing_worker, workbook
from facts.batch import batch_read
from facts.excel import check_workbooks, checks_forget
from facts.fact_staging import FactStaging
from facts.sheet_ahead import LOADER, SheetAhead
from facts.sheet_pieces import PiecedSheet
from facts.staging_writer import WRITER
from facts.workbook import LoadedSheet
from refs.conflicts import expected_shared
from refs.derivation import CandidateFold
from refs.lookup_reading import lookups_read
from tests.test_cleansing_worker import (
    domain_columns,
    shared,  # noqa: F401 — a fixture
    staged_pending,
    summary,
    write_sheet,
)
from wdh.config import get_config
from wdh.errors import InputError
from wdh.interruption import WATCHER
from wdh.worker_process import forkable_beside


def workbooks(folder: Path) -> list[Path]:
    return [write_sheet(folder / f"2026年{month}月规模明细.xlsx", 202600 + month) for month in (1, 2, 3)]


def loaders(monkeypatch: pytest.MonkeyPatch) -> dict[Path, str]:
    """Which thread loaded each workbook ahead (the loads at a workbook's turn are not seen)."""
    seen: dict[Path, str] = {}
    check = workbook.check_file

    def checking(path: Path) -> None:
        seen[path] = threading.current_thread().name
        check(path)

    monkeypatch.setattr("facts.sheet_ahead.check_file", checking)
    return seen


def read_checked(paths: list[Path], opened: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """What run_job's execute reads of ``paths``: checked first, then read into folds and staging."""
    domain = get_config().domain("annuity_performance")
    folds = [CandidateFold(target, shared=expected_shared(domain)) for target in domain.targets("all")]
    staging = FactStaging.create(domain.name, domain.facts.qualified, domain_columns(domain.name))
    check_workbooks(paths, "规模明细", sheet_key="domains.annuity_performance.sheet")
    try:
        read = batch_read(
            domain, data_dir=None, files=paths, max_files=None, sheet=None, lookups=lookups_read(domain),
            sinks=folds, staging=staging, opened=opened,
        )  # fmt: skip
        return {
            **summary(read),
            "staged": [row for part in staging.read_back() for row in part],
            "pending staged": staged_pending(staging),
            "derived": [(fold.derivation().candidates, fold.derivation().warnings) for fold in folds],
        }
    finally:
        checks_forget()
        staging.drop()


def test_a_batch_reads_the_same_with_the_next_workbook_loaded_ahead(
    warehouse: None,
    tmp_path: Path,
    shared: list[PiecedSheet],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = workbooks(tmp_path)
    seen = loaders(monkeypatch)

    ahead = read_checked(paths)
    assert seen == {paths[1]: LOADER, paths[2]: LOADER}  # the first was loaded by the check
    monkeypatch.setattr(batch_module, "check_kept", lambda path, sheet: False)  # each loaded at its turn
    seen.clear()
    at_its_turn = read_checked(paths)

    assert seen == {}
    assert ahead == at_its_turn
    assert len(ahead["staged"]) > 1000 and ahead["errors"] and ahead["warnings"]


def test_the_next_workbooks_failure_is_raised_when_it_is_due(
    warehouse: None,
    tmp_path: Path,
    shared: list[PiecedSheet],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = workbooks(tmp_path)
    opened: list[Path] = []
    seen = loaders(monkeypatch)
    real_check = check_workbooks

    def check_then_spoil(checked: list[Path], *args: Any, **kwargs: Any) -> None:
        real_check(checked, *args, **kwargs)
        paths[2].write_bytes(b"not a workbook")  # after its check: found as it is loaded ahead

    monkeypatch.setattr(f"{__name__}.check_workbooks", check_then_spoil)

    with pytest.raises(InputError, match="not an Excel workbook") as caught:
        read_checked(paths, opened.append)

    assert str(caught.value).startswith(str(paths[2]))
    assert opened == paths  # raised when the third was due, the first two read
    assert seen == {paths[1]: LOADER, paths[2]: LOADER}


def test_a_read_that_stops_leaves_no_loader_and_no_pieces(
    warehouse: None,
    tmp_path: Path,
    shared: list[PiecedSheet],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first workbook's read stops (a signal, here raised by the fold of its first chunk)
    while the second is loaded ahead: the loader is waited for and its pieces' files removed."""
    paths = workbooks(tmp_path)
    loaded: list[LoadedSheet] = []
    load = workbook.load_sheet

    def loading(*args: Any) -> LoadedSheet:
        sheet = load(*args)
        loaded.append(sheet)
        return sheet

    monkeypatch.setattr("facts.sheet_ahead.load_sheet", loading)

    def stopped(self: CandidateFold, rows: Any) -> None:
        raise KeyboardInterrupt  # as RunInterrupted does: a BaseException

    monkeypatch.setattr(CandidateFold, "add", stopped)
    before = set(Path(tempfile.gettempdir()).glob(f"wdh-pieces-{os.getpid()}-*"))

    with pytest.raises(KeyboardInterrupt):
        read_checked(paths)

    assert not any(thread.name == LOADER for thread in threading.enumerate())
    assert len(loaded) == 1 and isinstance(loaded[0].cells, PiecedSheet)  # the second, loaded ahead
    gc.collect()
    assert set(Path(tempfile.gettempdir()).glob(f"wdh-pieces-{os.getpid()}-*")) <= before  # its pieces' folder removed


def test_a_signal_while_the_next_workbook_is_awaited_lets_go_of_it(
    tmp_path: Path,
    shared: list[PiecedSheet],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGINT lands while the reading waits for the loader: the loading ends, then the signal's
    exception is raised, and what was loaded (a sheet in pieces, its temporary folder) is let go."""
    path = write_sheet(tmp_path / "2026年2月规模明细.xlsx")
    loaded: list[LoadedSheet] = []
    load = workbook.load_sheet

    def slow(*args: Any) -> LoadedSheet:
        time.sleep(0.5)  # the signal below lands while the reading waits
        loaded.append(load(*args))
        return loaded[-1]

    monkeypatch.setattr("facts.sheet_ahead.load_sheet", slow)
    ahead = SheetAhead(path, "规模明细", "sheet")
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()

    with pytest.raises(KeyboardInterrupt):
        ahead.loaded()

    timer.join()
    assert len(loaded) == 1 and isinstance(loaded[0].cells, PiecedSheet)
    assert inspect.getgeneratorstate(loaded[0].cells._parsed) == inspect.GEN_CLOSED  # its folder removed


@pytest.mark.parametrize("change", ["deleted", "truncated", "replaced", "emptied"])
def test_a_workbook_changed_after_it_was_loaded_ahead_is_refused_naming_it(
    warehouse: None,
    tmp_path: Path,
    shared: list[PiecedSheet],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """The second workbook changes after the thread loaded it, while the first is read: as when it
    changes before its turn, the run is refused naming it (its rows and its SHA-256 could differ)."""
    paths = workbooks(tmp_path)
    other = workbooks(tmp_path / "other")[2]
    load = workbook.load_sheet

    def loading(path: Path, *args: Any) -> LoadedSheet:
        sheet = load(path, *args)
        if path == paths[1]:
            if change == "deleted":
                path.unlink()
            elif change == "truncated":
                with path.open("r+b") as handle:
                    handle.truncate(path.stat().st_size // 2)
            elif change == "emptied":
                path.write_bytes(b"")
            else:
                other.replace(path)
        return sheet

    monkeypatch.setattr("facts.sheet_ahead.load_sheet", loading)
    before = set(Path(tempfile.gettempdir()).glob(f"wdh-pieces-{os.getpid()}-*"))

    with pytest.raises(InputError) as caught:
        read_checked(paths)

    assert str(caught.value).startswith(str(paths[1])), caught.value
    assert not any(thread.name == LOADER for thread in threading.enumerate())
    assert multiprocessing.active_children() == []
    assert set(Path(tempfile.gettempdir()).glob(f"wdh-pieces-{os.getpid()}-*")) <= before


def test_each_workbooks_cleansing_worker_is_forked_though_the_next_is_loaded_ahead(
    warehouse: None,
    tmp_path: Path,
    shared: list[PiecedSheet],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ``shared`` fixture lets the worker fork beside any thread; here the real condition is
    asked (beside the threads the test session ran already): a loader thread still alive as a
    workbook's worker is to be forked would make that workbook's read fall back to one process."""
    session = [thread.name for thread in threading.enumerate()]
    forkable: list[bool] = []

    def asked() -> bool:
        forkable.append(forkable_beside(WATCHER, WRITER, *session))
        return forkable[-1]

    monkeypatch.setattr(cleansing_worker, "_forkable", asked)

    read_checked(workbooks(tmp_path))

    assert forkable == [True, True, True]
