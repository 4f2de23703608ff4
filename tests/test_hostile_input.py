"""Hostile and broken input, one test per case of the catalogue, through ``run_job --execute``.

Each case ends in one of two ways:

- the input is unusable: exit code 2, a message naming the file (sheet, column) and the fix,
  a ``failed`` audit record, and the warehouse exactly as it was (compared row by row);
- a row breaks a cleansing rule: the row is left out and listed as a row error with its row
  number (as Excel shows it), column and value, while the other rows load — never a database
  error half-way through.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from domains.annuity_performance.models import AnnuityPerformance
from facts.cells import VALUE_SHOWN
from facts.xlsx import Cell, Sheet, write_package
from refs.models import AnnuityPlan, BackfillRun, Portfolio, RunFile, RunKey, RunRowError, RunStatus
from tests.processes import warehouse_contents
from tests.test_backfill import by_target, run, run_failing
from tests.workbooks import DEFAULTS, HEADER, write_workbook

FILE_NAME = "2026年2月年金终稿数据.xlsx"
EXECUTE = ("--execute", "--backfill-refs", "all", "--verbosity", "2")
Contents = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def seeded(warehouse: None, tmp_path: Path) -> Contents:
    """One earlier month and plan in the warehouse, so "unchanged" is a real comparison."""
    # A branch name of its own: the 组织架构 row its backfill inserts must not give the tests'
    # rows (北京分公司) their code by name, which would leave their own 机构代码 cells unread.
    seed = write_workbook(tmp_path / "seed" / FILE_NAME, [{"计划代码": "P0001", "月度": 202601, "机构": "种子分公司"}])
    run("run_job", "--file", str(seed), *EXECUTE)
    return warehouse_contents()


def refused(seeded: Contents, *args: str) -> str:
    """Run the job on unusable input: exit 2, nothing written, a failed record. The message."""
    error, summary = run_failing("run_job", *args, *EXECUTE)
    assert error.returncode == 2, str(error)
    assert warehouse_contents() == seeded
    record = BackfillRun.objects.get(pk=summary["audit_id"])
    assert record.status == RunStatus.FAILED and record.error == summary["error"]["message"]
    return str(error)


def loaded(path: Path) -> dict[str, Any]:
    """Run the job on a workbook it can load (perhaps with row errors); its summary."""
    summary = run("run_job", "--file", str(path), *EXECUTE)
    assert summary["status"] == "succeeded", summary["error"]
    return summary


def row_errors(summary: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    return [(item["row"], item["column"], item["value"]) for item in summary["row_errors"]["items"]]


def good_rows(count: int) -> list[dict[str, Any]]:
    """Valid rows for plans P0002, P0003, … (Excel rows 2, 3, …)."""
    return [{"计划代码": f"P{index:04d}", "组合代码": f"Z{index}"} for index in range(2, 2 + count)]


# --- files that are not usable workbooks --------------------------------------------------------


def test_a_text_file_with_an_xlsx_name(seeded: Contents, tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text("月度,计划代码\n202602,P0002\n", encoding="utf-8")
    message = refused(seeded, "--file", str(path))
    assert str(path) in message and "not an Excel workbook" in message and "save it as .xlsx" in message


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_truncated_or_corrupted_workbook(seeded: Contents, tmp_path: Path, damage: str) -> None:
    path = write_workbook(tmp_path / FILE_NAME, good_rows(50))
    content = bytearray(path.read_bytes())
    if damage == "truncated":
        content = content[: len(content) * 2 // 3]
    else:  # overwrite the middle of the compressed sheet data: the zip's CRC no longer matches
        middle = len(content) // 2
        content[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(content))
    message = refused(seeded, "--file", str(path))
    assert str(path) in message and "cannot be read as an Excel workbook" in message
    assert "copy it again" in message


FREE, END_OF_CHAIN, FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def encrypted_workbook(path: Path, size: int = 4096) -> Path:
    """What Excel writes for a workbook with a password: an OLE2 compound file (version 3) with
    the streams EncryptionInfo and EncryptedPackage — valid enough that calamine itself says
    "password protected"."""
    sectors = size // 512
    info, package = 2, 2 + sectors  # sector 0: the FAT, sector 1: the directory
    fat = [FAT_SECTOR, END_OF_CHAIN]
    for start in (info, package):
        fat += [*range(start + 1, start + sectors), END_OF_CHAIN]
    header = struct.pack(
        "<8s16s5H6s9I109I", bytes.fromhex("D0CF11E0A1B11AE1"), bytes(16), 0x3E, 3, 0xFFFE, 9, 6, bytes(6),
        0, 1, 1, 0, 4096, END_OF_CHAIN, 0, END_OF_CHAIN, 0, 0, *[FREE] * 108,
    )  # fmt: skip

    def entry(name: str, kind: int, right: int, child: int, start: int, length: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return struct.pack(
            "<64sH2B3I16sI2QIQ", encoded, len(encoded), kind, 1, FREE, right, child, bytes(16), 0, 0, 0, start, length
        )

    directory = (
        entry("Root Entry", 5, FREE, 1, END_OF_CHAIN, 0)
        + entry("EncryptionInfo", 2, 2, FREE, info, size)
        + entry("EncryptedPackage", 2, FREE, FREE, package, size)
        + entry("", 0, FREE, FREE, 0, 0)
    )
    streams = struct.pack("<2HI", 4, 4, 0x40) + bytes(size - 8) + struct.pack("<Q", 9999) + os.urandom(size - 8)
    path.write_bytes(header + struct.pack("<128I", *fat, *[FREE] * (128 - len(fat))) + directory + streams)
    return path


def test_a_password_protected_workbook(seeded: Contents, tmp_path: Path) -> None:
    path = encrypted_workbook(tmp_path / FILE_NAME)
    message = refused(seeded, "--file", str(path))
    assert str(path) in message and "password-protected" in message and "remove the password" in message


# --- sheets and headers -------------------------------------------------------------------------


def workbook_with(path: Path, rows: Iterable[Sequence[Any]], edit: Callable[[Any], None] | None = None) -> Path:
    """Sheet 规模明细 with ``rows`` as given (the first is the header), then ``edit(sheet)``."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "规模明细"
    for row in rows:
        sheet.append(list(row))
    if edit:
        edit(sheet)
    workbook.save(path)
    return path


def test_an_empty_sheet(seeded: Contents, tmp_path: Path) -> None:
    path = workbook_with(tmp_path / FILE_NAME, [])
    message = refused(seeded, "--file", str(path))
    assert str(path) in message and "sheet '规模明细'" in message and "the sheet is empty" in message


def test_a_header_only_sheet(seeded: Contents, tmp_path: Path) -> None:
    path = workbook_with(tmp_path / FILE_NAME, [HEADER])
    message = refused(seeded, "--file", str(path))
    assert str(path) in message and "规模明细" in message and "no data rows" in message


def test_duplicated_header_names(seeded: Contents, tmp_path: Path) -> None:
    header = [*HEADER, "机构名称"]  # 机构 is read as 机构名称 too
    path = workbook_with(tmp_path / FILE_NAME, [header, [DEFAULTS.get(name, "P0002") for name in header]])
    message = refused(seeded, "--file", str(path))
    assert "header '机构名称' appears twice" in message and "columns S ('机构') and X ('机构名称')" in message


# --- cells --------------------------------------------------------------------------------------


def column_of(name: str) -> int:
    return HEADER.index(name) + 1


def test_formula_error_values_are_row_errors(seeded: Contents, tmp_path: Path) -> None:
    rows = [[{**DEFAULTS, **row}.get(name) for name in HEADER] for row in good_rows(6)]

    def errors(sheet: Any) -> None:
        for row, name, code in [(3, "期末资产规模", "#N/A"), (5, "月度", "#DIV/0!"), (6, "供款", "#VALUE!")]:
            cell = sheet.cell(row=row, column=column_of(name), value=code)
            cell.data_type = "e"

    summary = loaded(workbook_with(tmp_path / FILE_NAME, [HEADER, *rows], errors))
    assert row_errors(summary) == [(3, "期末资产规模", "#N/A"), (5, "月度", "#DIV/0!"), (6, "供款", "#VALUE!")]
    assert summary["facts"]["inserted"] == 3
    assert sorted(AnnuityPerformance.objects.filter(月度=date(2026, 2, 1)).values_list("计划代码", flat=True)) == [
        "P0002", "P0004", "P0007",
    ]  # fmt: skip


def test_merged_cells_give_their_value_to_the_first_cell_only(seeded: Contents, tmp_path: Path) -> None:
    rows = [[{**DEFAULTS, **row}.get(name) for name in HEADER] for row in good_rows(4)]

    def merge(sheet: Any) -> None:  # 月度 merged over rows 2-3, as people lay out a month's block
        letter = openpyxl.utils.get_column_letter(column_of("月度"))
        sheet.merge_cells(f"{letter}2:{letter}3")

    summary = loaded(workbook_with(tmp_path / FILE_NAME, [HEADER, *rows], merge))
    assert row_errors(summary) == [(3, "月度", None)]
    assert summary["facts"]["inserted"] == 3


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        pytest.param(
            "计划名称", "计" * 256, "计划名称 would be 256 characters; the column holds at most 255", id="255"
        ),
        pytest.param(
            "集团企业客户号", "C" + "9" * 51, "年金账户号 would be 51 characters; the column holds at most 50", id="50"
        ),
    ],
)
def test_text_longer_than_its_fact_column_is_a_row_error(
    seeded: Contents, tmp_path: Path, column: str, value: str, problem: str
) -> None:
    rows = [*good_rows(3), {"计划代码": "P0009", column: value}]
    summary = loaded(write_workbook(tmp_path / FILE_NAME, rows))
    assert row_errors(summary) == [(5, column, value)]
    assert summary["row_errors"]["items"][0]["message"] == problem
    assert summary["facts"]["inserted"] == 3 and not AnnuityPlan.objects.filter(pk="P0009").exists()


def test_a_huge_value_is_kept_truncated_in_the_row_error_and_whole_in_the_rejects(
    seeded: Contents, tmp_path: Path
) -> None:
    """A 30,000-character cell is a row error whose value is shown and stored as its first
    characters and its length; the rejected-rows workbook still gives the whole cell back."""
    huge = "计" * 30_000
    summary = loaded(write_workbook(tmp_path / FILE_NAME, [*good_rows(3), {"计划代码": "P0009", "计划名称": huge}]))
    shown = "计" * VALUE_SHOWN + "… (30,000 characters in all)"
    assert row_errors(summary) == [(5, "计划名称", shown)]
    stored = RunRowError.objects.get(run_id=summary["audit_id"])
    assert stored.value == shown and huge in stored.source


def test_a_huge_value_in_an_amount_column_is_quoted_truncated_in_its_message(seeded: Contents, tmp_path: Path) -> None:
    summary = loaded(write_workbook(tmp_path / FILE_NAME, [*good_rows(3), {"计划代码": "P0009", "供款": "x" * 30_000}]))
    (item,) = summary["row_errors"]["items"]
    assert item["message"] == repr("x" * VALUE_SHOWN + "… (30,000 characters in all)") + " is not a number"


def test_a_branch_code_longer_than_the_plans_varchar_10_is_a_row_error(seeded: Contents, tmp_path: Path) -> None:
    rows = [*good_rows(3), {"计划代码": "P0009", "机构代码": "G" + "1" * 10}]
    summary = loaded(write_workbook(tmp_path / FILE_NAME, rows))
    assert row_errors(summary) == [(5, "机构代码", "G" + "1" * 10)]
    assert "年金计划.主拓代码, derived from it, holds at most 10" in summary["row_errors"]["items"][0]["message"]
    assert not AnnuityPlan.objects.filter(年金计划号="P0009").exists()
    assert not AnnuityPerformance.objects.filter(计划代码="P0009").exists()
    assert AnnuityPerformance.objects.filter(计划代码__in=["P0002", "P0003", "P0004"]).count() == 3


def test_a_joined_value_longer_than_its_column_is_refused_before_any_write(seeded: Contents, tmp_path: Path) -> None:
    """管理资格 joins every distinct 业务类型 of a plan: no single row is at fault, so the run is
    refused, naming the plan, the column and its width — never a database error half-way."""
    rows = [*good_rows(2), *({"计划代码": "P0009", "业务类型": kind * 200} for kind in "甲乙")]
    message = refused(seeded, "--file", str(write_workbook(tmp_path / FILE_NAME, rows)))
    assert "plans P0009: derived 管理资格 = " in message and "is 401 characters" in message
    assert '"mapping"."年金计划".管理资格 allows (255)' in message


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        pytest.param("NaN", None, id="NaN"),
        pytest.param("inf", None, id="inf"),
        pytest.param("-Infinity", None, id="-inf"),
        pytest.param("1e400", None, id="1e400"),
        pytest.param(1e300, None, id="1e300 cell"),
        pytest.param(123_456_789_012_345.0, None, id="beyond numeric(18,4)"),
        pytest.param(-0.0, Decimal("0.0000"), id="negative zero cell"),
        pytest.param("-0", Decimal("0.0000"), id="negative zero text"),
    ],
)
def test_amounts_that_are_not_finite_or_do_not_fit(
    seeded: Contents, tmp_path: Path, value: Any, stored: Decimal | None
) -> None:
    rows = [*good_rows(2), {"计划代码": "P0009", "期末资产规模": value}]
    summary = loaded(write_workbook(tmp_path / FILE_NAME, rows))
    if stored is None:
        assert row_errors(summary) == [(4, "期末资产规模", str(value))]
        assert summary["facts"]["inserted"] == 2
    else:
        assert row_errors(summary) == []
        assert AnnuityPerformance.objects.get(计划代码="P0009").期末资产规模 == stored


@pytest.mark.parametrize(
    ("value", "month"),
    [
        pytest.param(190001, date(1900, 1, 1), id="1900 integer"),
        pytest.param(datetime(1900, 1, 1), date(1900, 1, 1), id="1900 date cell"),
        pytest.param("2100年12月", date(2100, 12, 1), id="2100 text"),
        pytest.param(189912, None, id="1899 integer"),
        pytest.param(210101, None, id="2101 integer"),
        pytest.param(999912, None, id="9999 integer"),
        pytest.param(datetime(9999, 12, 31), None, id="9999 date cell"),
        pytest.param(1000001, None, id="seven digits"),
        pytest.param("99999年1月", None, id="five-digit year"),
        pytest.param(-202602, None, id="negative"),
    ],
)
def test_months_far_in_the_past_or_future(seeded: Contents, tmp_path: Path, value: Any, month: date | None) -> None:
    rows = [*good_rows(2), {"计划代码": "P0009", "月度": value}]
    summary = loaded(write_workbook(tmp_path / FILE_NAME, rows))
    if month is None:  # the rule accepts the years 1900–2100
        assert [(row, column) for row, column, _ in row_errors(summary)] == [(4, "月度")]
        assert not AnnuityPlan.objects.filter(pk="P0009").exists()
    else:
        assert row_errors(summary) == []
        assert AnnuityPerformance.objects.get(计划代码="P0009").月度 == month


# --- volume -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hundred_thousand_distinct_keys(seeded: Contents, tmp_path: Path) -> None:
    count = 100_000
    defaults = [DEFAULTS.get(name) for name in HEADER]
    code, portfolio = HEADER.index("计划代码"), HEADER.index("组合代码")

    def rows() -> Iterable[list[Cell]]:
        for index in range(count):
            row = list(defaults)
            row[code], row[portfolio] = f"K{index:06d}", f"X{index:06d}"
            yield row

    path = tmp_path / FILE_NAME
    write_package(path, [Sheet("规模明细", HEADER, rows(), count, 0)], description="wdh test", created=date(2026, 2, 1))
    summary = loaded(path)
    targets = by_target(summary)
    assert (targets["plans"]["inserted"], targets["portfolios"]["inserted"]) == (count, count)
    assert (summary["facts"]["deleted"], summary["facts"]["inserted"]) == (0, count)
    assert AnnuityPlan.objects.count() == count + 1 and Portfolio.objects.filter(pk__startswith="X").count() == count
    assert RunKey.objects.filter(run_id=summary["audit_id"]).count() == 2 * count
    again = run("run_job", "--file", str(path), "--backfill-refs", "all")
    assert [target["inserted"] for target in again["backfill"]["targets"]] == [0, 0, 0, 0]


# --- file names and the data directory ----------------------------------------------------------


def test_file_names_with_spaces_quotes_and_chinese(seeded: Contents, tmp_path: Path) -> None:
    folder = tmp_path / 'data dir/"引号" 文件夹'
    path = write_workbook(folder / "【年金规模收入】26年2月 \"规模\" 数据 O'Brien's (最终).xlsx", good_rows(2))
    by_folder = run("run_job", "--data-dir", str(tmp_path / "data dir"), *EXECUTE)
    by_file = loaded(path)
    for summary in (by_folder, by_file):
        assert summary["status"] == "succeeded" and [f["path"] for f in summary["files"]] == [str(path)]
        assert RunFile.objects.get(run_id=summary["audit_id"]).path == str(path)
    assert by_file["facts"]["deleted"] == 2  # the same month loaded once more, not twice


def test_symlinks_in_the_data_directory_are_not_followed_into_folders_or_loops(
    seeded: Contents, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    february = write_workbook(data / FILE_NAME, good_rows(2))
    elsewhere = write_workbook(tmp_path / "elsewhere" / "2026年4月年金终稿数据.xlsx", good_rows(9))
    (data / "loop").symlink_to(data, target_is_directory=True)
    (data / "april").symlink_to(elsewhere.parent, target_is_directory=True)  # newer, but a folder link
    summary = run("run_job", "--data-dir", str(data), *EXECUTE)
    assert summary["status"] == "succeeded" and [f["path"] for f in summary["files"]] == [str(february)]
    assert summary["facts"]["inserted"] == 2


def test_a_data_directory_holding_only_a_broken_symlink(seeded: Contents, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / FILE_NAME).symlink_to(tmp_path / "gone.xlsx")
    message = refused(seeded, "--data-dir", str(data))
    assert str(data / FILE_NAME) in message and "a broken symbolic link" in message and "--file" in message


def test_an_unreadable_workbook_in_the_data_directory(
    seeded: Contents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_workbook(tmp_path / "data" / FILE_NAME, good_rows(2))
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: refuse the way the kernel would for a user
        real_open = Path.open

        def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)
    message = refused(seeded, "--data-dir", str(path.parent))
    assert str(path) in message and "cannot be read (Permission denied)" in message


def test_an_unreadable_folder_in_the_data_directory(
    seeded: Contents, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_workbook(tmp_path / "data" / FILE_NAME, good_rows(2))
    locked = tmp_path / "data" / "202603"
    locked.mkdir()
    locked.chmod(0)
    real_scandir = os.scandir

    def scandir(folder: Any = ".") -> Any:
        if Path(folder) == locked:  # as root the kernel would let us in: refuse as it would a user
            raise PermissionError(13, "Permission denied", str(folder))
        return real_scandir(folder)

    monkeypatch.setattr(os, "scandir", scandir)
    message = refused(seeded, "--data-dir", str(tmp_path / "data"))
    assert f"cannot read folder {locked} (Permission denied)" in message and "--file" in message
    locked.chmod(0o700)
