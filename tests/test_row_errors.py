"""Row errors in bounded memory (issue 13 item 1): a batch keeps a sample of its row errors in
Python and the rest in a temporary file, and every one still reaches the audit record, in order,
with its row's cells."""

from __future__ import annotations

import gc
import json
import re
import tempfile
from collections.abc import Sequence
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from facts import row_errors
from facts.cleansing import RowError
from facts.row_errors import RowErrors
from jobs import report
from refs import audit
from refs.models import BackfillRun, RunRowError
from tests.workbooks import write_workbook
from wdh.errors import InputError


def errors(count: int) -> list[RowError]:
    return [
        RowError("f.xlsx", "规模明细", 2 + i, "月度", f"x{i}", "not a month", source=(f"x{i}", i)) for i in range(count)
    ]


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(row_errors, "KEPT", 3)
    monkeypatch.setattr(row_errors, "BATCH", 2)


def test_row_errors_read_back_as_a_list_in_order_holding_few(small: None) -> None:
    made = errors(11)
    kept = RowErrors(made[:4])
    kept += iter(made[4:9])
    kept.extend(made[9:])
    assert kept.held <= 3 + 2
    assert list(kept) == made and [error.source for error in kept] == [error.source for error in made]
    assert list(kept) == made  # a second pass reads the file again
    assert len(kept) == 11 and kept and not RowErrors()
    assert kept[:2] == made[:2] and kept[2:7] == made[2:7] and kept[-3:] == made[-3:]
    assert kept[0] == made[0] and kept[5] == made[5] and kept[-1] == made[-1]
    with pytest.raises(IndexError):
        kept[11]
    kept.extend(errors(1))  # after reading back, adding goes on after the last
    assert len(kept) == 12 and kept[-1] == errors(1)[0] and kept[:11] == made
    assert kept == [*made, errors(1)[0]] and kept != made and kept == kept
    assert kept[::-1] == [*made, errors(1)[0]][::-1] and kept[8:1:-3] == made[8:1:-3]


def test_iterations_and_additions_may_interleave(small: None) -> None:
    """An iteration paused half-way through the file while errors are added, and two iterations
    side by side: each gives the errors held when it started, none overwritten."""
    made = errors(8)
    kept = RowErrors(made[:6])
    paused = iter(kept)
    first = [next(paused) for _ in range(3)]
    kept.extend(made[6:])
    assert first + list(paused) == made[:6]
    assert list(kept) == made and len(kept) == 8
    assert [a for a, b in zip(kept, kept, strict=True) if a == b] == made


def test_a_temporary_folder_that_cannot_be_written_is_a_refusal_naming_it(
    small: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    monkeypatch.setattr(tempfile, "tempdir", str(gone))
    kept = RowErrors(errors(3))  # the sample: no file yet
    with pytest.raises(InputError, match=rf"beyond the first 3 failed .* temporary folder \({re.escape(str(gone))}\)"):
        kept.extend(errors(5))


def alive_row_errors() -> int:
    return sum(1 for thing in gc.get_objects() if type(thing) is RowError)


def test_a_run_keeps_every_row_error_in_its_record_holding_few(
    warehouse: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: None
) -> None:
    """40 of 100 rows fail: when the audit record is written, no more than the sample and a
    batch of RowError objects are alive (before: all 40, held until the end), and the record
    keeps all 40 in sheet order, each with its row's cells; its summary lists the first few
    (RECORD_ROW_ERRORS) where the printed JSON at verbosity 2 lists all."""
    rows: list[dict[str, Any]] = [
        {
            "月度": "x" if index % 5 < 2 else 202602,
            "计划代码": f"P{index % 7}",
            "组合代码": "QTAN001",
            "客户名称": "客户",
        }
        for index in range(100)
    ]
    path = write_workbook(tmp_path / "2026年2月规模明细.xlsx", rows)
    seen: list[int] = []
    keep = audit.audit_row_errors

    def counting(record: BackfillRun, found: Sequence[RowError]) -> int:
        gc.collect()
        seen.append(alive_row_errors())
        return keep(record, found)

    monkeypatch.setattr(audit, "audit_row_errors", counting)
    monkeypatch.setattr(report, "RECORD_ROW_ERRORS", 3)
    out = StringIO()
    call_command(
        "run_job", "--file", str(path), "--execute", "--format", "json", verbosity=2, stdout=out, stderr=StringIO()
    )
    summary = json.loads(out.getvalue())
    assert summary["row_errors"]["count"] == 40 and len(summary["row_errors"]["items"]) == 40  # -v 2 lists all
    assert seen and max(seen) <= 3 + 2
    recorded = BackfillRun.objects.get(pk=summary["audit_id"]).summary["row_errors"]
    assert (recorded["count"], len(recorded["items"])) == (40, 3)
    assert recorded["items"] == summary["row_errors"]["items"][:3]
    kept = RunRowError.objects.filter(run_id=summary["audit_id"]).order_by("id")
    assert [error.row for error in kept] == [2 + index for index in range(100) if index % 5 < 2]
    assert all(error.column == "月度" and error.value == "x" and error.source for error in kept)
