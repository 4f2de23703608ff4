"""The same data never enters a run twice, and no workbook is chosen or skipped silently
(issue 9 items 1 and 9), through ``run_job --execute`` on the real PostgreSQL.

A refusal is exit 2, a message naming the files (and the shared delete scope), a ``failed``
audit record carrying that message, and the warehouse exactly as it was, compared row by row.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from facts.batch import batch_read
from refs.lookup_reading import lookups_read
from refs.models import BackfillRun
from tests.processes import warehouse_contents
from tests.test_backfill import run
from tests.test_hostile_input import refused
from tests.workbooks import write_workbook
from wdh.config import get_config
from wdh.errors import InputError

FEBRUARY = "2026年2月年金终稿数据.xlsx"
EXECUTE = ("--execute", "--backfill-refs", "all")
Contents = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def seeded(warehouse: None, tmp_path: Path) -> Contents:
    """One January row already loaded, so "unchanged" is a real comparison."""
    seed = write_workbook(tmp_path / "seed" / "2026年1月年金终稿数据.xlsx", [{"计划代码": "P0001", "月度": 202601}])
    run("run_job", "--file", str(seed), *EXECUTE)
    return warehouse_contents()


def rows(count: int, **cells: Any) -> list[dict[str, Any]]:
    return [{"计划代码": f"P{index:04d}", "组合代码": f"Z{index}", **cells} for index in range(2, 2 + count)]


def loaded_paths(summary: dict[str, Any]) -> list[str]:
    assert summary["status"] == "succeeded", summary["error"]
    return [entry["path"] for entry in summary["files"]]


# --- item 1: the same data loaded twice ---------------------------------------------------------


@pytest.mark.parametrize(
    "copy_name",
    [
        "2026年2月年金终稿数据 - 副本.xlsx",
        "2026年2月年金终稿数据 - 副本 (2).xlsx",
        "2026年2月年金终稿数据的副本.xlsx",
        "2026年2月年金终稿数据 (1).xlsx",
        "2026年2月年金终稿数据 (12).xlsx",
        "2026年2月年金终稿数据 - Copy.xlsx",
    ],
)
def test_a_copy_beside_the_original_is_not_read(seeded: Contents, tmp_path: Path, copy_name: str) -> None:
    original = write_workbook(tmp_path / "data" / FEBRUARY, rows(3))
    shutil.copyfile(original, original.with_name(copy_name))

    summary = run("run_job", "--data-dir", str(original.parent), *EXECUTE)

    assert loaded_paths(summary) == [str(original)]
    assert summary["facts"]["inserted"] == 3  # not 6: every amount once


def test_one_file_named_three_ways_is_refused(
    seeded: Contents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = write_workbook(tmp_path / "dir" / FEBRUARY, rows(3))
    (tmp_path / "link.xlsx").symlink_to(original)
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")

    message = refused(seeded, "--file", str(original), "--file", f"../dir/{FEBRUARY}", "--file", "../link.xlsx")

    assert "are the same file" in message
    assert str(original) in message and f"../dir/{FEBRUARY}" in message


def test_the_same_path_twice_is_refused(seeded: Contents, tmp_path: Path) -> None:
    original = write_workbook(tmp_path / FEBRUARY, rows(3))

    message = refused(seeded, "--file", str(original), "--file", str(original))

    assert "are the same file" in message and str(original) in message


def test_a_hard_link_is_the_same_file(seeded: Contents, tmp_path: Path) -> None:
    original = write_workbook(tmp_path / FEBRUARY, rows(3))
    hard = tmp_path / "elsewhere.xlsx"
    os.link(original, hard)

    message = refused(seeded, "--file", str(original), "--file", str(hard))

    assert "are the same file" in message and str(original) in message and str(hard) in message


def test_a_second_file_with_the_same_content_is_refused_naming_both(seeded: Contents, tmp_path: Path) -> None:
    original = write_workbook(tmp_path / FEBRUARY, rows(3))
    copy = tmp_path / "saved elsewhere" / "二月.xlsx"
    copy.parent.mkdir()
    shutil.copyfile(original, copy)

    message = refused(seeded, "--file", str(original), "--file", str(copy))

    assert "have the same content" in message and str(original) in message and str(copy) in message


def test_a_copy_with_the_same_content_found_in_the_data_directory_is_refused(
    seeded: Contents, tmp_path: Path, use_config: Callable[..., Any]
) -> None:
    """Discovery with ``select: all`` reads every month: a January copy filed under March is still January."""
    use_config(lambda domain: domain.update(select="all"))
    january = write_workbook(tmp_path / "data" / "2026年1月年金终稿数据.xlsx", rows(2, 月度=202601))
    shutil.copyfile(january, tmp_path / "data" / "2026年3月年金终稿数据.xlsx")

    message = refused(seeded, "--data-dir", str(tmp_path / "data"))

    assert "have the same content" in message and str(january) in message and "2026年3月" in message


def test_several_workbooks_of_one_month_found_in_the_data_directory_are_refused(
    seeded: Contents, tmp_path: Path
) -> None:
    first = write_workbook(tmp_path / "data" / "2026年2月年金终稿数据_甲.xlsx", rows(2, 业务类型="企年受托"))
    second = write_workbook(tmp_path / "data" / "2026年2月年金终稿数据_乙.xlsx", rows(2, 业务类型="企年投资"))

    message = refused(seeded, "--data-dir", str(tmp_path / "data"))

    assert str(first) in message and str(second) in message and "2026-02" in message and "--file" in message


def test_several_workbooks_of_one_month_named_with_file_and_disjoint_scopes_load(
    seeded: Contents, tmp_path: Path
) -> None:
    first = write_workbook(tmp_path / "2026年2月年金终稿数据_甲.xlsx", rows(2, 业务类型="企年受托"))
    second = write_workbook(tmp_path / "2026年2月年金终稿数据_乙.xlsx", rows(3, 业务类型="企年投资"))

    summary = run("run_job", "--file", str(first), "--file", str(second), *EXECUTE)

    assert loaded_paths(summary) == [str(first), str(second)]
    assert summary["facts"]["inserted"] == 5


def test_explicit_files_sharing_a_delete_scope_are_refused_naming_the_scope(seeded: Contents, tmp_path: Path) -> None:
    first = write_workbook(tmp_path / "2026年2月年金终稿数据_甲.xlsx", rows(2))
    second = write_workbook(tmp_path / "2026年2月年金终稿数据_乙.xlsx", rows(3, 计划名称="另一份"))

    message = refused(seeded, "--file", str(first), "--file", str(second))

    assert str(first) in message and str(second) in message
    assert "月度=2026-02-01, 业务类型=企年受托, 计划类型=集合计划" in message


# --- item 9: a workbook that would be read but cannot be ---------------------------------------


def _broken_link(path: Path) -> None:
    path.symlink_to(path.parent / "gone.xlsx")


def _loop(path: Path) -> None:
    path.symlink_to(path)


@pytest.mark.parametrize(
    ("make", "expected"),
    [(_broken_link, "broken symbolic link"), (_loop, "symbolic link loop")],
    ids=["broken-symlink", "symlink-loop"],
)
def test_a_newer_workbook_that_cannot_be_read_is_an_error_not_skipped(
    seeded: Contents, tmp_path: Path, make: Callable[[Path], None], expected: str
) -> None:
    write_workbook(tmp_path / "data" / FEBRUARY, rows(2))
    march = tmp_path / "data" / "2026年3月年金终稿数据.xlsx"
    make(march)

    message = refused(seeded, "--data-dir", str(tmp_path / "data"))

    assert str(march) in message and expected in message and "2026-03" in message


@pytest.mark.parametrize("refusing", ["open", "stat"], ids=["file-unreadable", "folder-not-searchable"])
def test_a_newer_workbook_without_read_permission_is_an_error_not_skipped(
    seeded: Contents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusing: str
) -> None:
    """``open`` refused: the file's mode; ``stat`` refused: its folder lists names but cannot be
    searched (mode r--), so even the file's type is unknown."""
    write_workbook(tmp_path / "data" / FEBRUARY, rows(2))
    march = write_workbook(tmp_path / "data" / "2026年3月年金终稿数据.xlsx", rows(2, 月度=202603))
    march.chmod(0)
    if os.access(march, os.R_OK):  # root reads anything: refuse the way the kernel would for a user
        real = getattr(Path, refusing)

        def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == march:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, refusing, refuse)

    message = refused(seeded, "--data-dir", str(tmp_path / "data"))

    assert str(march) in message and "cannot be read (Permission denied)" in message


def test_an_older_broken_link_that_would_not_be_read_does_not_stop_the_run(seeded: Contents, tmp_path: Path) -> None:
    february = write_workbook(tmp_path / "data" / FEBRUARY, rows(2))
    _broken_link(tmp_path / "data" / "2025年12月年金终稿数据.xlsx")

    assert loaded_paths(run("run_job", "--data-dir", str(tmp_path / "data"), *EXECUTE)) == [str(february)]


# --- item 9: the months in the rows differ from the month in the name ---------------------------


def test_rows_of_another_month_than_the_file_name_are_a_warning_naming_both(seeded: Contents, tmp_path: Path) -> None:
    september = write_workbook(tmp_path / "2026年9月年金终稿数据.xlsx", rows(2, 月度=202604) + rows(1, 月度=202609))

    summary = run("run_job", "--file", str(september), *EXECUTE)

    assert summary["status"] == "succeeded"
    expected = (
        f"{september.name}: its file or folder name says 2026-09, but 2 of its 3 rows are for other months "
        "(2026-04: 2 rows); check that this is the month's workbook"
    )
    assert expected in summary["warnings"]
    assert expected in BackfillRun.objects.get(pk=summary["audit_id"]).warnings


def test_rows_of_the_named_month_give_no_month_warning(seeded: Contents, tmp_path: Path) -> None:
    summary = run("run_job", "--file", str(write_workbook(tmp_path / FEBRUARY, rows(2))), *EXECUTE)

    assert not [warning for warning in summary["warnings"] if "name says" in warning]


def test_a_copy_of_a_newer_month_set_aside_is_a_warning_in_the_run_and_its_record(
    seeded: Contents, tmp_path: Path
) -> None:
    february = write_workbook(tmp_path / "data" / FEBRUARY, rows(2))
    march = write_workbook(tmp_path / "data" / "2026年3月年金终稿数据 - 副本.xlsx", rows(2, 月度=202603))

    summary = run("run_job", "--data-dir", str(tmp_path / "data"), *EXECUTE)

    assert loaded_paths(summary) == [str(february)]
    expected = [warning for warning in summary["warnings"] if warning.startswith(f"ignored {march} ")]
    assert expected and "newer than the month read (2026-02)" in expected[0]
    assert expected[0] in BackfillRun.objects.get(pk=summary["audit_id"]).warnings


def test_a_file_replaced_while_the_run_reads_it_is_refused(seeded: Contents, tmp_path: Path) -> None:
    """The SHA-256 is taken before the slow reading; a workbook saved over in between (Excel
    writes a new file and renames it) gave rows of the new file under the old file's digest, in
    the audit record and in the saved plan. Found by a hostile pass."""
    path = write_workbook(tmp_path / "data" / "2026年2月年金终稿数据.xlsx", [{"计划代码": "P0002"}])
    newer = write_workbook(tmp_path / "newer" / "2026年2月年金终稿数据.xlsx", [{"计划代码": "P0003"}])
    domain = get_config().domain("annuity_performance")

    def saved_over(opened: Path) -> None:
        os.replace(newer, opened)

    with pytest.raises(InputError) as refusal:
        batch_read(
            domain, data_dir=None, files=[path], max_files=None, sheet=None, lookups=lookups_read(domain),
            opened=saved_over,
        )  # fmt: skip

    assert str(path) in str(refusal.value) and "changed while it was read" in str(refusal.value)
    assert warehouse_contents() == seeded
