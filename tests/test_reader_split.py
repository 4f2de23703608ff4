"""The sheet pre-scan on two cores (facts/scan_worker.py) and the execute run's check kept for its
read (facts/workbook.py): the same findings and the same first failure as one pass, the worker
always reaped, and a kept check used only for the same, unchanged file. No database."""

from __future__ import annotations

import dataclasses
import datetime
import multiprocessing
import random
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from facts import excel, scan_worker, sheet_choice, sheet_scan, workbook
from facts.excel import CellError, check_workbooks, read_sheet
from facts.scan_worker import scan_split
from facts.sheet_form import ScanRefusal
from facts.sheet_scan import scan_extent
from tests.reader_packages import rewrite_part
from tests.test_excel import write_workbook
from wdh.errors import InputError
from wdh.interruption import WATCHER, interruptible

PART = "xl/worksheets/sheet1.xml"
SHEET = "规模明细"
HEADER = ["月度", "计划代码", "备注"]


def _workbook(path: Path, codes: list[Any]) -> Path:
    return write_workbook(path, {SHEET: [HEADER, *[[202602, code, None] for code in codes]]})


def _rows(path: Path) -> list[tuple[int, tuple[Any, ...]]]:
    return list(read_sheet(path, SHEET).iter_rows())


def _one_pass_error(path: Path) -> str:
    with zipfile.ZipFile(path) as archive, archive.open(PART) as stream, pytest.raises(ScanRefusal) as caught:
        scan_extent(stream, marks=True)
    return str(caught.value)


def _split_error(path: Path) -> str:
    with pytest.raises(ScanRefusal) as caught:
        scan_split(path, PART)
    return str(caught.value)


def test_the_split_scan_finds_what_one_pass_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sheet_scan, "CHUNK", 64)  # many blocks: the worker inherits the setting
    codes: list[Any] = [CellError("#N/A") if index % 3 else f"P{index:04d}" for index in range(1, 120)]
    path = _workbook(tmp_path / "marks.xlsx", codes)
    rewrite_part(
        path, PART, lambda xml: xml.replace(b"</row></sheetData>", b'<c r="AB120"><v>1</v></c></row></sheetData>')
    )

    split = scan_split(path, PART).scan
    with zipfile.ZipFile(path) as archive, archive.open(PART) as stream:
        single = scan_extent(stream, marks=True)

    assert (split.marks, split.far) == (single.marks, single.far)
    assert len(split.marks) == 80 and split.far == [(120, 27)]


def test_a_process_running_other_threads_scans_in_one_pass_without_forking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forking copies the locks other threads hold, not the threads: with the staging writer
    running, the pre-scan must not fork a worker (the child could wait forever on such a lock);
    beside the run's signal watcher alone (blocked on its pipe), it forks."""
    codes: list[Any] = [CellError("#N/A") if index % 3 else f"P{index:04d}" for index in range(1, 60)]
    path = _workbook(tmp_path / "threads.xlsx", codes)
    real = threading.enumerate
    here = threading.current_thread()
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="wdh-staging-writer")
    other.start()
    try:
        # The suite may run threads of its own (a live server): each case sees the threads it names.
        monkeypatch.setattr(threading, "enumerate", lambda: [here])
        alone = scan_split(path, PART, lambda scan: multiprocessing.active_children())
        monkeypatch.setattr(threading, "enumerate", lambda: [here, other])
        threaded = scan_split(path, PART, lambda scan: multiprocessing.active_children())
        with interruptible():  # every run has its signal watcher: the split still forks beside it
            monkeypatch.setattr(threading, "enumerate", lambda: [t for t in real() if t is here or t.name == WATCHER])
            assert len(threading.enumerate()) == 2
            watched = scan_split(path, PART, lambda scan: multiprocessing.active_children())
    finally:
        release.set()
        other.join()
    assert alone.meanwhile, "the split runs its worker while the caller parses"
    assert watched.meanwhile
    assert threaded.meanwhile == []
    assert len(alone.scan.marks) == 40
    assert (
        (threaded.scan.marks, threaded.scan.far)
        == (watched.scan.marks, watched.scan.far)
        == (
            alone.scan.marks,
            alone.scan.far,
        )
    )


@pytest.mark.parametrize("marks_first", [True, False])
def test_the_split_scan_reports_the_failure_one_pass_meets_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marks_first: bool
) -> None:
    """A value refusal (the worker's pass) and a form refusal (this process's pass) in the same
    sheet: the one in the earlier block is reported, whichever pass meets it."""
    monkeypatch.setattr(sheet_scan, "CHUNK", 64)
    path = _workbook(tmp_path / "two.xlsx", [f"P{index:04d}" for index in range(1, 60)])
    value_row, form_row = (5, 50) if marks_first else (50, 5)

    def both(xml: bytes) -> bytes:
        xml = xml.replace(b'<c r="B%d" t="inlineStr">' % value_row, b"<c r=\"B%d\" t='inlineStr'>" % value_row)
        return xml.replace(b'<c r="A%d"' % form_row, b'<!-- note --><c r="A%d"' % form_row)

    rewrite_part(path, PART, both)

    error = _split_error(path)

    assert error == _one_pass_error(path)
    assert ("single quotes" in error or "unlike Excel" in error) if marks_first else ("a comment" in error)


def test_the_worker_is_reaped_when_the_run_stops_meanwhile(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "stop.xlsx", ["P0001"])

    def interrupted(scan: Any) -> None:
        raise KeyboardInterrupt  # as RunInterrupted does: a BaseException raised in this process

    with pytest.raises(KeyboardInterrupt):
        scan_split(path, PART, interrupted)

    assert multiprocessing.active_children() == []


def test_a_kept_check_gives_the_read_it_would_have_made(tmp_path: Path) -> None:
    codes: list[Any] = ["P0001", CellError("#REF!"), "P0003"]
    first, second = _workbook(tmp_path / "a.xlsx", codes), _workbook(tmp_path / "b.xlsx", codes[::-1])
    expected = [_rows(first), _rows(second)]

    check_workbooks([first, second], SHEET)
    kept = dict(workbook._checked)
    read = [_rows(first), _rows(second)]

    assert read == expected and workbook._checked == {}
    assert kept[first, SHEET].cells is not None and kept[second, SHEET].cells is None  # only the first is parsed ahead


def test_a_file_changed_after_its_check_is_read_afresh(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "month.xlsx", ["P0001", "P0002"])
    check_workbooks([path], SHEET)
    _workbook(tmp_path / "other.xlsx", [CellError("#N/A"), "P0009"]).replace(path)

    rows = _rows(path)

    assert [values[1] for _, values in rows] == [CellError("#N/A"), "P0009"]


def test_a_refused_check_keeps_nothing(tmp_path: Path) -> None:
    good = _workbook(tmp_path / "good.xlsx", ["P0001"])
    bad = _workbook(tmp_path / "bad.xlsx", ["P0001"])
    rewrite_part(bad, PART, lambda xml: xml.replace(b'<c r="A2"', b'<!-- x --><c r="A2"'))

    with pytest.raises(InputError, match="a comment"):
        check_workbooks([good, bad], SHEET)

    assert workbook._checked == {}


def _far_cell(xml: bytes) -> bytes:
    return xml.replace(b"</row></sheetData>", b'<c r="AB41"><v>1</v></c></row></sheetData>')


def _begun_watched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Watch the check's scans: for each begun, how many earlier ones were still under way."""
    under_way: list[scan_worker.ScanBegun] = []
    seen: list[int] = []

    class Watched(scan_worker.ScanBegun):
        def __init__(self, path: Path, part: str, *, here: bool = True) -> None:
            seen.append(len(under_way))
            super().__init__(path, part, here=here)
            under_way.append(self)

        def abandon(self) -> None:
            if self in under_way:
                under_way.remove(self)
            super().abandon()

    monkeypatch.setattr(workbook, "ScanBegun", Watched)
    return seen


def test_workbooks_are_checked_while_the_one_before_is_scanned_and_find_what_one_by_one_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [
        _workbook(tmp_path / f"m{month}.xlsx", [CellError("#N/A") if index % month else "P1" for index in range(40)])
        for month in range(2, 7)
    ]
    for path in paths[1::2]:  # far cells (the first, without, is parsed ahead)
        rewrite_part(path, PART, _far_cell)
    alone = {}
    for path in paths:
        check_workbooks([path], SHEET)
        alone[path] = workbook._checked.pop((path, SHEET))
    seen = _begun_watched(monkeypatch)

    check_workbooks(paths, SHEET)

    assert seen == [0, 1, 1, 1, 1]  # each begun beside the one before, never beside two
    together = {path: kept for (path, _), kept in workbook._checked.items()}
    assert list(workbook._checked) == [(path, SHEET) for path in paths]
    for path in paths:
        assert dataclasses.replace(together[path], cells=None) == dataclasses.replace(alone[path], cells=None)
    assert together[paths[0]].cells is not None and all(together[path].cells is None for path in paths[1:])
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("later", ["missing", "comment"])
def test_the_first_workbooks_failure_is_raised_though_a_later_one_fails_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, later: str
) -> None:
    """The second workbook's refusal is found by its marks pass, in the worker, while the third
    fails as its check begins (a missing file) or in its extent pass, here: the second's is raised."""
    monkeypatch.setattr(sheet_scan, "CHUNK", 64)
    codes = [f"P{index:04d}" for index in range(1, 80)]
    first, second = _workbook(tmp_path / "a.xlsx", codes), _workbook(tmp_path / "b.xlsx", codes)
    rewrite_part(second, PART, lambda xml: xml.replace(b'<c r="B70" t="inlineStr">', b"<c r=\"B70\" t='inlineStr'>"))
    third = tmp_path / "c.xlsx"
    if later == "comment":
        _workbook(third, ["P0001"])
        rewrite_part(third, PART, lambda xml: xml.replace(b'<c r="A2"', b'<!-- x --><c r="A2"'))
    seen = _begun_watched(monkeypatch)

    with pytest.raises(InputError) as caught:
        check_workbooks([first, second, third], SHEET)

    assert str(caught.value).startswith(f"{second}:") and "unlike Excel" in str(caught.value)
    assert seen == ([0, 1] if later == "missing" else [0, 1, 1])
    assert workbook._checked == {} and multiprocessing.active_children() == []


def test_a_check_stopped_by_a_signal_leaves_no_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [_workbook(tmp_path / f"{name}.xlsx", ["P0001"] * 50) for name in "abc"]
    choice = sheet_choice.sheet_choice
    calls: list[Path] = []

    def interrupted(path: Path, *args: Any) -> Any:
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as RunInterrupted does, with two scans under way
        return choice(path, *args)

    monkeypatch.setattr(workbook, "sheet_choice", interrupted)

    with pytest.raises(KeyboardInterrupt):
        check_workbooks(paths, SHEET)

    assert calls == paths and workbook._checked == {} and multiprocessing.active_children() == []


def test_what_the_caller_does_meanwhile_sees_the_extent_pass(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "plain.xlsx", [f"P{index:04d}" for index in range(1, 50)])
    rewrite_part(
        path, PART, lambda xml: xml.replace(b"</row></sheetData>", b'<c r="XFD50"><v>1</v></c></row></sheetData>')
    )

    split = scan_split(path, PART, lambda scan: list(scan.far))

    assert (split.scan.marks, split.scan.far, split.meanwhile) == ([], [(50, 16383)], [(50, 16383)])


def _rows_as_before(rows: list[tuple[int, list[Any]]], columns: slice, errors: dict[int, dict[int, CellError]]) -> Any:
    """The row stream's rule, cell by cell: "" is None, errors placed, blank rows counted."""
    width, kept, blank = columns.stop - columns.start, [], 0
    for number, row in rows:
        values = [None if value == "" else value for value in row[columns]]
        values += [None] * (width - len(values))
        for position, error in errors.get(number, {}).items():
            values[position] = error
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in values):
            blank += 1
        else:
            kept.append((number, tuple(values)))
    return kept, blank


def test_the_row_stream_reads_every_row_as_the_cell_by_cell_rule_does() -> None:
    cells: list[Any] = ["", " ", "\u3000", "x", 0.0, 1.5, None, False, datetime.date(2026, 2, 1), "0"]
    generator = random.Random(13)
    rows = [(number, [generator.choice(cells) for _ in range(generator.randint(0, 6))]) for number in range(2, 3000)]
    errors = {number: {generator.randint(0, 3): CellError("#N/A")} for number in range(2, 3000, 7)}
    columns = slice(1, 5)

    stream = excel._RowStream(
        iter(rows), columns, errors, offset=0, letters=("B", "C", "D", "E"), warnings=[], header_row=1
    )
    streamed = list(stream.take())

    assert (streamed, stream.blank_rows) == _rows_as_before(rows, columns, errors)
    assert stream.blank_rows and len(streamed) > 1000


def test_a_second_sheets_check_keeps_the_firsts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of two domains checks two sheets of each workbook, one domain after the other: the
    second check kept only its own before, and the first sheet's read scanned it again."""
    path = write_workbook(
        tmp_path / "2026年2月.xlsx",
        {SHEET: [HEADER, [202602, "P0001", None], [202602, CellError("#N/A"), None]], "收入明细": [["月度"], [202602]]},
    )
    expected = [_rows(path), list(read_sheet(path, "收入明细").iter_rows())]
    check_workbooks([path], SHEET)
    check_workbooks([path], "收入明细")

    def scanned(*args: Any) -> None:
        raise AssertionError("a kept check was scanned again")

    monkeypatch.setattr(workbook, "scan_split", scanned)
    read = [_rows(path), list(read_sheet(path, "收入明细").iter_rows())]

    assert read == expected and workbook._checked == {}
