"""Cleansing rules of sheet 收入明细 (domains/annuity_income/cleansing.py), ANNUITY_INCOME.md §2.

Each rule table-driven through the public entry point, :func:`facts.cleansing.cleanse_sheet` with
the domain's rules; the header renames and missing columns through real workbooks read by
:func:`facts.excel.read_sheet`. The warehouse lookups on real PostgreSQL: tests/test_income_run.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import openpyxl
import pytest

from domains.annuity_income.cleansing import HEADER_RENAMES, REQUIRED_COLUMNS, SHEET_RULES
from domains.annuity_income.models import FEE_COLUMNS, AnnuityIncome
from facts.cleansing import CleansedSheet, cleanse_sheet
from facts.domain import domain_get
from facts.excel import SheetData, read_sheet
from facts.lookups import Lookups
from wdh.config import get_config
from wdh.errors import InputError

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
    "固费",
    "机构代码",
    "机构名称",
)  # fmt: skip  (the February 2026 header as read: 计划号 and 机构 renamed)
ROW: Mapping[str, Any] = MappingProxyType(
    {
        "月度": 202602.0,
        "业务类型": "企年受托",
        "计划类型": "集合计划",
        "计划代码": "P0101",
        "计划名称": "甲集合计划",
        "组合类型": "固定收益型",
        "组合代码": 9078.0,
        "组合名称": "甲组合",
        "客户名称": "乙公司",
        "固费": 1234.5,
        "机构代码": "G25",
        "机构名称": "安徽",
    }
)
NO_LOOKUPS = Lookups()


@dataclass
class StubSheet:
    """The part of facts.excel.SheetData that cleansing uses."""

    header: tuple[str, ...] = HEADER
    rows: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)
    path: Path = Path("/data/202602/【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx")
    sheet: str = "收入明细"

    def iter_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        return iter(self.rows)


def cleanse(*changes: Mapping[str, Any], header: tuple[str, ...] = HEADER, lookups: Lookups = NO_LOOKUPS) -> Any:
    rows = [(number, tuple({**ROW, **change}.get(name) for name in header)) for number, change in enumerate(changes, 2)]
    sheet = cast(SheetData, StubSheet(header=header, rows=rows))
    mappings = get_config().domain("annuity_income").mappings
    return cleanse_sheet(sheet, rules=SHEET_RULES, mappings=mappings, lookups=lookups)


def only_row(lookups: Lookups = NO_LOOKUPS, **change: Any) -> dict[str, Any]:
    result = cleanse(change, lookups=lookups)
    assert result.errors == []
    return cast(dict[str, Any], result.rows[0])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"计划代码": "1P0290"}, "P0290"),
        ({"计划代码": "1p0807"}, "P0807"),  # upper-cased first, then corrected
        ({"计划代码": " p0101 "}, "P0101"),
        ({"计划代码": None, "计划类型": "集合计划"}, "AN001"),
        ({"计划代码": "", "计划类型": "单一计划"}, "AN002"),
    ],
)
def test_plan_code(change: dict[str, Any], expected: str) -> None:
    assert only_row(**change)["计划代码"] == expected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"组合代码": "F9003"}, "9003"),
        ({"组合代码": "FX12"}, "X12"),
        ({"组合代码": "Fund123"}, "Fund123"),  # F + lower case: not the F-prefix, stays
        ({"组合代码": 9078.0}, "9078"),
        ({"组合代码": None, "计划类型": "集合计划"}, "QTAN001"),
        ({"组合代码": None, "计划类型": "单一计划"}, "QTAN002"),
        ({"组合代码": None, "计划类型": "职业年金"}, "QTAN003"),
        ({"组合代码": None, "计划类型": "集合计划", "业务类型": "职年受托"}, "QTAN003"),
        ({"组合代码": "-", "计划类型": "单一计划", "业务类型": "职年投资"}, "QTAN003"),
    ],
)
def test_portfolio_code(change: dict[str, Any], expected: str) -> None:
    assert only_row(**change)["组合代码"] == expected


BRANCHES = Lookups(branch_codes={"安徽": "G25", "新疆": "G33"})


@pytest.mark.parametrize(
    ("change", "lookups", "expected"),
    [
        ({"机构名称": "内蒙", "机构代码": "G25"}, NO_LOOKUPS, "G31"),  # the shipped override first
        ({"机构名称": "新疆", "机构代码": "G99"}, BRANCHES, "G33"),  # then 组织架构
        ({"机构名称": "新疆", "机构代码": "G99"}, NO_LOOKUPS, "G99"),  # then the sheet's own code (fix)
        ({"机构名称": "火星", "机构代码": None}, BRANCHES, "G00"),
        ({"机构名称": "火星", "机构代码": "null"}, BRANCHES, "G00"),
        ({"机构名称": None, "机构代码": "G12"}, BRANCHES, "G12"),
        ({"机构名称": None, "机构代码": " Ｇ12 "}, NO_LOOKUPS, "G12"),
    ],
)
def test_branch_code(change: dict[str, Any], lookups: Lookups, expected: str) -> None:
    row = only_row(lookups, **change)
    assert (row["机构代码"], row["机构名称"]) == (expected, change["机构名称"])


def test_product_line_code_and_the_unmapped_business_types_counted() -> None:
    types = ("企年受托", "职年投资", "养老保障", "养老保障")
    result = cleanse(*({"业务类型": business_type} for business_type in types))
    assert [row["产品线代码"] for row in result.rows] == ["PL202", "PL203", None, None]
    assert result.errors == []
    (warning,) = result.warnings
    assert "2 row(s) have an 业务类型 that mappings.business_type_code does not map (养老保障: 2 rows)" in warning


@pytest.mark.parametrize(
    ("change", "customer", "account_name"),
    [
        ({"计划类型": "单一计划", "客户名称": None, "计划名称": "甲公司企业年金计划"}, "甲公司", "甲公司"),
        ({"计划类型": "单一计划", "客户名称": "0", "计划名称": "甲公司企业年金计划"}, "甲公司", "甲公司"),
        ({"计划类型": "单一计划", "客户名称": 0.0, "计划名称": "甲公司企业年金计划"}, "甲公司", "甲公司"),
        (
            {"计划类型": "单一计划", "客户名称": None, "计划名称": "（已转出）戊公司企业年金计划"},
            "戊公司",
            "（已转出）戊公司",
        ),
        ({"计划类型": "单一计划", "客户名称": None, "计划名称": "甲公司养老计划"}, None, None),  # no suffix
        ({"计划类型": "单一计划", "客户名称": None, "计划名称": "企业年金计划"}, None, None),  # nothing remains
        ({"计划类型": "单一计划", "客户名称": "乙公司", "计划名称": "甲公司企业年金计划"}, "乙公司", "乙公司"),
        ({"计划类型": "集合计划", "客户名称": None, "计划名称": "甲公司企业年金计划"}, None, None),
        ({"计划类型": "集合计划", "客户名称": "（已转出）戊公司"}, "戊公司", "（已转出）戊公司"),
    ],
)
def test_customer_name_and_account_name(change: dict[str, Any], customer: str | None, account_name: str | None) -> None:
    row = only_row(**change)
    assert (row["客户名称"], row["年金账户名"]) == (customer, account_name)


PLAN_COMPANY_IDS = Lookups(plan_company_ids={"XNP001": "700000001", "P0101": "700000002"})


@pytest.mark.parametrize(
    ("change", "company_id"),
    [
        ({"company_id": " 612345678 "}, "612345678"),  # the sheet's own column first
        ({"计划代码": "FP0001"}, "614810477"),  # the shipped plan-code override
        ({"计划代码": "XNP001", "计划类型": "单一计划"}, "700000001"),  # 年金计划 of a single plan
        ({"计划代码": "P0101", "计划类型": "集合计划", "客户名称": "无名公司"}, None),  # not of a collective plan
        ({"客户名称": "宣城城建城市运营管理有限公司"}, "1918884945"),  # the shipped customer-name override
        ({"客户名称": "保留账户管理"}, None),  # deliberately none
        ({"客户名称": None}, None),  # no default for an empty name (600866980 is 规模明细's only)
    ],
)
def test_company_id(change: dict[str, Any], company_id: str | None) -> None:
    header = (*HEADER, "company_id")
    result = cleanse(change, header=header, lookups=PLAN_COMPANY_IDS)
    assert result.errors == []
    assert result.rows[0]["company_id"] == company_id


def test_company_ids_missing_are_counted_never_invented() -> None:
    result = cleanse({"客户名称": None}, {"客户名称": "无名公司"}, {"计划代码": "FP0001"})
    assert [row["company_id"] for row in result.rows] == [None, None, "614810477"]
    assert result.company_id_missing == 2


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (1234.5, Decimal("1234.5000")),
        ("¥1,234.56", Decimal("1234.5600")),
        (" 12 345.6 ", Decimal("12345.6000")),
        (1.00005, Decimal("1.0001")),  # half-up, as the text reads
        (None, Decimal("0.0000")),  # a blank fee is 0
        ("", Decimal("0.0000")),
        (-3, Decimal("-3.0000")),
    ],
)
def test_fee_amounts(cell: Any, expected: Decimal) -> None:
    assert only_row(固费=cell)["固费"] == expected


def test_missing_optional_fee_columns_are_zero_and_given_ones_are_read() -> None:
    header = (*HEADER, "浮费", "回补")
    result = cleanse({"浮费": "2,000", "回补": None}, header=header)
    row = result.rows[0]
    assert [row[column] for column in FEE_COLUMNS] == [Decimal("1234.5000"), Decimal("2000.0000"), 0, 0]
    assert row["税"].as_tuple().exponent == -4


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"固费": "待核实"}, "固费"),
        ({"浮费": "n/a x"}, "浮费"),
        ({"税": True}, "税"),
        ({"月度": "2026年13月"}, "月度"),
        ({"计划代码": None, "计划类型": "职业年金"}, "计划代码"),
        ({"计划名称": "长" * 256}, "计划名称"),
    ],
)
def test_a_bad_cell_is_a_row_error_and_the_other_rows_load(change: dict[str, Any], column: str) -> None:
    header = (*HEADER, "浮费", "回补", "税")
    result = cleanse({}, change, {}, header=header)
    assert [row["计划代码"] for row in result.rows] == ["P0101", "P0101"]
    (error,) = result.errors
    assert (error.sheet, error.row, error.column) == ("收入明细", 3, column)
    assert error.file.endswith("(手工汇总).xlsx")


def test_month_is_the_first_day_of_its_month() -> None:
    result = cleanse({"月度": 202602.0}, {"月度": "2026年2月"}, {"月度": date(2026, 2, 17)})
    assert [row["月度"] for row in result.rows] == [date(2026, 2, 1)] * 3


def test_rows_carry_exactly_the_fact_columns() -> None:
    row = only_row()
    assert tuple(row) == tuple(sorted(row, key=domain_get("annuity_income").fact_columns.index))
    assert set(row) == {field.column for field in AnnuityIncome._meta.concrete_fields if not field.primary_key}


def test_required_columns() -> None:
    assert REQUIRED_COLUMNS == ("月度", "业务类型", "计划类型", "计划代码", "固费")
    with pytest.raises(InputError, match=r"lacks the required column\(s\) 计划代码 or 计划号; 固费"):
        cleanse({}, header=tuple(name for name in HEADER if name not in {"计划代码", "固费"}))


def write_income(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.active.title = "规模明细"
    sheet = workbook.create_sheet("收入明细")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def test_the_real_header_and_the_older_one(tmp_path: Path) -> None:
    """机构 is the branch code here (the reverse of 规模明细), 计划号 the plan code; older files
    say 计划代码 / 机构代码 and carry 浮费, 回补, 税."""
    new = write_income(
        tmp_path / "new.xlsx",
        ["月度", "业务类型", "计划类型", "计划号", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称", "固费",
         "机构", "机构名称"],
        [[202602, "企年受托", "单一计划", "XNP9", "丙公司企业年金计划", None, "F9003", None, None, 10, "G25", "安徽"],
         [None] * 12,  # a blank row in the middle is dropped like any blank row
         [202602, "企年投资", "单一计划", "XNP9", "丙公司企业年金计划", None, None, None, "0", "1,000", None, "安徽"]],
    )  # fmt: skip
    old = write_income(
        tmp_path / "old.xlsx",
        ["月度", "业务类型", "计划类型", "计划代码", "组合代码", "固费", "浮费", "回补", "税", "机构代码", "机构名称"],
        [[202312, "企年受托", "集合计划", "P0001", "QH01", 1, 2, 3, 4, "G04", "江苏"]],
    )
    mappings = get_config().domain("annuity_income").mappings
    cleansed: list[CleansedSheet] = []
    for path in (new, old):
        data = read_sheet(path, "收入明细", renames=HEADER_RENAMES)
        cleansed.append(cleanse_sheet(data, rules=SHEET_RULES, mappings=mappings, lookups=NO_LOOKUPS))
    first, second = cleansed[0].rows
    assert cleansed[0].rows_read == 2 and cleansed[0].errors == []
    assert (first["计划代码"], first["组合代码"]) == ("XNP9", "9003")
    assert (first["机构代码"], first["机构名称"]) == ("G25", "安徽")
    assert (first["客户名称"], second["客户名称"], second["组合代码"]) == ("丙公司", "丙公司", "QTAN002")
    assert (second["固费"], second["浮费"], second["机构代码"]) == (Decimal("1000.0000"), 0, "G00")
    (row,) = cleansed[1].rows
    assert [row[column] for column in FEE_COLUMNS] == [1, 2, 3, 4]
    assert (row["机构代码"], row["计划名称"], row["客户名称"]) == ("G04", None, None)
