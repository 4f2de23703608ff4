"""A cleansing worker's rows stay columns in the run (facts/column_rows.py): everything the run does
with them — the staging COPY, the derivation folds, the delete scopes — gives what the same rows
as dicts give, and no dict is made per row on the way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from facts import cleansing_worker, sheet_pieces
from facts.cleansing import CleansedChunk
from facts.cleansing_worker import _packed, _unpacked
from facts.column_rows import ColumnRows, columns_of
from facts.duplicates import ScopeClaims
from facts.fact_staging import FactStaging
from refs.conflicts import expected_shared
from refs.derivation import CandidateFold
from tests.test_cleansing_worker import domain_columns, read, write_sheet
from wdh.config import get_config

AMOUNTS = [Decimal("1.10"), Decimal("-0"), Decimal("1E+3"), None, Decimal("0.000001"), Decimal("123456789.123456")]


def fact_rows() -> list[dict[str, Any]]:
    """Rows of every fact column of 规模明细, with Decimals whose texts differ from their values'
    plain form (exponent, sign, trailing zeros), NULLs, repeated and blank keys."""
    columns = domain_columns("annuity_performance")
    rows = []
    for index, amount in enumerate(AMOUNTS * 3):
        row: dict[str, Any] = dict.fromkeys(columns)
        row.update({
            "月度": date(2026, 2 + index % 2, 1), "业务类型": "企年受托", "计划类型": "集合计划",
            "计划代码": ["P0001", "P0002", " ", None][index % 4], "计划名称": f"计划{index % 3}",
            "组合代码": f"QTAN{index % 5:03d}", "客户名称": f"客户{index}", "期末资产规模": amount,
            "期初资产规模": Decimal(index), "当期收益率": Decimal("0.055778"), "机构代码": "G00",
        })  # fmt: skip
        rows.append(row)
    return rows


def travelled(rows: list[dict[str, Any]]) -> ColumnRows:
    back = _unpacked(_packed(CleansedChunk(rows, [None] * len(rows), [], len(rows)))).rows
    assert isinstance(back, ColumnRows)
    return back


def test_column_rows_are_the_rows_they_were() -> None:
    rows = fact_rows()
    back = travelled(rows)
    assert len(back) == len(rows) and back == rows and rows == back
    assert list(back) == rows and back[2] == rows[2] and back[-1] == rows[-1] and back[1:4] == rows[1:4]
    for was, now in zip(rows, back, strict=True):
        assert [type(value) for value in now.values()] == [type(value) for value in was.values()]
        assert [str(value) for value in now.values()] == [str(value) for value in was.values()]
    amounts = [row["期末资产规模"] for row in rows]
    assert back.column("期末资产规模") == amounts
    assert list(map(str, back.column("期末资产规模"))) == list(map(str, amounts))
    # for COPY: the Decimals' texts, as the worker wrote them
    assert back.copy_column("期末资产规模") == [None if value is None else str(value) for value in amounts]
    assert back.column("no such column") == [None] * len(rows)
    assert columns_of(back, ("月度", "计划代码")) == columns_of(rows, ("月度", "计划代码"))
    with pytest.raises(IndexError):
        back[len(rows)]
    with pytest.raises(ValueError, match="unequal length"):
        ColumnRows(("a", "b"), [[1], [1, 2]], [False, False])


def test_column_rows_stage_derive_and_claim_as_dict_rows_do(warehouse: None) -> None:
    domain = get_config().domain("annuity_performance")
    rows = fact_rows()
    staged = {}
    for kind, given in (("dicts", rows), ("columns", travelled(rows))):
        staging = FactStaging.create(domain.name, domain.facts.qualified, domain_columns(domain.name))
        try:
            staging.add(given)
            staged[kind] = ([row for part in staging.read_back() for row in part], staging.digest())
        finally:
            staging.drop()
    assert staged["columns"] == staged["dicts"]

    derived = {}
    for kind, given in (("dicts", rows), ("columns", travelled(rows))):
        folds = [CandidateFold(target, shared=expected_shared(domain)) for target in domain.targets("all")]
        for fold in folds:
            fold.add(given)
        derived[kind] = [(fold.derivation().candidates, fold.derivation().warnings) for fold in folds]
    assert derived["columns"] == derived["dicts"]

    claims = {kind: ScopeClaims(domain.facts.pk) for kind in ("dicts", "columns")}
    claims["dicts"].claim(Path("a.xlsx"), rows)
    claims["columns"].claim(Path("a.xlsx"), travelled(rows))
    assert claims["columns"].scopes == claims["dicts"].scopes and len(claims["dicts"].scopes) == 2


def test_a_workers_rows_reach_the_staging_as_columns(
    warehouse: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheet_pieces, "SHARED_ROWS", 50)
    monkeypatch.setattr(cleansing_worker, "_forkable", lambda: True)
    copied: list[type] = []
    copy = FactStaging.copy

    def copying(self: FactStaging, cursor: Any, start: int, rows: Any, pending: Any) -> int:
        copied.append(type(rows))
        return copy(self, cursor, start, rows, pending)

    monkeypatch.setattr(FactStaging, "copy", copying)
    read(write_sheet(tmp_path / "2026年2月规模明细.xlsx"))
    assert copied[0] is list and ColumnRows in copied  # this process's own rows, then the worker's
