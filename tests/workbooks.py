"""Small workbooks written by tests, with the real header of sheet 规模明细."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl

HEADER = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    "期初资产规模", "期末资产规模", "供款", "流失(含待遇支付)", "流失", "待遇支付", "投资收益", "当期收益率",
    "机构代码", "机构", "子企业号", "子企业名称", "集团企业客户号", "集团企业客户名称",
)  # fmt: skip

DEFAULTS: Mapping[str, Any] = {
    "月度": 202602,
    "业务类型": "企年受托",
    "计划类型": "集合计划",
    "期初资产规模": 1000.0,
    "期末资产规模": 1100.0,
    "供款": 100.0,
    "流失(含待遇支付)": 0.0,
    "流失": 0.0,
    "待遇支付": 0.0,
    "投资收益": 0.0,
    "当期收益率": 0.01,
    "机构代码": "G01",
    "机构": "北京分公司",
}


def write_workbook(
    path: Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    sheet: str = "规模明细",
    header: Sequence[str] = HEADER,
    defaults: Mapping[str, Any] = DEFAULTS,
) -> Path:
    """Write ``rows`` (dicts by header name; missing cells take ``defaults``) to ``path``."""
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    worksheet.append(list(header))
    for row in rows:
        worksheet.append([row.get(name, defaults.get(name)) for name in header])
    workbook.create_sheet("收入明细").append(["月度", "收入"])
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path
