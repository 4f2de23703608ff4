"""Sheet 收入明细 of the sample workbook, shaped like the real ones (ANNUITY_INCOME.md §1).

With ``realities`` the sheet is as February 2026 has it: ``计划号`` for 计划代码, ``机构`` holding
the branch *code* beside ``机构名称``, no 浮费 / 回补 / 税 columns, 月度 as an integer, numeric and
``F``-prefixed 组合代码 cells, single plans without 客户名称 (blank or ``0``), a misspelt plan code,
blank and ``null`` branch codes (without a branch name), fees as text with thousands separators, formatted empty rows
after the data, and — from 100 rows on — one fee cell that is not a number (a row error). Without
``realities`` it is the older, tidy layout with every column. Equal specs give equal rows. Pure:
:mod:`facts.sample` writes the workbook.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from facts.sample_spec import DEFAULT_SPEC, SampleSpec
from facts.xlsx import Cell, Sheet

SHEET = "收入明细"
HEADER: tuple[str, ...] = (
    "月度", "业务类型", "计划类型", "计划号", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称", "固费",
    "机构", "机构名称",
)  # fmt: skip
TIDY_HEADER: tuple[str, ...] = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称", "固费",
    "浮费", "回补", "税", "机构代码", "机构名称",
)  # fmt: skip
BROKEN_FEE = "待核实"  # the fee cell that is not a number (realities, 100 rows or more)

_SPECIAL_PLANS = (("P0290", "集合计划"), ("XNP596", "单一计划"), ("FP0001", "单一计划"), ("P0807", "集合计划"))
_MISSPELT = {"P0290": "1P0290", "P0807": "1P0807"}  # corrected by the shipped plan_code_corrections
_PLAN_TYPES, _PLAN_TYPE_WEIGHTS = ("单一计划", "集合计划", "职业年金"), (50, 35, 15)
_CODE_FORMATS = {"单一计划": ("XNP{}", 1000), "集合计划": ("P{:04d}", 1000), "职业年金": ("SC{:03d}", 100)}
_ENTERPRISE, _OCCUPATIONAL = ("企年受托", "企年投资"), ("职年受托", "职年投资")
_BUSINESS_TYPES = {"单一计划": _ENTERPRISE, "集合计划": _ENTERPRISE, "职业年金": _OCCUPATIONAL}
_PLACES = ("合肥", "芜湖", "济南", "青岛", "成都", "武汉", "西安", "长沙", "郑州", "苏州", "宁波", "厦门")
_CORES = ("华信", "中泰", "宏达", "东方", "远航", "金桥", "恒通", "新兴", "瑞丰", "国泰", "长城", "天元")
_FORMS = ("集团有限公司", "有限公司", "股份有限公司")
_BRANCHES = (  # (机构 = the code, 机构名称): 内蒙 and 济南 hit the shipped branch overrides
    ("G25", "安徽"), ("G21", "济南"), ("G31", "内蒙"), ("G07", "四川"), ("G08", "湖北"), ("G12", "陕西"),
    ("G13", "湖南"), ("G09", "河南"), ("G04", "江苏"), ("G05", "浙江"),
)  # fmt: skip
_PORTFOLIO_TYPES = ("固定收益型", "含权益型", "权益型")
_AS_CELLS = {"计划号": "计划代码", "机构": "机构代码"}  # the real header's names of the cells below


@dataclass(frozen=True)
class _Plan:
    code: str  # as cleansing yields it
    plan_type: str
    name: str
    client: str
    branch: int


@dataclass(frozen=True)
class _Portfolio:
    code: str  # as cleansing yields it
    cell: str | int  # as the sheet has it: 9078, "F9003", "QH0123"
    plan: int
    kind: str


@dataclass(frozen=True)
class _Model:
    plans: tuple[_Plan, ...]
    portfolios: tuple[_Portfolio, ...]
    slots: tuple[tuple[int, int | None, str], ...]  # (plan, portfolio or None, 业务类型) per data row
    broken: int | None  # the row index whose 固费 is not a number


def sample_sheet(spec: SampleSpec = DEFAULT_SPEC) -> Sheet:
    """Sheet 收入明细 of the sample workbook (:func:`facts.sample.write_sample_workbook`)."""
    model = _model(spec)
    header = HEADER if spec.realities else TIDY_HEADER
    return Sheet(SHEET, header, _rows(model, spec), len(model.slots), spec.trailing_blank_rows)


def existing_plan_codes(spec: SampleSpec) -> list[str]:
    """The sheet's 计划代码 as cleansing yields them (``1P0290`` → ``P0290``), sorted."""
    model = _model(spec)
    return sorted({model.plans[plan].code for index, (plan, _, _) in enumerate(model.slots) if index != model.broken})


def existing_portfolio_codes(spec: SampleSpec) -> list[str]:
    """The sheet's non-default 组合代码 as cleansing yields them (``F9003`` → ``9003``), sorted."""
    model = _model(spec)
    used = {portfolio for index, (_, portfolio, _) in enumerate(model.slots) if index != model.broken}
    return sorted({model.portfolios[index].code for index in used if index is not None})


@functools.lru_cache(maxsize=4)
def _model(spec: SampleSpec) -> _Model:
    rng = random.Random(f"{spec.seed}/income")
    plans = _plans(rng, spec.plan_count)
    portfolios = _portfolios(rng, spec.portfolio_count, plans)
    by_plan: dict[int, list[int]] = {}
    for position, owned in enumerate(portfolios):
        by_plan.setdefault(owned.plan, []).append(position)
    broken = spec.rows // 2 if spec.realities and spec.rows >= 100 else None
    slots: list[tuple[int, int | None, str]] = []
    for index in range(spec.rows - (broken is not None)):
        plan = index if index < len(plans) else rng.randrange(len(plans))
        choices = by_plan.get(plan, [])
        portfolio = rng.choice(choices) if choices and rng.random() < 0.75 else None
        slots.append((plan, portfolio, rng.choice(_BUSINESS_TYPES[plans[plan].plan_type])))
    if broken is not None:  # a copy of the row above: no plan or portfolio hangs on the broken row alone
        slots.insert(broken, slots[broken - 1])
    return _Model(tuple(plans), tuple(portfolios), tuple(slots), broken)


def _plans(rng: random.Random, count: int) -> list[_Plan]:
    plans = []
    codes = {code for code, _ in _SPECIAL_PLANS}
    for index in range(count):
        if index < len(_SPECIAL_PLANS):
            code, plan_type = _SPECIAL_PLANS[index]
        else:
            plan_type = rng.choices(_PLAN_TYPES, _PLAN_TYPE_WEIGHTS)[0]
            pattern, span = _CODE_FORMATS[plan_type]
            number = rng.randrange(1, span)
            while (code := pattern.format(number)) in codes:  # taken: the next free one (width grows)
                number += 1
            codes.add(code)
        client = rng.choice(_PLACES) + rng.choice(_CORES) + rng.choice(_FORMS)
        name = f"{client}企业年金计划" if plan_type == "单一计划" else f"{rng.choice(_PLACES)}{plan_type}{index}号"
        plans.append(_Plan(code, plan_type, name, client, rng.randrange(len(_BRANCHES))))
    return plans


def _portfolios(rng: random.Random, count: int, plans: list[_Plan]) -> list[_Portfolio]:
    portfolios = []
    for index in range(count):
        number = 9000 + index
        form = index % 3
        cell: str | int = number if form == 0 else (f"F{number}" if form == 1 else f"QH{number:05d}")
        code = str(number) if form < 2 else str(cell)
        kind = rng.choice(_PORTFOLIO_TYPES)
        portfolios.append(_Portfolio(code, cell, rng.randrange(len(plans)), kind))
    return portfolios


def _rows(model: _Model, spec: SampleSpec) -> Iterator[list[Cell]]:
    rng = random.Random(f"{spec.seed}/income/rows")
    month = spec.year * 100 + spec.month
    first_seen: set[int] = set()
    for index, (plan_index, portfolio_index, business_type) in enumerate(model.slots):
        plan = model.plans[plan_index]
        misspelt = spec.realities and plan_index not in first_seen
        code = _MISSPELT.get(plan.code, plan.code) if misspelt else plan.code
        first_seen.add(plan_index)
        portfolio = model.portfolios[portfolio_index] if portfolio_index is not None else None
        code_of_branch, name_of_branch = _BRANCHES[plan.branch]
        branch_name: str | None = name_of_branch
        branch_code: str | None = code_of_branch
        customer: str | None = plan.client
        amount = round(rng.uniform(500, 2_000_000), 2)
        fixed: Cell = amount
        if spec.realities:
            customer = _customer_cell(rng, plan)
            branch_code = _branch_cell(rng, code_of_branch)
            # A blank or null 机构 comes with no 机构名称 either: G00 by rule. With a name, the
            # backfilled 组织架构 would give that name G00 too, and the next run's lookup another code.
            branch_name = branch_name if branch_code not in (None, "null") else None
            fixed = BROKEN_FEE if index == model.broken else _fee_cell(rng, amount)
        cells: dict[str, Cell] = {
            "月度": month, "业务类型": business_type, "计划类型": plan.plan_type, "计划代码": code,
            "计划名称": plan.name, "组合类型": portfolio.kind if portfolio else None,
            "组合代码": (portfolio.cell if spec.realities else portfolio.code) if portfolio else None,
            "组合名称": f"{plan.name}{portfolio.kind}组合" if portfolio else None, "客户名称": customer,
            "固费": fixed, "浮费": 0, "回补": 0, "税": 0 if spec.realities else round(amount * 0.06, 2),
            "机构代码": branch_code, "机构名称": branch_name,
        }  # fmt: skip
        yield [cells[_AS_CELLS.get(name, name)] for name in (HEADER if spec.realities else TIDY_HEADER)]


def _customer_cell(rng: random.Random, plan: _Plan) -> str | None:
    """A single plan's 客户名称 is mostly empty (or ``0``): cleansing takes it from the plan name."""
    if plan.plan_type != "单一计划":
        return plan.client
    roll = rng.random()
    return None if roll < 0.6 else ("0" if roll < 0.7 else plan.client)


def _branch_cell(rng: random.Random, code: str) -> str | None:
    roll = rng.random()
    return None if roll < 0.03 else ("null" if roll < 0.05 else code)


def _fee_cell(rng: random.Random, fee: float) -> Cell:
    roll = rng.random()
    return 0 if roll < 0.05 else (f"{fee:,.2f}" if roll < 0.1 else fee)
