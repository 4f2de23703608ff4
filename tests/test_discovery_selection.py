"""What discovery refuses to choose silently (issue 9 items 1 and 9), on real folders under
tmp_path. File system only; tests/test_discovery_identity.py runs the same cases end to end."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from facts.discovery import discover, discover_files
from tests.test_discovery import touch
from wdh.config import DomainConfig, Selection
from wdh.errors import InputError


@pytest.mark.parametrize(
    "copy",
    [
        "26年2月规模明细 - 副本.xlsx",
        "26年2月规模明细 - 副本 (3).xlsx",
        "26年2月规模明细的副本.xlsx",
        "26年2月规模明细 (1).xlsx",
        "26年2月规模明细 (10).XLSX",
        "26年2月规模明细 - Copy.xlsx",
    ],
)
def test_copies_are_excluded_by_the_shipped_patterns(domain: DomainConfig, tmp_path: Path, copy: str) -> None:
    original, _ = touch(tmp_path, "26年2月规模明细.xlsx", copy)

    assert discover_files(domain) == discover_files(domain, files=[original])


def test_a_bracketed_note_in_a_real_name_is_no_copy(domain: DomainConfig, tmp_path: Path) -> None:
    (real,) = touch(tmp_path, "【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx")

    assert [source.path for source in discover_files(domain)] == [real]


@pytest.mark.parametrize("select", list(Selection))
def test_several_workbooks_of_one_month_and_version_are_refused(
    domain: DomainConfig, tmp_path: Path, select: Selection
) -> None:
    first, second, _ = touch(tmp_path, "26年2月规模明细_A.xlsx", "26年2月规模明细_B.xlsx", "26年1月规模明细.xlsx")

    with pytest.raises(InputError) as caught:
        discover_files(dataclasses.replace(domain, select=select))

    message = str(caught.value)
    assert f"2 workbooks in {tmp_path} are for 2026-02, no version number: {first}, {second}" in message
    assert "--file" in message


def test_several_undated_workbooks_are_refused(domain: DomainConfig, tmp_path: Path) -> None:
    touch(tmp_path, "a/规模明细.xlsx", "b/规模明细.xlsx")

    with pytest.raises(InputError, match="are for no month in the name, no version number"):
        discover_files(domain)


def test_versions_of_one_month_are_not_several_workbooks(domain: DomainConfig, tmp_path: Path) -> None:
    _, highest = touch(tmp_path, "26年2月规模明细.xlsx", "26年2月规模明细_V2.xlsx")

    assert [source.path for source in discover_files(domain)] == [highest]


def test_explicit_files_of_one_month_are_taken(domain: DomainConfig, tmp_path: Path) -> None:
    first, second = touch(tmp_path, "26年2月规模明细_A.xlsx", "26年2月规模明细_B.xlsx")

    assert [source.path for source in discover_files(domain, files=[first, second])] == [first, second]


def test_a_pipe_with_a_workbook_name_is_refused_not_read(domain: DomainConfig, tmp_path: Path) -> None:
    touch(tmp_path, "26年1月规模明细.xlsx")
    pipe = tmp_path / "26年2月规模明细.xlsx"
    os.mkfifo(pipe)  # opening it for reading would block the run forever

    with pytest.raises(InputError, match="not a regular file") as caught:
        discover_files(domain)

    assert str(pipe) in str(caught.value) and "2026-02" in str(caught.value)


def test_a_link_to_a_file_of_the_folder_is_the_same_file(domain: DomainConfig, tmp_path: Path) -> None:
    (january,) = touch(tmp_path, "26年1月规模明细.xlsx")
    link = tmp_path / "26年2月规模明细.xlsx"
    link.symlink_to(january)

    with pytest.raises(InputError, match="are the same file") as caught:
        discover_files(dataclasses.replace(domain, select=Selection.ALL))

    assert f"{january} and {link}" in str(caught.value)


def test_a_broken_file_cut_by_max_files_is_not_read(domain: DomainConfig, tmp_path: Path) -> None:
    (january,) = touch(tmp_path, "26年1月规模明细.xlsx")
    (tmp_path / "26年2月规模明细.xlsx").symlink_to(tmp_path / "gone.xlsx")

    chosen = discover_files(dataclasses.replace(domain, select=Selection.ALL), max_files=1)

    assert [source.path for source in chosen] == [january]


def test_an_excluded_file_of_a_newer_or_the_same_month_is_a_warning(domain: DomainConfig, tmp_path: Path) -> None:
    february, copy, march, _ = touch(
        tmp_path,
        "26年2月规模明细.xlsx",
        "26年2月规模明细 - 副本.xlsx",
        "26年3月规模明细(回复).xlsx",
        "26年1月规模明细.bak",  # older than the month read: history, not worth a word
    )

    found = discover(domain)

    assert [source.path for source in found.files] == [february]
    assert found.warnings == [
        f"ignored {copy} (it matches domains.annuity_performance.exclude_patterns): it names 2026-02, "
        "the month read; if it is the workbook to load, rename it or pass --file",
        f"ignored {march} (it matches domains.annuity_performance.exclude_patterns): it names 2026-03, "
        "newer than the month read (2026-02); if it is the workbook to load, rename it or pass --file",
    ]


def test_explicit_files_give_no_exclusion_warning(domain: DomainConfig, tmp_path: Path) -> None:
    february, _ = touch(tmp_path, "26年2月规模明细.xlsx", "26年3月规模明细 - 副本.xlsx")

    assert discover(domain, files=[february]).warnings == []


def test_a_linked_folder_that_is_not_entered_is_a_warning(domain: DomainConfig, tmp_path: Path) -> None:
    """A newer month behind a folder link would otherwise let an older month load unremarked."""
    (january,) = touch(tmp_path, "26年1月规模明细.xlsx")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    touch(elsewhere, "26年9月规模明细.xlsx")
    (tmp_path / "linked").symlink_to(elsewhere, target_is_directory=True)
    (tmp_path / ".hidden-link").symlink_to(elsewhere, target_is_directory=True)

    found = discover(domain)

    assert [source.path for source in found.files] == [january]
    assert found.warnings == [
        f"did not look inside {tmp_path / 'linked'}: it is a symbolic link to the folder {elsewhere}, and "
        f"linked folders are not entered (a link can loop back); pass --data-dir {elsewhere} to read it"
    ]


def test_an_undated_workbook_passed_over_is_a_warning(domain: DomainConfig, tmp_path: Path) -> None:
    """An undated 规模明细.xlsx dropped in for a new month would otherwise lose to the old one unseen."""
    february, undated = touch(tmp_path, "26年2月规模明细.xlsx", "新/规模明细.xlsx")

    found = discover(domain)

    assert [source.path for source in found.files] == [february]
    assert found.warnings == [
        f"did not read {undated}: neither its name nor its folder says a month, and dated workbooks "
        "win (2026-02 is read); if it is the workbook to load, put its month in its name or pass --file"
    ]
