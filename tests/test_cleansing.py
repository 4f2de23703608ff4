"""Cleansing rules (domains/annuity_performance/cleansing.py, facts/cleansing.py, facts/customer_names.py),
ANNUITY_PERFORMANCE.md §2–§3.

Pure tests: no database. Each rule is checked on its own, table-driven, then through
cleanse_sheet on small sheets built in code (and once on a workbook written by the test).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import pytest

from domains.annuity_performance.cleansing import (
    AMOUNT_COLUMNS,
    HEADER_RENAMES,
    NO_CUSTOMER_COMPANY_ID,
    REQUIRED_COLUMNS,
    check_columns,
    cleanse_sheet,
)
from domains.annuity_performance.models import FACT_COLUMNS
from facts.amounts import parse_amount, parse_return_rate
from facts.cleansing import (
    CellProblem,
    ReferenceLimit,
    RowError,
    clean_text,
    customer_names,
    parse_month,
)
from facts.codes import (
    account_number,
    branch_code,
    clean_plan_code,
    clean_portfolio_code,
    default_portfolio_code,
    product_line_code,
)
from facts.company_id_sources import CompanyId, CompanyIdSource, company_id, company_id_by_name, name_index
from facts.customer_names import STATUS_WORDS, clean_customer_name
from facts.excel import CellError, SheetData, read_sheet
from facts.lookups import Lookups
from tests.workbooks import write_workbook
from wdh.config import Mappings, load_config
from wdh.errors import InputError

BASE_DIR = Path(__file__).resolve().parent.parent
MAPPINGS: Mappings = (
    load_config(BASE_DIR / "wdh" / "data_sources.yml", data_base_dir=BASE_DIR).domain("annuity_performance").mappings
)
NO_LOOKUPS = Lookups()

HEADER = (
    "月度",
    "业务类型",
    "计划类型",
    "计划代码",
    "计划名称",
    "组合类型",
    "组合代码",
    "组合名称",
    "客户名称",
    "期初资产规模",
    "期末资产规模",
    "供款",
    "流失_含待遇支付",
    "流失",
    "待遇支付",
    "投资收益",
    "当期收益率",
    "机构代码",
    "机构名称",
    "子企业号",
    "子企业名称",
    "集团企业客户号",
    "集团企业客户名称",
)  # fmt: skip  (as facts.excel normalises the real February 2026 header)
ROW: Mapping[str, Any] = MappingProxyType(
    {
        "月度": 202602.0,
        "业务类型": "企年受托",
        "计划类型": "单一计划",
        "计划代码": "P0101",
        "计划名称": "甲公司企业年金计划",
        "组合类型": "固定收益型",
        "组合代码": 9078.0,
        "组合名称": "甲公司组合",
        "客户名称": "甲公司",
        "期初资产规模": 31982648287.809898,
        "期末资产规模": 1100.0,
        "供款": 100.0,
        "流失_含待遇支付": 0.0,
        "流失": 0.0,
        "待遇支付": 0.0,
        "投资收益": -12.5,
        "当期收益率": 0.0123,
        "机构代码": "G02",
        "机构名称": "上海分公司",
        "子企业号": "S1",
        "子企业名称": "甲子公司",
        "集团企业客户号": "C263952876703840086",
        "集团企业客户名称": "甲集团",
    }
)


@dataclass
class StubSheet:
    """The part of facts.excel.SheetData that cleansing uses."""

    header: tuple[str, ...] = HEADER
    rows: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)
    path: Path = Path("/data/202602/2026年2月年金终稿数据.xlsx")
    sheet: str = "规模明细"

    def iter_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        return iter(self.rows)


def sheet_of(*changes: Mapping[str, Any], header: tuple[str, ...] = HEADER) -> SheetData:
    """A sheet whose rows are ROW with each of ``changes`` applied, from Excel row 2 down."""
    rows = [(number, tuple({**ROW, **change}.get(name) for name in header)) for number, change in enumerate(changes, 2)]
    return cast(SheetData, StubSheet(header=header, rows=rows))


def cleanse(*changes: Mapping[str, Any], lookups: Lookups = NO_LOOKUPS, **options: Any) -> Any:
    return cleanse_sheet(sheet_of(*changes, **options), mappings=MAPPINGS, lookups=lookups)


def only_row(**change: Any) -> dict[str, Any]:
    result = cleanse(change)
    assert result.errors == []
    return cast(dict[str, Any], result.rows[0])


def only_error(**change: Any) -> RowError:
    result = cleanse(change)
    assert result.rows == []
    assert len(result.errors) == 1
    return cast(RowError, result.errors[0])


def problem(rule: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(CellProblem) as raised:
        rule(*args, **kwargs)
    return str(raised.value)


# --- cells ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   ", "-", " - ", "N/A", "无", "暂无", "null", "NULL", "None", "\u3000"])
def test_placeholders_are_empty(value: Any) -> None:
    assert clean_text(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" 甲公司 ", "甲公司"),
        ("Null", "Null"),  # only the listed spellings are placeholders
        ("--", "--"),
        (9078.0, "9078"),
        (202602.0, "202602"),
        (9078.5, "9078.5"),
        (12, "12"),
        (date(2024, 11, 1), "2024-11-01"),
    ],
)
def test_clean_text(value: Any, expected: str) -> None:
    assert clean_text(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (CellError("#N/A"), "formula error #N/A"),
        (CellError("#DIV/0!"), "formula error #DIV/0!"),
        (True, "TRUE/FALSE"),
        ("甲\x00公司", "NUL"),
        (float("nan"), "not text"),
    ],
)
def test_clean_text_rejects(value: Any, message: str) -> None:
    assert message in problem(clean_text, value)


# --- 月度 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (202602, date(2026, 2, 1)),
        (202602.0, date(2026, 2, 1)),
        (202410.0, date(2024, 10, 1)),
        (202411, date(2024, 11, 1)),
        (202412.0, date(2024, 12, 1)),
        ("202602", date(2026, 2, 1)),
        ("202412", date(2024, 12, 1)),
        ("2024年11月", date(2024, 11, 1)),
        ("2024年1月", date(2024, 1, 1)),
        ("2024年01月", date(2024, 1, 1)),
        ("2024年10月", date(2024, 10, 1)),
        ("2024年12月", date(2024, 12, 1)),
        ("24年11月", date(2024, 11, 1)),
        ("26年2月", date(2026, 2, 1)),
        ("24年12月", date(2024, 12, 1)),
        ("2024-11", date(2024, 11, 1)),
        ("2024-1", date(2024, 1, 1)),
        ("2024-10", date(2024, 10, 1)),
        ("2024/11", date(2024, 11, 1)),
        ("2024/12", date(2024, 12, 1)),
        ("2024.11", date(2024, 11, 1)),
        ("2024.10", date(2024, 10, 1)),
        (" 2024年11月 ", date(2024, 11, 1)),
        ("2024 年 11 月", date(2024, 11, 1)),
        ("２０２４年１２月", date(2024, 12, 1)),  # full-width digits
        (date(2024, 11, 15), date(2024, 11, 1)),
        (datetime(2024, 12, 31, 23, 59), date(2024, 12, 1)),
        (date(1900, 1, 1), date(1900, 1, 1)),
        (210012, date(2100, 12, 1)),
    ],
)
def test_parse_month(value: Any, expected: date) -> None:
    result = parse_month(value)
    assert result == expected
    assert type(result) is date


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (202613, "month 13 is outside 1–12"),
        (202600.0, "month 0 is outside 1–12"),
        ("2024年13月", "month 13"),
        ("24年0月", "month 0"),
        ("2024-13", "month 13"),
        ("2024/00", "month 0"),
        ("202400", "month 0"),
        ("2024", "not a month"),
        ("2024年", "not a month"),
        ("2024-11-05", "not a month"),
        ("11月", "not a month"),
        ("abc", "not a month"),
        (None, "empty"),
        ("", "empty"),
        ("-", "empty"),
        (202602.5, "not a month"),
        (45689.0, "year 456"),  # an Excel date serial number is not YYYYMM
        (date(1899, 12, 1), "year 1899 is outside 1900–2100"),
        (datetime(2200, 1, 1), "year 2200"),
        ("2101-01", "year 2101"),
        (190001 - 100, "year 1899"),
        (True, "TRUE/FALSE"),
        (CellError("#N/A"), "formula error #N/A"),
    ],
)
def test_parse_month_rejects(value: Any, message: str) -> None:
    assert message in problem(parse_month, value)


# --- 计划代码 ---------------------------------------------------------------------------------

CORRECTIONS = MAPPINGS.plan_code_corrections


@pytest.mark.parametrize(
    ("value", "plan_type", "expected"),
    [
        ("1P0290", "单一计划", "P0290"),
        ("1P0807", "集合计划", "P0807"),
        ("1p0290", "单一计划", "P0290"),  # a correction typed in lower case still applies
        ("p0101", "单一计划", "P0101"),
        (" xnp596 ", "单一计划", "XNP596"),
        ("P0290", "单一计划", "P0290"),
        (1234.0, "单一计划", "1234"),
        (None, "集合计划", "AN001"),
        ("", "集合计划", "AN001"),
        ("-", "集合计划", "AN001"),
        (None, "单一计划", "AN002"),
        ("null", "单一计划", "AN002"),
    ],
)
def test_clean_plan_code(value: Any, plan_type: str, expected: str) -> None:
    assert clean_plan_code(value, plan_type=plan_type, corrections=CORRECTIONS) == expected


@pytest.mark.parametrize("plan_type", ["职业年金", None, "其他"])
def test_blank_plan_code_without_default_is_an_error(plan_type: str | None) -> None:
    message = problem(clean_plan_code, None, plan_type=plan_type, corrections=CORRECTIONS)
    assert "计划代码 is empty" in message


# --- 组合代码 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (9078.0, "9078"),
        (9078, "9078"),
        ("9078", "9078"),
        (" QTAN009 ", "QTAN009"),
        ("F9003", "9003"),
        ("FJY001", "JY001"),
        ("F9003A", "9003A"),
        ("Fund123", "Fund123"),  # F followed by lower case: not the prefix
        ("f9003", "f9003"),
        ("F", "F"),
        ("F-9003", "F-9003"),
        ("SZ30014", "SZ30014"),
        (None, None),
        ("-", None),
    ],
)
def test_clean_portfolio_code(value: Any, expected: str | None) -> None:
    assert clean_portfolio_code(value) == expected


@pytest.mark.parametrize(
    ("business_type", "plan_type", "expected"),
    [
        ("职年受托", "集合计划", "QTAN003"),
        ("职年投资", "单一计划", "QTAN003"),
        ("职年受托", None, "QTAN003"),
        ("企年受托", "集合计划", "QTAN001"),
        ("企年投资", "单一计划", "QTAN002"),
        ("企年投资", "职业年金", "QTAN003"),
        ("企年投资", "其他", None),
        (None, None, None),
    ],
)
def test_default_portfolio_code(business_type: str | None, plan_type: str | None, expected: str | None) -> None:
    assert default_portfolio_code(business_type, plan_type, MAPPINGS.default_portfolio_code) == expected


@pytest.mark.parametrize(
    ("cell", "business_type", "plan_type", "expected"),
    [
        (None, "企年受托", "单一计划", "QTAN002"),
        (None, "企年受托", "集合计划", "QTAN001"),
        (None, "职年投资", "单一计划", "QTAN003"),
        ("F9003", "职年投资", "单一计划", "9003"),
        (9078.0, "企年受托", "单一计划", "9078"),
    ],
)
def test_portfolio_code_in_a_row(cell: Any, business_type: str, plan_type: str, expected: str) -> None:
    assert only_row(组合代码=cell, 业务类型=business_type, 计划类型=plan_type)["组合代码"] == expected


# --- 机构代码, 产品线代码 ---------------------------------------------------------------------

BRANCHES = {"上海分公司": "G02", "内蒙": "G55", "广东分公司": "G03"}


@pytest.mark.parametrize(
    ("name", "own", "expected"),
    [
        ("内蒙", "G99", "G31"),  # the shipped override beats 组织架构 and the sheet's code
        ("战略", "G99", "G37"),
        ("中国", None, "G37"),
        ("济南", "G01", "G21"),
        ("北京其他", None, "G37"),
        ("北分", "G01", "G37"),
        ("上海分公司", "G99", "G02"),  # then 组织架构
        ("江苏分公司", "G04", "G04"),  # then the sheet's own code
        ("江苏分公司", " G04 ", "G04"),
        ("江苏分公司", None, "G00"),  # blank or null: head office
        ("江苏分公司", "", "G00"),
        ("江苏分公司", "null", "G00"),
        ("江苏分公司", "NULL", "G00"),
        (None, "G05", "G05"),
        (None, None, "G00"),
    ],
)
def test_branch_code_order(name: str | None, own: Any, expected: str) -> None:
    assert branch_code(name, own, overrides=MAPPINGS.branch_overrides, branch_codes=BRANCHES) == expected


def test_branch_code_without_the_branch_table() -> None:
    assert branch_code("上海分公司", "G99", overrides=MAPPINGS.branch_overrides, branch_codes={}) == "G99"


def test_branch_code_in_a_row_uses_lookups() -> None:
    result = cleanse({"机构名称": "上海分公司", "机构代码": "G99"}, lookups=Lookups(branch_codes=BRANCHES))
    assert result.rows[0]["机构代码"] == "G02"
    assert result.rows[0]["机构名称"] == "上海分公司"


@pytest.mark.parametrize(
    ("business_type", "expected"),
    [
        ("企年投资", "PL201"),
        ("企年受托", "PL202"),
        ("职年投资", "PL203"),
        ("职年受托", "PL204"),
        ("自有险资", "PL205"),
        ("直投", "PL206"),
        ("三方", "PL207"),
        ("团养", "PL208"),
        ("企康", "PL209"),
        ("企业年金", "PL210"),
        ("职业年金", "PL211"),
        ("其他", "PL301"),
        ("未知业务", None),
        (None, None),
    ],
)
def test_product_line_code(business_type: str | None, expected: str | None) -> None:
    assert product_line_code(business_type, MAPPINGS.business_type_code) == expected


# --- 客户名称, 年金账户名 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # the spec's own examples
        ("（已转出）戊公司", "戊公司"),
        ("戊公司(保留)", "戊公司"),
        ("已转出-戊公司", "戊公司"),
        ("戊公司-已转出", "戊公司"),
        ("原平市煤业有限公司", "原平市煤业有限公司"),  # glued to Chinese text: stays
        ("集合计划客户", "集合计划客户"),
        ("戊公司（北京）", "戊公司（北京）"),  # a balanced suffix stays
        # whitespace, 及下属子企业
        (" 戊 公司 ", "戊公司"),
        ("戊\n公司\u3000", "戊公司"),
        ("戊集团及下属子企业", "戊集团"),
        # one trailing (团托), -letters, -digits, -养老, -福利
        ("戊公司(团托)", "戊公司"),
        ("戊公司（团托）", "戊公司"),
        ("戊公司-JT", "戊公司"),
        ("戊公司-02", "戊公司"),
        ("戊公司-养老", "戊公司"),
        ("戊公司-福利", "戊公司"),
        ("戊公司-养老-JT", "戊公司-养老"),  # only one
        # status words, bracketed or apart, at either end
        ("（待转出）戊公司", "戊公司"),
        ("戊公司（待转出）", "戊公司"),
        ("戊公司（保留账户）", "戊公司"),
        ("保留账户-戊公司", "戊公司"),
        ("戊公司-已转移终止", "戊公司"),
        ("戊公司-转移终止", "戊公司"),
        ("戊公司(存量)", "戊公司"),
        ("戊公司_已转出", "戊公司"),  # another non-Chinese separator
        ("戊公司(已转出", "戊公司"),  # … then the unmatched bracket goes
        ("戊公司-原", "戊公司"),
        ("原ABC公司", "ABC公司"),  # apart: followed by a non-Chinese character
        ("（已转出）戊公司（保留）", "戊公司"),  # one at each end
        ("戊公司已转出", "戊公司已转出"),  # glued: stays
        ("本部大楼管理处", "本部大楼管理处"),
        ("保留账户管理", "保留账户管理"),
        ("保留", "保留"),  # a lone word stands apart from nothing
        # trailing dashes and unmatched trailing brackets
        ("戊公司-", "戊公司"),
        ("戊公司--", "戊公司"),
        ("戊公司（", "戊公司"),
        ("戊公司(", "戊公司"),
        ("戊公司)", "戊公司"),
        ("戊公司）", "戊公司"),
        ("戊公司（北京）)", "戊公司（北京）"),
        ("戊公司(北京)-", "戊公司（北京）"),
        ("戊公司（北京", "戊公司（北京"),  # not trailing: the unmatched bracket stays
        # full-width ASCII → half-width, then () → （）
        ("ＡＢＣ公司", "ABC公司"),
        ("戊公司（１）", "戊公司（1）"),
        ("戊公司(北京)", "戊公司（北京）"),
        ("平安-中信锦绣人生企业年金计划保留计划(受托)", "平安-中信锦绣人生企业年金计划保留计划（受托）"),
        # nothing left
        ("（已转出）", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_customer_name(raw: str | None, expected: str | None) -> None:
    assert clean_customer_name(raw) == expected


@pytest.mark.parametrize("word", STATUS_WORDS)
def test_every_status_word_is_removed_when_apart(word: str) -> None:
    assert clean_customer_name(f"（{word}）戊公司") == "戊公司"
    assert clean_customer_name(f"戊公司({word})") == "戊公司"
    assert clean_customer_name(f"{word}-戊公司") == "戊公司"
    assert clean_customer_name(f"戊公司-{word}") == "戊公司"
    assert clean_customer_name(f"{word}戊公司") == f"{word}戊公司"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (" （已转出）戊公司 ", ("戊公司", "（已转出）戊公司")),
        ("戊公司(北京)", ("戊公司（北京）", "戊公司(北京)")),
        ("-", (None, None)),
        (None, (None, None)),
    ],
)
def test_customer_names_and_account_name(cell: Any, expected: tuple[str | None, str | None]) -> None:
    assert customer_names(cell) == expected


def test_account_name_is_the_raw_name_in_a_row() -> None:
    row = only_row(客户名称=" 戊公司-养老 ")
    assert (row["客户名称"], row["年金账户名"]) == ("戊公司", "戊公司-养老")


# --- 年金账户号 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("C263952876703840086", "263952876703840086"),
        (" C263952876703840086 ", "263952876703840086"),
        ("263952876703840086", "263952876703840086"),
        ("c123", "c123"),  # only the capital C prefix
        ("CC123", "C123"),
        (123.0, "123"),
        ("C", None),
        ("-", None),
        (None, None),
        ("C" + "1" * 50, "1" * 50),
    ],
)
def test_account_number(cell: Any, expected: str | None) -> None:
    assert account_number(cell) == expected


def test_account_number_longer_than_its_column_is_an_error() -> None:
    assert "年金账户号 would be 51 characters; the column holds at most 50" in problem(account_number, "C" + "1" * 51)


# --- company_id -------------------------------------------------------------------------------

SINGLE_PLANS = Lookups(plan_company_ids={"P0101": "700000001", "FP0001": "700000002"})


@pytest.mark.parametrize(
    ("given", "plan", "plan_type", "customer", "lookups", "expected"),
    [
        ("614000000", "FP0001", "单一计划", "", SINGLE_PLANS, ("614000000", CompanyIdSource.COLUMN)),
        (614000000.0, "P0101", "单一计划", "甲", SINGLE_PLANS, ("614000000", CompanyIdSource.COLUMN)),
        (None, "FP0001", "单一计划", "甲", SINGLE_PLANS, ("614810477", CompanyIdSource.PLAN_OVERRIDE)),
        ("-", "XNP596", "集合计划", "甲", NO_LOOKUPS, ("601038164", CompanyIdSource.PLAN_OVERRIDE)),
        (None, "P0101", "单一计划", "甲", SINGLE_PLANS, ("700000001", CompanyIdSource.PLAN_TABLE)),
        (None, "P0101", "集合计划", "甲", SINGLE_PLANS, (None, CompanyIdSource.MISSING)),  # single plans only
        (None, "P0101", "单一计划", "甲", NO_LOOKUPS, (None, CompanyIdSource.MISSING)),
        (
            None, "P0101", "集合计划", "宣城城建城市运营管理有限公司", NO_LOOKUPS,
            ("1918884945", CompanyIdSource.NAME_OVERRIDE),
        ),
        (
            None, "P0202", "单一计划", "内江筑石混泥土有限公司", SINGLE_PLANS,
            ("606285385", CompanyIdSource.NAME_OVERRIDE),
        ),
        (None, "P0101", "集合计划", "保留账户管理", NO_LOOKUPS, (None, CompanyIdSource.DELIBERATELY_NONE)),
        (
            None, "P0101", "集合计划", "平安-中信锦绣人生企业年金计划保留计划（受托）", NO_LOOKUPS,
            (None, CompanyIdSource.DELIBERATELY_NONE),  # the shipped key is typed with ASCII brackets
        ),
        (None, "AN001", "集合计划", None, NO_LOOKUPS, ("600866980", CompanyIdSource.NO_CUSTOMER)),
        (None, "AN001", "集合计划", "", NO_LOOKUPS, ("600866980", CompanyIdSource.NO_CUSTOMER)),
        (None, "AN001", "集合计划", "甲", NO_LOOKUPS, (None, CompanyIdSource.MISSING)),
    ],
)  # fmt: skip
def test_company_id_order(
    given: Any, plan: str, plan_type: str, customer: str | None, lookups: Lookups, expected: tuple[Any, Any]
) -> None:
    found = company_id(
        given=given,
        plan_code=plan,
        plan_type=plan_type,
        customer_name=customer,
        mappings=MAPPINGS,
        lookups=lookups,
        no_customer=NO_CUSTOMER_COMPANY_ID,
    )
    assert found == CompanyId(*expected)


def test_company_id_empty_by_name_stops_before_the_default() -> None:
    names = {"甲公司": "__EMPTY__"}
    by_name = functools.partial(company_id_by_name, names=names, no_customer=NO_CUSTOMER_COMPANY_ID)
    assert by_name("甲公司") == CompanyId(None, CompanyIdSource.DELIBERATELY_NONE)
    assert by_name(None) == CompanyId("600866980", CompanyIdSource.NO_CUSTOMER)


def test_name_index_keys_cleaned_names_too() -> None:
    index = name_index({" 乙公司(北京) ": "1", "丙公司": "2"})
    assert index == {" 乙公司(北京) ": "1", "乙公司（北京）": "1", "丙公司": "2"}


def test_company_id_longer_than_its_column_is_an_error() -> None:
    lookups = Lookups(plan_company_ids={"P0101": "9" * 51})
    message = problem(
        company_id, given=None, plan_code="P0101", plan_type="单一计划", customer_name="甲",
        mappings=MAPPINGS, lookups=lookups, no_customer=NO_CUSTOMER_COMPANY_ID,
    )  # fmt: skip
    assert "company_id would be 51 characters" in message


@pytest.mark.parametrize("column", ["company_id", "公司代码"])
def test_company_id_column_in_a_row(column: str) -> None:
    result = cleanse({column: 612345678.0}, header=(*HEADER, column))
    assert result.rows[0]["company_id"] == "612345678"
    assert result.company_id_missing == 0


# --- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (31982648287.809898, "31982648287.8099"),  # str() of the float, never its binary expansion
        (1234.5, "1234.5000"),
        (1100.0, "1100.0000"),
        (0.1, "0.1000"),
        (2.67445, "2.6745"),  # half-up on the text: the binary value is 2.67444999…
        (0.00005, "0.0001"),
        (-0.00005, "-0.0001"),  # half-up is away from zero
        (0.00004999, "0.0000"),
        (0.0, "0.0000"),
        (-0.0, "0.0000"),  # no negative zero
        (-0.00001, "0.0000"),
        (5, "5.0000"),
        (0, "0.0000"),
        (-12.5, "-12.5000"),
        (99999999999999.98, "99999999999999.9800"),
        ("99999999999999.9999", "99999999999999.9999"),
        ("1234.5", "1234.5000"),
        ("¥1,234.56", "1234.5600"),
        ("￥1,234,567.891", "1234567.8910"),
        ("$ 1 234", "1234.0000"),
        ("€12", "12.0000"),
        ("£12.00005", "12.0001"),
        ("-1,234.5", "-1234.5000"),
        (" 1e3 ", "1000.0000"),
        ("-0", "0.0000"),
        ("１２３", "123.0000"),
    ],
)
def test_parse_amount(value: Any, expected: str) -> None:
    result = parse_amount(value)
    assert str(result) == expected


@pytest.mark.parametrize("value", [None, "", "  ", "-", "无", "N/A"])
def test_empty_amount_is_none(value: Any) -> None:
    assert parse_amount(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "not a number"),
        (float("inf"), "not a number"),
        (float("-inf"), "not a number"),
        ("NaN", "not a number"),
        ("inf", "not a number"),
        ("Infinity", "not a number"),
        ("1e400", "does not fit numeric(18,4)"),
        (1e14, "does not fit numeric(18,4)"),
        (-1e15, "does not fit numeric(18,4)"),
        ("99999999999999.99995", "does not fit numeric(18,4)"),  # rounds up to 10**14
        ("abc", "not a number"),
        ("12元", "not a number"),
        ("5%", "not a number"),
        ("1,23", "thousands separators"),
        ("1_000", "not a number"),
        (True, "TRUE/FALSE"),
        (CellError("#DIV/0!"), "formula error #DIV/0!"),
        (date(2024, 1, 1), "not a number"),
    ],
)
def test_parse_amount_rejects(value: Any, message: str) -> None:
    assert message in problem(parse_amount, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0123, "0.012300"),
        (0.018582, "0.018582"),
        (-0.0037, "-0.003700"),
        (0.0000005, "0.000001"),
        (5.5, "0.055000"),  # above 1 in magnitude: a percentage
        (-3.2, "-0.032000"),
        (1.0, "1.000000"),
        (1, "1.000000"),
        (-1.0, "-1.000000"),
        (1.5, "0.015000"),
        (1000.0, "10.000000"),
        ("5.5%", "0.055000"),
        ("5.5％", "0.055000"),
        (" -3% ", "-0.030000"),
        ("150%", "1.500000"),
        ("0.0123", "0.012300"),
        ("5.5", "0.055000"),
        (-0.0, "0.000000"),
    ],
)
def test_parse_return_rate(value: Any, expected: str) -> None:
    assert str(parse_return_rate(value)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1001.0, "outside −1 … 10"),
        ("1500%", "outside −1 … 10"),
        ("-150%", "outside −1 … 10"),
        (-101.0, "outside −1 … 10"),
        (float("nan"), "not a number"),
        ("abc%", "not a number"),
        ("%", "not a number"),
        ("1e400", "does not fit"),
    ],
)
def test_parse_return_rate_rejects(value: Any, message: str) -> None:
    assert message in problem(parse_return_rate, value)


@pytest.mark.parametrize("value", [None, "", "-"])
def test_empty_return_rate_is_none(value: Any) -> None:
    assert parse_return_rate(value) is None


def test_empty_number_cells_load_as_null() -> None:
    row = only_row(供款=None, 流失="-", 当期收益率=None, 投资收益="")
    assert (row["供款"], row["流失"], row["当期收益率"], row["投资收益"]) == (None, None, None, None)


def test_sheet_numbers_match_the_parse_functions() -> None:
    """cleanse_sheet rounds float cells by integer arithmetic; it must agree with the exact route."""
    rng = random.Random(20260201)
    makers = [
        lambda: round(10 ** rng.uniform(-2, 13), rng.randrange(7)),
        lambda: -round(10 ** rng.uniform(-2, 13), rng.randrange(7)),
        lambda: rng.randrange(10**9) / 10**4 + 0.00005,  # ties and near-ties in the 5th decimal
        lambda: float(f"{rng.randrange(10**10)}.{rng.randrange(10**5):05d}5"),
        lambda: rng.uniform(-1e11, 1e11),
        lambda: rng.uniform(-2, 2),
        lambda: rng.choice([0.0, -0.0, 1e-9, -1e-9, 0.00005, 2.67445, 1.0, -1.0, 4.5e11, 4.6e11]),
    ]
    changes = [{column: rng.choice(makers)() for column in (*AMOUNT_COLUMNS, "当期收益率")} for _ in range(3000)]
    result = cleanse(*changes)
    by_row = {error.row: error for error in result.errors}
    rows = iter(result.rows)
    for number, change in enumerate(changes, 2):
        if number in by_row:
            assert "outside −1 … 10" in by_row[number].message or "does not fit" in by_row[number].message
            continue
        row = next(rows)
        for column in AMOUNT_COLUMNS:
            assert str(row[column]) == str(parse_amount(change[column])), (column, change[column])
        assert str(row["当期收益率"]) == str(parse_return_rate(change["当期收益率"])), change["当期收益率"]


# --- text lengths and formula errors in rows ---------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("计划名称", "计" * 256, "计划名称 would be 256 characters; the column holds at most 255"),
        ("业务类型", "业" * 300, "业务类型 would be 300 characters"),
        ("组合名称", "组" * 256, "组合名称 would be 256 characters"),
        ("组合代码", "Q" * 256, "组合代码 would be 256 characters"),
        ("计划代码", "P" * 256, "计划代码 would be 256 characters"),
        ("机构名称", "机" * 256, "机构名称 would be 256 characters"),
        ("机构代码", "G" * 256, "机构代码 would be 256 characters"),
        ("客户名称", "客" * 256, "年金账户名 would be 256 characters"),
        ("集团企业客户号", "C" + "1" * 51, "年金账户号 would be 51 characters; the column holds at most 50"),
    ],
)
def test_text_longer_than_its_column_is_a_row_error(column: str, value: str, message: str) -> None:
    error = only_error(**{column: value})
    assert (error.column, error.value) == (column, value)
    assert message in error.message


def test_text_of_the_maximum_length_loads() -> None:
    row = only_row(计划名称="计" * 255, 集团企业客户号="C" + "1" * 50)
    assert len(row["计划名称"]) == 255
    assert row["年金账户号"] == "1" * 50


@pytest.mark.parametrize(
    "column",
    ["月度", "业务类型", "计划代码", "组合代码", "客户名称", "供款", "当期收益率", "机构代码", "集团企业客户号"],
)
def test_formula_error_cell_is_a_row_error(column: str) -> None:
    error = only_error(**{column: CellError("#N/A")})
    assert (error.column, error.value, error.message) == (column, CellError("#N/A"), "formula error #N/A")


def test_boolean_is_never_taken_for_a_cached_number() -> None:
    """True == 1.0 in a dict: a memoised 1.0 must not answer for a TRUE cell."""
    result = cleanse({"组合代码": 1.0}, {"组合代码": True}, {"组合代码": 1.0})
    assert [row["组合代码"] for row in result.rows] == ["1", "1"]
    assert [(error.row, error.column) for error in result.errors] == [(3, "组合代码")]


# --- cleanse_sheet ----------------------------------------------------------------------------


def test_a_full_row() -> None:
    row = only_row()
    assert list(row) == list(FACT_COLUMNS)
    assert row == {
        "月度": date(2026, 2, 1),
        "业务类型": "企年受托",
        "计划类型": "单一计划",
        "计划代码": "P0101",
        "计划名称": "甲公司企业年金计划",
        "组合类型": "固定收益型",
        "组合代码": "9078",
        "组合名称": "甲公司组合",
        "客户名称": "甲公司",
        "期初资产规模": Decimal("31982648287.8099"),
        "期末资产规模": Decimal("1100.0000"),
        "供款": Decimal("100.0000"),
        "流失_含待遇支付": Decimal("0.0000"),
        "流失": Decimal("0.0000"),
        "待遇支付": Decimal("0.0000"),
        "投资收益": Decimal("-12.5000"),
        "当期收益率": Decimal("0.012300"),
        "机构代码": "G02",
        "机构名称": "上海分公司",
        "产品线代码": "PL202",
        "年金账户号": "263952876703840086",
        "年金账户名": "甲公司",
        "company_id": None,
    }
    assert not {"子企业号", "子企业名称", "集团企业客户号", "集团企业客户名称", "备注"} & set(row)


def test_row_errors_carry_file_sheet_row_column_and_value() -> None:
    result = cleanse({}, {"月度": "2026年13月"}, {}, {"供款": "abc"})
    assert result.rows_read == 4
    assert len(result.rows) == 2
    assert result.errors == [
        RowError(
            file="/data/202602/2026年2月年金终稿数据.xlsx", sheet="规模明细", row=3, column="月度",
            value="2026年13月", message="month 13 is outside 1–12",
        ),
        RowError(
            file="/data/202602/2026年2月年金终稿数据.xlsx", sheet="规模明细", row=5, column="供款",
            value="abc", message="'abc' is not a number",
        ),
    ]  # fmt: skip


def test_only_the_first_problem_of_a_row_is_reported() -> None:
    result = cleanse({"供款": "abc", "月度": "x", "集团企业客户号": CellError("#REF!")})
    assert [(error.column, error.value) for error in result.errors] == [("月度", "x")]


def test_a_blank_plan_code_without_default_names_the_column() -> None:
    error = only_error(计划代码=None, 计划类型="职业年金")
    assert (error.column, error.value) == ("计划代码", None)
    assert "no default plan code" in error.message


def test_company_id_missing_counts_valid_rows_only() -> None:
    result = cleanse(
        {"客户名称": "甲公司"},  # missing
        {"客户名称": "乙公司", "计划类型": "集合计划"},  # missing
        {"客户名称": None},  # default 600866980
        {"客户名称": "保留账户管理"},  # deliberately none: not missing
        {"计划代码": "FP0001"},  # plan override
        {"客户名称": "丙公司", "供款": "abc"},  # a row error: not counted
    )
    assert [row["company_id"] for row in result.rows] == [None, None, "600866980", None, "614810477"]
    assert result.company_id_missing == 2
    assert result.rows_read == 6


def test_company_id_from_the_plan_table_in_a_row() -> None:
    result = cleanse({"计划代码": "p0101"}, lookups=SINGLE_PLANS)
    assert result.rows[0]["company_id"] == "700000001"
    assert result.company_id_missing == 0


def test_optional_columns_may_be_absent() -> None:
    header = tuple(name for name in HEADER if name not in {"机构代码", "集团企业客户号", "子企业号", "子企业名称"})
    result = cleanse({"机构名称": "江苏分公司"}, {"机构名称": "内蒙"}, header=header)
    assert [(row["机构代码"], row["年金账户号"]) for row in result.rows] == [("G00", None), ("G31", None)]


def test_progress_is_reported() -> None:
    calls: list[int] = []
    cleanse_sheet(sheet_of(*([{}] * 12001)), mappings=MAPPINGS, lookups=NO_LOOKUPS, progress=calls.append)
    assert calls == [5000, 10000, 12001]


def test_an_empty_sheet() -> None:
    result = cleanse()
    assert (result.rows, result.errors, result.rows_read, result.company_id_missing) == ([], [], 0, 0)


def test_required_columns() -> None:
    assert set(REQUIRED_COLUMNS) <= set(HEADER)
    assert {"机构代码", "集团企业客户号", "company_id", "公司代码"}.isdisjoint(REQUIRED_COLUMNS)


def test_check_columns_lists_missing_and_present_columns() -> None:
    header = tuple(name for name in HEADER if name not in {"计划代码", "当期收益率"})
    with pytest.raises(InputError) as raised:
        check_columns(sheet_of(header=header))
    message = str(raised.value)
    assert "/data/202602/2026年2月年金终稿数据.xlsx" in message
    assert "'规模明细'" in message
    assert "lacks the required column(s) 计划代码 or 计划号; 当期收益率" in message
    assert "columns present: 月度, 业务类型, 计划类型, 计划名称" in message


def test_cleanse_sheet_checks_the_columns_first() -> None:
    with pytest.raises(InputError, match="机构名称"):
        cleanse({}, header=tuple(name for name in HEADER if name != "机构名称"))


def test_a_workbook_read_by_facts_excel(tmp_path: Path) -> None:
    """Cells as calamine gives them (floats for integers, varied headers) cleanse as expected."""
    path = write_workbook(
        tmp_path / "2026年2月年金终稿数据.xlsx",
        [
            {"计划代码": "1P0290", "组合代码": 9078, "客户名称": "（已转出）戊公司", "集团企业客户号": "C1"},
            {"月度": "24年11月", "计划代码": None, "组合代码": "F9003", "客户名称": None, "机构": "内蒙"},
            {"月度": "2024年13月", "计划代码": "P0001"},
        ],
    )
    sheet = read_sheet(path, "规模明细", renames=HEADER_RENAMES)
    result = cleanse_sheet(sheet, mappings=MAPPINGS, lookups=NO_LOOKUPS)
    first, second = result.rows
    assert (first["月度"], first["计划代码"], first["组合代码"]) == (date(2026, 2, 1), "P0290", "9078")
    assert (first["客户名称"], first["年金账户名"], first["年金账户号"]) == ("戊公司", "（已转出）戊公司", "1")
    assert (first["机构代码"], first["机构名称"], first["流失_含待遇支付"]) == ("G01", "北京分公司", Decimal("0.0000"))
    assert (second["月度"], second["计划代码"], second["组合代码"]) == (date(2024, 11, 1), "AN001", "9003")
    assert (second["机构代码"], second["company_id"]) == ("G31", "600866980")
    assert [(error.file, error.row, error.column) for error in result.errors] == [(str(path), 4, "月度")]
    assert result.rows_read == 3


def test_a_value_too_wide_for_the_narrower_of_two_limits_on_its_column_is_a_row_error() -> None:
    """Two reference columns take 计划名称 as it is, the narrower one listed second: the chunk's
    one pass per fact column checks the narrowest width, so a name that fits only the wider one
    is a row error naming the narrower; a name that fits both is kept."""
    limits = [ReferenceLimit("计划名称", "甲.计划全称", 12), ReferenceLimit("计划名称", "乙.计划名称", 8)]
    sheet = sheet_of({"计划名称": "计" * 10}, {"计划名称": "计" * 8})
    result = cleanse_sheet(sheet, mappings=MAPPINGS, lookups=NO_LOOKUPS, reference_limits=limits)
    assert [row["计划名称"] for row in result.rows] == ["计" * 8]
    assert [(error.row, error.column, error.message) for error in result.errors] == [
        (2, "计划名称", "计划名称 is 10 characters; 乙.计划名称, derived from it, holds at most 8")
    ]
