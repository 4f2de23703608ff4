"""What cleansing keeps for the whole run stays small at 1,000,000 rows (issue 13 item 3): a rule's
memo is bounded, and a code spelled one way keeps its text, not a dict of spellings. Pure."""

from __future__ import annotations

from typing import Any

import pytest

from facts.cells import CellProblem
from facts.cleansing import Memo, RowProblem
from facts.codes import CodeSpellings, clean_plan_code


def test_a_memo_holds_at_most_its_limit_and_gives_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Memo, "LIMIT", 3)
    computed: list[Any] = []

    def compute(key: Any) -> Any:
        computed.append(key)
        if key == "bad":
            raise CellProblem("not a value")
        return f"<{key}>"

    memo = Memo("列", compute)
    keys = ["a", "b", "c", "d", "a", "e", "a", 1, True, "f", "b"]
    values = [memo[key] for key in keys]
    assert values == [f"<{key}>" for key in keys]
    assert len(memo) <= 3  # emptied when full, then filled again
    assert computed.count("a") == 2  # "a" computed again once the memo was emptied, not each time
    with pytest.raises(RowProblem) as raised:
        memo["bad"]
    assert raised.value.args == ("列", "bad", "not a value")


def test_a_code_spelled_one_way_keeps_its_text_and_several_spellings_their_texts() -> None:
    spellings = CodeSpellings()
    for cell in ["QZ500", " QZ500 ", "QZ500", "X100"]:
        spellings.record("组合代码", cell)
    for cell in ["x100", "X100", "Y200"]:
        spellings.record("计划代码", cell)
    assert spellings.seen == {
        "组合代码": {"QZ500": "QZ500", "X100": "X100"},  # one spelling: the text, no dict per code
        "计划代码": {"X100": {"X100": "x100"}, "Y200": "Y200"},  # x100 read first: its text is kept
    }
    spellings.record("组合代码", "ＱＺ500")
    assert spellings.seen["组合代码"]["QZ500"] == {"QZ500": "QZ500", "ＱＺ500": "ＱＺ500"}
    assert spellings.warnings() == [
        "组合代码: 2 spellings ('QZ500', 'ＱＺ500') are read as one code, QZ500; check the source data"
    ]


def test_a_plan_code_in_upper_case_is_kept_as_read() -> None:
    cell = "".join(["P", "0001"])  # a str of its own, as the reader gives one
    assert clean_plan_code(cell, plan_type=None, corrections={}) is cell
    assert clean_plan_code("p0001", plan_type=None, corrections={}) == "P0001"
