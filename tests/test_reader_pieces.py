"""A big sheet read in pieces (facts/sheet_pieces.py) gives exactly what the whole read gives.

Every workbook here is read whole and in pieces of a few rows and the two reads compared: the
header, the (row number, values) stream, the blank rows, the warnings, or the error. The last
test runs the reader's own test modules with every read so compared. No database.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from facts import sheet_pieces, sheet_rows
from facts.excel import check_workbooks, read_sheet
from facts.sample import sample_file_name, write_sample_workbook
from facts.sample_spec import SampleSpec
from facts.sheet_form import ScanRefusal
from facts.sheet_pieces import PiecedSheet, plan_pieces
from facts.sheet_scan import scan_extent
from facts.workbook import load_sheet
from tests.reader_packages import SHEET, before_end_of_rows, formatted_workbook, in_row, rewrite_part, text_cell
from tests.workbooks import HEADER, write_workbook
from wdh.errors import InputError

SIZES = (1, 2, 3, 7)
WHOLE = 10**9
MOST_PIECES = 40  # of one read in the suite-wide comparison: larger sheets get larger pieces


def sizes_for(path: Path) -> list[int]:
    """:data:`SIZES`, raised so that no read of ``path`` has more than :data:`MOST_PIECES` pieces."""
    rows = 0
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.startswith("xl/worksheets/")]
            rows = max((archive.read(name).count(b"<row") for name in names), default=0)
    return sorted({max(size, -(-rows // MOST_PIECES)) for size in SIZES})


def outcome(path: Path, sheet: str | int, piece_rows: int, **options: Any) -> tuple[Any, ...]:
    """What reading ``sheet`` gives with pieces of ``piece_rows`` rows: everything the reader yields."""
    saved = sheet_pieces.PIECE_ROWS
    sheet_pieces.PIECE_ROWS = piece_rows
    try:
        data = read_sheet(path, sheet, **options)
        rows = list(data.iter_rows())
        return (data.sheet, data.header, data.raw_header, data.column_letters, data.header_row, rows,
                data.blank_rows, list(data.warnings))  # fmt: skip
    except Exception as exc:  # the error is part of what is compared
        return (type(exc).__name__, str(exc))
    finally:
        sheet_pieces.PIECE_ROWS = saved


def assert_same_in_pieces(path: Path, sheet: str | int = "规模明细", **options: Any) -> tuple[Any, ...]:
    whole = outcome(path, sheet, WHOLE, **options)
    for size in SIZES:
        assert outcome(path, sheet, size, **options) == whole, f"pieces of {size} rows differ from the whole read"
    return whole


def rows_of(count: int, **cells: Any) -> list[dict[str, Any]]:
    return [{"计划代码": f"P{index:04d}", "客户名称": f"客户{index}", **cells} for index in range(count)]


def edited(tmp_path: Path, edit: Callable[[bytes], bytes], rows: int = 9) -> Path:
    path = formatted_workbook(tmp_path / "edited.xlsx", rows_of(rows), trailing_blank_rows=3)
    return rewrite_part(path, SHEET, edit)


def test_the_usual_workbook_reads_the_same_in_pieces(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "usual.xlsx", rows_of(20, 月度=202602, 期末资产规模=12.5))
    whole = assert_same_in_pieces(path)
    assert len(whole[5]) == 20


def test_the_sample_workbook_reads_the_same_in_pieces(tmp_path: Path) -> None:
    path = write_sample_workbook(tmp_path / sample_file_name(2026, 2), SampleSpec(rows=40, trailing_blank_rows=30))
    assert len(assert_same_in_pieces(path, "规模明细")[5]) == 40


def test_a_table_away_from_a1_with_gaps_notes_and_odd_cells_reads_the_same(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "规模明细"
    for column, name in enumerate(HEADER[:6], start=3):
        sheet.cell(row=4, column=column, value=name)
    values: list[Any] = [202602, "企年受托", date(2026, 2, 1), datetime(2026, 2, 1, 9, 30), 12.5, True]
    for row in range(5, 40):
        if row % 6 == 0:
            continue  # a blank row inside the table
        for column, value in enumerate(values, start=3):
            sheet.cell(row=row, column=column, value=value if (row + column) % 5 else None)
    sheet["A20"] = "left of the table"
    sheet["K33"] = "right of the table"
    sheet["E12"] = "=1/0"
    sheet["F13"] = "   "
    sheet.merge_cells("C25:D26")
    for row in range(40, 55):
        sheet.cell(row=row, column=2).number_format = "0.00"  # formatted empty cells below
    sheet.cell(row=60, column=5, value="last")
    path = tmp_path / "odd.xlsx"
    workbook.save(path)
    whole = assert_same_in_pieces(path)
    assert whole[4] == 4 and any("A20" in warning for warning in whole[7])


def test_errors_uncalculated_formulas_and_inline_text_read_the_same(tmp_path: Path) -> None:
    def edit(xml: bytes) -> bytes:
        xml = in_row(xml, 3, b'<c r="J3" t="e"><f>NA()</f><v>#N/A</v></c>')
        xml = in_row(xml, 5, b'<c r="K5"><f>SUM(A1:A2)</f></c>')
        xml = in_row(xml, 7, text_cell("X7", "outside"))
        return before_end_of_rows(xml, b'<row r="30"><c r="A30"><v>1</v></c></row>')

    assert_same_in_pieces(edited(tmp_path, edit))


def test_a_dimension_is_no_part_of_what_is_read(tmp_path: Path) -> None:
    path = edited(tmp_path, lambda xml: xml.replace(b"<sheetData>", b'<dimension ref="A1:Z9999"/><sheetData>', 1))
    assert_same_in_pieces(path)


def test_an_empty_sheet_and_a_refused_sheet_fail_alike(tmp_path: Path) -> None:
    blank = edited(tmp_path, lambda xml: xml)
    rewrite_part(blank, SHEET, lambda xml: xml[: xml.index(b"<row")] + xml[xml.index(b"</sheetData>") :])
    assert assert_same_in_pieces(blank)[0] == "InputError"
    twice = tmp_path / "twice.xlsx"
    twice.write_bytes(edited(tmp_path, lambda xml: before_end_of_rows(xml, b'<row r="3"/>')).read_bytes())
    assert assert_same_in_pieces(twice)[0] == "InputError"


def plan_of(path: Path, piece_rows: int) -> sheet_pieces.PiecePlan | None:
    """The pieces the reader would cut ``path``'s sheet into (none when the pre-scan refuses it)."""
    with zipfile.ZipFile(path) as archive, archive.open(SHEET) as stream:
        try:
            return plan_pieces(scan_extent(stream, marks=True), piece_rows)
        except ScanRefusal:
            return None


def test_a_sheet_that_cannot_be_cut_safely_is_read_whole(tmp_path: Path) -> None:
    path = edited(tmp_path, lambda xml: xml)
    assert plan_of(path, 2) is not None
    assert plan_of(path, 100) is None  # fewer rows than a piece
    unnumbered = edited(tmp_path, lambda xml: xml.replace(b'<row r="4"', b"<row", 1))
    assert plan_of(unnumbered, 2) is None
    assert_same_in_pieces(unnumbered)
    backwards = edited(tmp_path, lambda xml: before_end_of_rows(xml, b'<row r="2"><c r="Z2"><v>1</v></c></row>'))
    assert plan_of(backwards, 2) is None


def test_a_cell_naming_another_row_than_its_own_is_refused_read_whole_or_in_pieces(tmp_path: Path) -> None:
    """calamine reads a cell where its reference says, whichever ``<row>`` holds it: the whole
    read took it (and a repeat of a cell far away overwrote the first), pieces refused it. Both
    refuse it now, alike."""
    path = edited(tmp_path, lambda xml: in_row(xml, 6, b'<c r="Y2"><v>1</v></c>'))
    whole = assert_same_in_pieces(path)
    assert whole[0] == "InputError" and "writes cell Y2 inside row 6" in whole[1]


def piece_xml(path: Path, plan: sheet_pieces.PiecePlan) -> Iterator[bytes]:
    with zipfile.ZipFile(path) as archive:
        xml = archive.read(SHEET)
    for piece in plan.pieces:
        yield plan.head + xml[piece.start : piece.stop] + plan.tail


def test_each_piece_holds_at_most_piece_rows_rows_and_calamine_reads_one_at_a_time(tmp_path: Path) -> None:
    path = formatted_workbook(tmp_path / "big.xlsx", rows_of(95), trailing_blank_rows=4)
    plan = plan_of(path, 10)
    assert plan is not None
    assert len(plan.pieces) == 10  # the header row, 95 rows, 4 formatted blank rows: 100 rows
    counts = [xml.count(b"<row ") for xml in piece_xml(path, plan)]
    assert counts == [10] * 10
    assert all(b"<dimension" not in xml for xml in piece_xml(path, plan))
    saved = sheet_pieces.PIECE_ROWS
    sheet_pieces.PIECE_ROWS = 10
    try:
        loaded = load_sheet(path, "规模明细", "sheet")
        assert isinstance(loaded.cells, PiecedSheet)
        rows = loaded.cells.iter_rows()
        next(rows)
        assert loaded.cells.pieces_read == 1  # the first row needs the first piece only
        with CalamineWorkbook.from_path(path) as workbook:
            whole = workbook.get_sheet_by_name("规模明细").to_python()
        assert 1 + sum(1 for _ in rows) == len(whole)
        assert loaded.cells.pieces_read == 10
    finally:
        sheet_pieces.PIECE_ROWS = saved


CHECKER = """
import os
import sys

import pytest

sys.path.insert(0, os.getcwd())
compared = []


class Checker:
    def pytest_sessionstart(self, session):
        import facts.excel
        from facts import workbook
        from tests.test_reader_pieces import WHOLE, outcome, sizes_for

        real = facts.excel.load_sheet

        def checking_load(path, sheet, sheet_key):
            if "busy" not in compared:
                compared.append("busy")
                kept = workbook._checked.pop((path, sheet), None)
                try:
                    whole = outcome(path, sheet, WHOLE, sheet_key=sheet_key)
                    for size in sizes_for(path):
                        assert outcome(path, sheet, size, sheet_key=sheet_key) == whole, (path, size)
                finally:
                    compared[compared.index("busy")] = str(path)
                    if kept is not None:
                        workbook._checked[path, sheet] = kept
            return real(path, sheet, sheet_key)

        facts.excel.load_sheet = checking_load


code = pytest.main(sys.argv[1:], plugins=[Checker()])
print("COMPARED", len(compared))
sys.exit(code)
"""


def test_every_read_of_the_reader_tests_is_the_same_in_pieces(tmp_path: Path) -> None:
    here = Path(__file__)
    readers = sorted(f"tests/{path.name}" for path in here.parent.glob("test_reader_*.py") if path != here)
    modules = ["tests/test_excel.py", "tests/test_sample.py", "tests/test_hostile_input.py", *readers]
    script = tmp_path / "checker.py"
    script.write_text(CHECKER)
    # Its own test database (pytest-django suffixes the name with this variable: test_wdh_pieces),
    # so the nested session never creates or drops the one this session is using.
    env = {**os.environ, "TOX_PARALLEL_ENV": "pieces"}
    done = subprocess.run(
        [sys.executable, str(script), "-q", "-x", "-p", "no:cacheprovider", *modules],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parent.parent, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    compared = int(done.stdout.rsplit("COMPARED", 1)[1].split()[0])
    assert compared > 100


def hundred_rows(tmp_path: Path) -> Path:
    """The header row, 95 rows and 4 formatted blank rows: 100 ``<row>`` elements."""
    return formatted_workbook(tmp_path / "big.xlsx", rows_of(95), trailing_blank_rows=4)


def test_a_sheet_just_over_a_piece_is_read_whole_and_pieces_are_even(tmp_path: Path) -> None:
    path = hundred_rows(tmp_path)
    assert plan_of(path, 70) is None  # 100 rows ≤ 1.5 × 70: two pieces would not pay for themselves
    for piece_rows, expected in ((60, [50, 50]), (33, [25] * 4), (30, [25] * 4), (10, [10] * 10)):
        plan = plan_of(path, piece_rows)
        assert plan is not None
        assert [xml.count(b"<row ") for xml in piece_xml(path, plan)] == expected, piece_rows
    with pieces_of(70):
        assert not isinstance(load_sheet(path, "规模明细", "sheet").cells, PiecedSheet)
    for piece_rows in (60, 33):
        assert outcome(path, "规模明细", piece_rows) == outcome(path, "规模明细", WHOLE)


@contextlib.contextmanager
def pieces_of(piece_rows: int) -> Iterator[None]:
    saved = sheet_pieces.PIECE_ROWS
    sheet_pieces.PIECE_ROWS = piece_rows
    try:
        yield
    finally:
        sheet_pieces.PIECE_ROWS = saved


def test_the_pieces_are_planned_in_the_pre_scans_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process inflates the sheet's XML once for the pre-scan and once for the pieces: the cuts
    come from the scan's own pass (the marks pass's worker, a forked process, is not counted, nor
    are the pieces' packages written)."""
    path = hundred_rows(tmp_path)
    here, opened = os.getpid(), []
    real_open = zipfile.ZipFile.open

    def counting_open(archive: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        reading = (args[0] if args else kwargs.get("mode", "r")) == "r"
        if reading and getattr(name, "filename", name) == SHEET and os.getpid() == here:
            opened.append(name)
        return real_open(archive, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    with pieces_of(10):
        check_workbooks([path], "规模明细")
        loaded = load_sheet(path, "规模明细", "sheet")
        assert isinstance(loaded.cells, PiecedSheet) and len(loaded.cells.plan.pieces) == 10
        assert len(opened) == 2
        assert sum(1 for _ in loaded.cells.iter_rows()) == 100
    assert len(opened) == 2


def test_pieces_are_parsed_from_temporary_files_removed_as_the_read_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = hundred_rows(tmp_path)
    folder = tmp_path / "temporary"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    with pieces_of(10):
        loaded = load_sheet(path, "规模明细", "sheet")
        assert isinstance(loaded.cells, PiecedSheet)
        rows = loaded.cells.iter_rows()
        next(rows)
        assert [file.name for file in folder.glob("wdh-pieces-*/*")] == ["others.zip"]  # each piece's file went
        assert sum(1 for _ in rows) == 99
        assert not any(folder.iterdir())
        abandoned = load_sheet(path, "规模明细", "sheet")
        assert any(folder.iterdir())
        del abandoned  # a read that stops half-way (a refused row, a signal) leaves nothing either
        assert not any(folder.iterdir())
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
        with pytest.raises(InputError, match="temporary folder"):
            load_sheet(path, "规模明细", "sheet")


def test_places_kept_sparser_on_a_long_sheet_and_rows_written_unlike_excel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan keeps a bounded number of row places (thinned as they grow), still close enough
    for pieces of at most ``PIECE_ROWS`` rows, and finds a row whose ``r`` is not its tag's first
    attribute."""
    monkeypatch.setattr(sheet_rows, "PLACES_KEPT", 8)
    path = hundred_rows(tmp_path)
    plan = plan_of(path, 40)
    assert plan is not None
    counts = [xml.count(b"<row ") for xml in piece_xml(path, plan)]
    assert sum(counts) == 100 and max(counts) <= 40 and len(plan.pieces) < 10
    assert outcome(path, "规模明细", 40) == outcome(path, "规模明细", WHOLE)
    monkeypatch.setattr(sheet_rows, "PLACES_KEPT", 1 << 14)
    odd = rewrite_part(path, SHEET, lambda xml: xml.replace(b'<row r="5"', b'<row spans="1:2" r="5"', 1))
    plan = plan_of(odd, 2)
    assert plan is not None and [piece.first for piece in plan.pieces][:4] == [1, 3, 5, 7]
    assert outcome(odd, "规模明细", 2) == outcome(odd, "规模明细", WHOLE)


def unnumbered(row: int, xml: bytes) -> bytes:
    return xml.replace(b'<row r="%d"' % row, b"<row")


def test_rows_out_of_order_between_places_are_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row without its number that no place looked at: the marks pass finds it (in its worker,
    after the first piece was parsed), and the sheet is read whole, with the check and without."""
    monkeypatch.setattr(sheet_rows, "PLACES_KEPT", 8)
    unseen = 0  # rows no place looked at: the extent pass alone would cut the sheet
    for row in (40, 41, 42, 43):
        folder = tmp_path / str(row)
        folder.mkdir()
        path = rewrite_part(hundred_rows(folder), SHEET, functools.partial(unnumbered, row))
        with zipfile.ZipFile(path) as archive, archive.open(SHEET) as stream:
            unseen += plan_pieces(scan_extent(stream), 10) is not None
        with pieces_of(10):
            check_workbooks([path], "规模明细")
            assert not isinstance(load_sheet(path, "规模明细", "sheet").cells, PiecedSheet)
            assert not isinstance(load_sheet(path, "规模明细", "sheet").cells, PiecedSheet)
        assert outcome(path, "规模明细", 10) == outcome(path, "规模明细", WHOLE)
    assert unseen


def test_a_sheet_with_page_breaks_after_its_rows_is_cut(tmp_path: Path) -> None:
    breaks = b'</sheetData><rowBreaks count="1" manualBreakCount="1"><brk id="50" max="16383" man="1"/></rowBreaks>'
    path = rewrite_part(hundred_rows(tmp_path), SHEET, lambda xml: xml.replace(b"</sheetData>", breaks, 1))
    plan = plan_of(path, 10)
    assert plan is not None and len(plan.pieces) == 10 and plan.tail.startswith(b"</sheetData><rowBreaks")
    assert outcome(path, "规模明细", 10) == outcome(path, "规模明细", WHOLE)


def test_a_sheet_with_a_tail_longer_than_the_head_limit_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tail (``</sheetData>`` on) goes into every piece, so it is kept in memory only up to
    HEAD_LIMIT, like the head; a longer one (huge hyperlinks, conditional formats) reads whole."""
    hyperlinks = b"</sheetData><hyperlinks>" + b'<hyperlink ref="A2" display="x"/>' * 2_000 + b"</hyperlinks>"
    path = rewrite_part(hundred_rows(tmp_path), SHEET, lambda xml: xml.replace(b"</sheetData>", hyperlinks, 1))
    assert plan_of(path, 10) is not None
    monkeypatch.setattr(sheet_rows, "HEAD_LIMIT", 32_000)
    assert plan_of(path, 10) is None
    assert outcome(path, "规模明细", 10) == outcome(path, "规模明细", WHOLE)


def test_a_shared_sheets_second_piece_is_written_as_the_first_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sheet cut in two for a worker: its second piece's package is written as soon as the
    first is parsed (while the pre-scan's worker runs), so that the worker forked later parses
    it at once; read here alone, the rows are still those of the whole read."""
    path = hundred_rows(tmp_path)
    whole = outcome(path, "规模明细", WHOLE)
    monkeypatch.setattr(sheet_pieces, "SHARED_ROWS", 20)
    folder = tmp_path / "temporary"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    loaded = load_sheet(path, "规模明细", "sheet")
    assert isinstance(loaded.cells, PiecedSheet) and loaded.cells.plan.worker_from is not None
    assert sorted(file.name for file in folder.glob("wdh-pieces-*/*")) == ["others.zip", "piece.xlsx"]
    assert loaded.cells.pieces_read == 1  # written, not parsed
    rows = list(loaded.cells.iter_rows())
    assert loaded.cells.pieces_read == 2 and not any(folder.glob("wdh-pieces-*/*.xlsx"))
    loaded.cells.close()
    assert not any(folder.iterdir())
    assert len(rows) == 100
    assert outcome(path, "规模明细", WHOLE) == whole  # shared, read by this process alone
