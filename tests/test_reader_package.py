"""Workbooks built to exhaust the reader (issue 9 items 2 and 7): cells far outside the table,
parts that decompress beyond the limit, tags and cells without end. Each is read correctly with
a warning, or refused (exit 2, the file named, nothing written) — never a crash or a hang.

The runs that would allocate gigabytes without the pre-scan run as child processes, so that a
regression aborts the child (exit 134), not the test session.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Any

import pytest

from facts import package
from refs.models import BackfillRun, RunStatus
from tests.processes import run_job_process, warehouse_contents
from tests.reader_packages import SHEET, before_end_of_rows, formatted_workbook, in_row, rewrite_part, text_cell
from tests.test_concurrency import other_session
from tests.test_hostile_input import EXECUTE, FILE_NAME, Contents, good_rows, loaded, refused, seeded  # noqa: F401
from wdh.postgres import BACKFILL_LOCK_KEY

BLANK_ROWS = 38_000  # formatted empty rows after the data, as in the real files


def job(env: dict[str, str], path: Path) -> tuple[int, dict[str, Any], str]:
    done = run_job_process(env, "run_job", "--file", str(path), *EXECUTE, timeout=300)
    assert done.stdout, done.stderr[-2000:]
    return done.returncode, done.summary, done.stderr


@pytest.mark.parametrize(("reference", "row"), [("XFD5", 5), ("XFD1048576", None)])
def test_a_note_far_to_the_right_is_ignored_with_a_warning(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    subprocess_env: dict[str, str],
    reference: str,
    row: int | None,
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=BLANK_ROWS)
    note = text_cell(reference, "checked by 张三")
    last_row = b'<row r="1048576">' + note + b"</row>"  # in a row of its own, as Excel writes it
    rewrite_part(path, SHEET, lambda xml: in_row(xml, row, note) if row else before_end_of_rows(xml, last_row))

    code, summary, stderr = job(subprocess_env, path)

    assert code == 0, stderr[-2000:]
    assert (summary["rows"]["read"], summary["rows"]["valid"]) == (3, 3)
    assert f"cell {reference} lies outside the table A–W and was ignored" in summary["warnings"]
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.SUCCEEDED


def test_notes_beside_the_table_are_ignored_with_warnings_naming_the_first_five(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(4), trailing_blank_rows=10)
    notes = [("X2", "note"), ("Z3", "1"), ("AB4", "x"), ("X5", " y "), ("Y5", "z"), ("AA9", "late"), ("X12", "!")]

    def edit(xml: bytes) -> bytes:
        for reference, text in notes:
            xml = in_row(xml, int(reference.lstrip("ABXYZ")), text_cell(reference, text))
        return in_row(xml, 6, text_cell("X6", "   "))  # whitespace only: blank, not worth a word

    summary = loaded(rewrite_part(path, SHEET, edit))

    outside = [warning for warning in summary["warnings"] if "outside the table" in warning]
    assert outside == [
        "cell AB4 lies outside the table A–W and was ignored",  # AA and beyond: named first
        "cell AA9 lies outside the table A–W and was ignored",
        "cell X2 lies outside the table A–W and was ignored",
        "cell Z3 lies outside the table A–W and was ignored",
        "cell X5 lies outside the table A–W and was ignored",
        "2 more non-blank cell(s) outside the table A–W were ignored",
    ]
    assert summary["rows"]["valid"] == 4


def test_a_value_in_a_row_past_999999_is_a_refusal(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(2), trailing_blank_rows=0)
    rewrite_part(
        path, SHEET, lambda xml: before_end_of_rows(xml, b'<row r="1000001"><c r="D1000001"><v>1</v></c></row>')
    )

    message = refused(seeded, "--file", str(path))

    assert str(path) in message and "cell D1000001 lies beyond what wdh reads" in message


def test_a_part_larger_than_the_limit_is_refused_from_the_zip_directory(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
    subprocess_env: dict[str, str],
) -> None:
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(2), trailing_blank_rows=20_000)  # sheet XML > 1 MiB

    code, summary, _ = job({**subprocess_env, "WDH_MAX_PART_MB": "1"}, path)

    message = summary["error"]["message"]
    assert code == 2 and str(path) in message
    assert "part xl/worksheets/sheet1.xml would decompress to" in message and "WDH_MAX_PART_MB" in message
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.FAILED
    assert warehouse_contents() == seeded


def test_a_shared_text_longer_than_any_excel_cell_is_refused(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(
        tmp_path / FILE_NAME, [{"计划代码": "P0002", "计划名称": "LONGNAME"}], trailing_blank_rows=0
    )
    rewrite_part(path, "xl/sharedStrings.xml", lambda xml: xml.replace(b"LONGNAME", b"x" * (300 << 10)))

    message = refused(seeded, "--file", str(path))

    assert str(path) in message and "part xl/sharedStrings.xml holds a text longer than 256 KiB" in message


@pytest.mark.parametrize("seed", range(40))
def test_the_longest_text_of_a_part_is_found_wherever_it_lies(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check of a part's texts (a few searches per chunk, the exact count only where a run
    may be too long) refuses exactly the parts whose longest run between brackets exceeds the
    limit: runs just under, at and over it, across chunk ends, at either end, in parts without
    brackets — with a limit and chunks of a few bytes."""
    limit = 16
    monkeypatch.setattr(package, "TEXT_LIMIT", limit)
    monkeypatch.setattr(package, "_TEXT_CHUNK", random.Random(seed).choice([1, 5, 7, 16, 33, 64]))
    draw = random.Random(seed)
    for _ in range(60):
        runs = [draw.choice([0, 1, 3, limit // 2, limit - 1, limit, limit, limit + 1, 2 * limit]) for _ in range(8)]
        data = b"".join(b"x" * run + draw.choice([b"<", b">", b"<a>"]) for run in runs)[: draw.randrange(1, 400)]
        longest = max(map(len, re.split(rb"[<>]", data)))
        if longest > limit:
            with pytest.raises(package.PackageRefusal, match="text longer than"):
                package._check_texts(io.BytesIO(data), "xl/sharedStrings.xml")
        else:
            package._check_texts(io.BytesIO(data), "xl/sharedStrings.xml")


def test_a_cell_without_end_is_refused(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(2), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: in_row(xml, 2, text_cell("X2", "y" * (5 << 20))))

    message = refused(seeded, "--file", str(path))

    assert str(path) in message and "runs for more than 4 MiB without a cell ending" in message


def test_a_tag_longer_than_the_limit_is_refused(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(2), trailing_blank_rows=0)
    tag = b'<c r="X2"' + b' t="e"' * 1500 + b"><v>#N/A</v></c>"  # 9 KB: 82 s of regex backtracking before
    rewrite_part(path, SHEET, lambda xml: in_row(xml, 2, tag))

    message = refused(seeded, "--file", str(path))

    assert str(path) in message and "holds a tag longer than 8 KiB" in message


def test_repeated_attributes_in_an_error_cell_are_read_once(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(3), trailing_blank_rows=0)
    tag = b'<c r="J3"' + b' t="e"' * 1000 + b"><v>#N/A</v></c>"
    rewrite_part(path, SHEET, lambda xml: in_row(xml.replace(b'<c r="J3"><v>1000.0</v></c>', b""), 3, tag))

    summary = loaded(path)

    assert [(item["row"], item["column"], item["message"]) for item in summary["row_errors"]["items"]] == [
        (3, "期初资产规模", "formula error #N/A")
    ]


def test_whitespace_after_the_last_row_is_read_in_one_pass(seeded: Contents, tmp_path: Path) -> None:  # noqa: F811
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(2), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: before_end_of_rows(xml, b" " * (48 << 20)))

    summary = loaded(path)

    assert summary["rows"]["valid"] == 2


def test_an_execute_run_checks_the_workbook_before_waiting_for_the_lock(
    seeded: Contents,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With another run holding the lock, a workbook beyond the limits is still exit 2 (its problem,
    found without the lock), not exit 3: validating a workbook never holds the lock."""
    path = formatted_workbook(tmp_path / FILE_NAME, good_rows(2), trailing_blank_rows=0)
    rewrite_part(path, SHEET, lambda xml: in_row(xml, 2, b'<c r="X2"' + b' t="e"' * 1500 + b"><v>#N/A</v></c>"))
    holder = other_session()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [BACKFILL_LOCK_KEY])
        message = refused(seeded, "--file", str(path))
    finally:
        holder.close()

    assert "holds a tag longer than 8 KiB" in message
