"""Which workbooks a run reads (facts/discovery.py), on real folders under tmp_path. No database."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path, PurePath

import pytest

from facts.discovery import SourceFile, discover_files, version_of, year_month_of
from wdh.config import DomainConfig, Selection
from wdh.errors import InputError


def touch(root: Path, *names: str) -> list[Path]:
    paths = [root / name for name in names]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return paths


def relative(sources: list[SourceFile], root: Path) -> list[str]:
    return [source.path.relative_to(root).as_posix() for source in sources]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx", (2026, 2)),
        ("2024年11月年金终稿数据.xlsx", (2024, 11)),
        ("24年11月年金终稿数据_V2.xlsx", (2024, 11)),
        ("24年10月年金终稿数据.xlsx", (2024, 10)),
        ("2024年12月年金终稿数据.xlsx", (2024, 12)),
        ("25年1月规模明细.xlsx", (2025, 1)),
        ("2025年01月规模明细.xlsx", (2025, 1)),
        ("2020年9月规模明细.xlsx", (2020, 9)),
        ("20年9月规模明细.xlsx", (2020, 9)),
        ("data/202602/规模明细.xlsx", (2026, 2)),
        ("data/202610/规模明细.xlsx", (2026, 10)),
        ("data/202612/V2/规模明细.xlsx", (2026, 12)),
        ("2024年11月/规模明细.xlsx", (2024, 11)),
        ("202602/25年12月规模明细.xlsx", (2025, 12)),  # the file name wins over its folder
        ("2025/202601/规模明细.xlsx", (2026, 1)),
        ("2024年13月规模明细.xlsx", None),
        ("2024年0月规模明细.xlsx", None),
        ("2024年111月规模明细.xlsx", None),
        ("124年1月规模明细.xlsx", None),
        ("data/202613/规模明细.xlsx", None),
        ("data/202600/规模明细.xlsx", None),
        ("data/20260215/规模明细.xlsx", None),
        ("规模明细202602.xlsx", None),  # YYYYMM counts in folder names only
        ("规模明细.xlsx", None),
    ],
)
def test_year_month_of(path: str, expected: tuple[int, int] | None) -> None:
    assert year_month_of(PurePath(path)) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("24年11月年金终稿数据_V2.xlsx", 2),
        ("24年11月年金终稿数据_v3.xlsx", 3),
        ("24年11月年金终稿数据V10.xlsx", 10),
        ("24年11月年金终稿数据.xlsx", 0),
        ("V2/24年11月年金终稿数据.xlsx", 2),
        ("202411/v3/规模明细.xlsx", 3),
        ("V2/规模明细_V3.xlsx", 3),  # the file name wins over its folder
        ("规模明细V1(修订)V2.xlsx", 2),
        ("DEV2规模明细.xlsx", 0),
        ("V2备份/规模明细.xlsx", 0),
    ],
)
def test_version_of(path: str, expected: int) -> None:
    assert version_of(PurePath(path)) == expected


@pytest.mark.parametrize(
    ("files", "select", "max_files", "expected"),
    [
        pytest.param(
            ["2024年11月年金终稿数据.xlsx", "2024年12月年金终稿数据.xlsx", "24年10月年金终稿数据.xlsx"],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["2024年12月年金终稿数据.xlsx"],
            id="latest-month-wins",
        ),
        pytest.param(
            ["24年9月年金终稿数据.xlsx", "24年10月年金终稿数据.xlsx"],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["24年10月年金终稿数据.xlsx"],
            id="october-after-september",
        ),
        pytest.param(
            ["24年12月年金终稿数据.xlsx", "25年1月年金终稿数据.xlsx"],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["25年1月年金终稿数据.xlsx"],
            id="january-after-december",
        ),
        pytest.param(
            [
                "24年11月年金终稿数据.xlsx",
                "24年11月年金终稿数据_V2.xlsx",
                "24年11月年金终稿数据_V3.xlsx",
                "24年10月年金终稿数据_V9.xlsx",
            ],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["24年11月年金终稿数据_V3.xlsx"],
            id="highest-version-of-the-newest-month",
        ),
        pytest.param(
            ["202411/规模明细.xlsx", "202411/V2/规模明细.xlsx", "202410/V3/规模明细.xlsx"],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["202411/V2/规模明细.xlsx"],
            id="yyyymm-and-version-folders",
        ),
        pytest.param(
            ["规模明细.xlsx", "26年1月规模明细.xlsx"],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["26年1月规模明细.xlsx"],
            id="undated-loses",
        ),
        pytest.param(
            [
                "~$26年2月规模明细.xlsx",
                "26年2月规模明细.xlsx.bak",
                "26年2月规模明细.xlsx.tmp",
                "26年2月规模明细(回复).xlsx",
                "回复/26年3月规模明细回复.xlsx",
                "26年1月规模明细.xlsx",
            ],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["26年1月规模明细.xlsx"],
            id="lock-backup-temp-and-reply-files-excluded",
        ),
        pytest.param(
            [".26年2月规模明细.xlsx", ".old/26年3月规模明细.xlsx", "26年1月规模明细.xlsx"],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["26年1月规模明细.xlsx"],
            id="hidden-files-and-folders-excluded",
        ),
        pytest.param(
            ["26年3月收入明细.xlsx", "26年3月规模明细.csv", "26年1月规模明细.xlsx"],
            Selection.LATEST_BY_YEAR_MONTH,
            None,
            ["26年1月规模明细.xlsx"],
            id="non-matching-names-ignored",
        ),
        pytest.param(
            ["26年1月规模明细.XLSX", "26年2月年金终稿数据.xlsm", "26年3月规模明细.xls"],
            Selection.ALL,
            None,
            ["26年1月规模明细.XLSX", "26年2月年金终稿数据.xlsm", "26年3月规模明细.xls"],
            id="xlsx-xlsm-xls-any-case",
        ),
        pytest.param(
            ["26年2月规模明细.xlsx", "规模明细.xlsx", "26年1月规模明细_V2.xlsx", "26年1月规模明细.xlsx"],
            Selection.ALL,
            None,
            ["规模明细.xlsx", "26年1月规模明细.xlsx", "26年1月规模明细_V2.xlsx", "26年2月规模明细.xlsx"],
            id="all-by-month-version-path",
        ),
        pytest.param(
            ["26年2月规模明细.xlsx", "26年1月规模明细.xlsx", "25年12月规模明细.xlsx"],
            Selection.ALL,
            2,
            ["25年12月规模明细.xlsx", "26年1月规模明细.xlsx"],
            id="all-with-max-files",
        ),
    ],
)
def test_selection(
    domain: DomainConfig,
    tmp_path: Path,
    files: list[str],
    select: Selection,
    max_files: int | None,
    expected: list[str],
) -> None:
    touch(tmp_path, *files)

    chosen = discover_files(dataclasses.replace(domain, select=select), max_files=max_files)

    assert relative(chosen, tmp_path) == expected


def test_source_files_carry_month_and_version(domain: DomainConfig, tmp_path: Path) -> None:
    touch(tmp_path, "202411/V2/24年11月年金终稿数据.xlsx")

    assert discover_files(domain) == [
        SourceFile(path=tmp_path / "202411/V2/24年11月年金终稿数据.xlsx", year_month=(2024, 11), version=2)
    ]


def test_month_comes_from_below_the_data_directory_only(domain: DomainConfig, tmp_path: Path) -> None:
    root = tmp_path / "202612" / "V9"
    touch(root, "规模明细.xlsx")

    assert discover_files(domain, data_dir=root) == [
        SourceFile(path=root / "规模明细.xlsx", year_month=None, version=0)
    ]


def test_symlinked_folders_are_not_followed(domain: DomainConfig, tmp_path: Path) -> None:
    touch(tmp_path, "26年1月规模明细.xlsx")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    touch(elsewhere, "26年9月规模明细.xlsx")
    (tmp_path / "linked").symlink_to(elsewhere, target_is_directory=True)

    assert relative(discover_files(domain), tmp_path) == ["26年1月规模明细.xlsx"]


def test_data_dir_overrides_base_dir(domain: DomainConfig, tmp_path: Path) -> None:
    other = tmp_path / "other"
    touch(tmp_path, "26年2月规模明细.xlsx")
    touch(other, "25年2月规模明细.xlsx")

    assert relative(discover_files(domain, data_dir=other), other) == ["25年2月规模明细.xlsx"]


def test_explicit_files_bypass_patterns_and_selection(domain: DomainConfig, tmp_path: Path) -> None:
    newer, older, unmatched = touch(tmp_path, "26年2月规模明细.xlsx", "25年1月规模明细_V2.xlsx", "我的文件.xlsx")

    chosen = discover_files(domain, files=[older, unmatched, newer], data_dir=tmp_path / "ignored")

    assert chosen == [
        SourceFile(path=older, year_month=(2025, 1), version=2),
        SourceFile(path=unmatched, year_month=None, version=0),
        SourceFile(path=newer, year_month=(2026, 2), version=0),
    ]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda path: None, "file not found"),
        (lambda path: path.mkdir(), "not a file"),
    ],
)
def test_explicit_file_must_be_a_file(domain: DomainConfig, tmp_path: Path, make, expected: str) -> None:
    path = tmp_path / "26年2月规模明细.xlsx"
    make(path)

    with pytest.raises(InputError, match=expected) as caught:
        discover_files(domain, files=[path])

    assert f"--file {path}" in str(caught.value)


def test_explicit_file_must_be_readable(domain: DomainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (path,) = touch(tmp_path, "26年2月规模明细.xlsx")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: answer as the file system would for a user
        real_open = Path.open

        def refuse(self: Path, *args: object, **kwargs: object) -> object:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(Path, "open", refuse)

    with pytest.raises(InputError, match="cannot be read \\(Permission denied\\)") as caught:
        discover_files(domain, files=[path])

    assert str(path) in str(caught.value)


def test_missing_data_directory(domain: DomainConfig, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    with pytest.raises(InputError) as caught:
        discover_files(dataclasses.replace(domain, base_dir=missing))

    message = str(caught.value)
    assert f"data directory {missing}" in message
    assert "does not exist" in message
    assert "domains.annuity_performance.base_dir" in message
    assert "--data-dir" in message


def test_data_directory_from_flag_is_named_as_such(domain: DomainConfig, tmp_path: Path) -> None:
    (path,) = touch(tmp_path, "not-a-folder")

    with pytest.raises(InputError, match="is not a directory") as caught:
        discover_files(domain, data_dir=path)

    assert f"data directory {path} (from --data-dir)" in str(caught.value)


def test_nothing_matches_lists_patterns_and_directory(domain: DomainConfig, tmp_path: Path) -> None:
    touch(tmp_path, "~$26年2月规模明细.xlsx", "readme.txt")

    with pytest.raises(InputError) as caught:
        discover_files(domain)

    message = str(caught.value)
    assert f"no workbook in {tmp_path}" in message
    assert "domains.annuity_performance.file_patterns" in message
    for pattern in (*domain.file_patterns, *domain.exclude_patterns):
        assert pattern in message


@pytest.mark.parametrize("max_files", [0, -1])
def test_max_files_must_be_positive(domain: DomainConfig, max_files: int) -> None:
    with pytest.raises(InputError, match=f"--max-files must be 1 or more, got {max_files}"):
        discover_files(domain, max_files=max_files)
