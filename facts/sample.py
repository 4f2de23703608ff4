"""Synthetic monthly workbooks shaped like the real ones (ANNUITY_PERFORMANCE.md §1–§3).

:func:`write_sample_workbook` writes sheet ``规模明细`` with the real February 2026 header and,
with ``realities``, what real files bring (§2): header variants, 月度 as integer, text and date
cells, numeric and ``F``-prefixed 组合代码 cells, empty and placeholder cells, status words in
客户名称, percentages, and formatted empty rows after the data; beside it an unrelated sheet
``收入明细``. The data hits the shipped mappings (plan-code corrections, company-id and branch
overrides). At most two rows, one per 50, are broken on purpose so that row errors show. Equal
specs give byte-identical files. Writes files only; never touches the database.

The package is written as SpreadsheetML directly rather than through openpyxl: without lxml,
openpyxl's write-only mode manages ~50,000 cells a second (45 s for 100,000 rows), and its
``%.16g`` number format would cut the 17-digit binary tails the real amounts carry.
"""

from __future__ import annotations

import functools
import os
import random
import string
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, TypeAlias
from xml.sax.saxutils import escape

from wdh.errors import InputError

Cell: TypeAlias = str | int | float | date | None

SHEET = "规模明细"
OTHER_SHEET = "收入明细"
HEADER: tuple[str, ...] = (
    "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
    "期初资产规模", "期末资产规模", "供款", "流失(含待遇支付)", "流失", "待遇支付", "投资收益", "当期收益率",
    "机构代码", "机构", "子企业号", "子企业名称", "集团企业客户号", "集团企业客户名称",
)  # fmt: skip
# As real headers have them: 计划号, full-width brackets, a stray space, a line break.
HEADER_VARIANTS: Mapping[str, str] = {
    "计划代码": "计划号", "客户名称": "客户 名称", "期末资产规模": "期末资产\n规模",
    "流失(含待遇支付)": "流失（含待遇支付）",
}  # fmt: skip
EXCEL_MAX_ROWS = 1_048_576

# (code, 计划类型) of the first plans: codes the shipped corrections and company-id overrides know.
_SPECIAL_PLANS = (
    ("P0290", "集合计划"), ("AN001", "集合计划"), ("FP0001", "单一计划"), ("XNP596", "单一计划"),
    ("P0809", "单一计划"), ("SC002", "职业年金"), ("P0807", "集合计划"), ("XNP717", "单一计划"),
)  # fmt: skip
_MISSPELT_PLAN_CODES = {"P0290": "1P0290", "P0807": "1P0807"}  # so on the plan's first row
_BLANK_PLAN_CODE = "AN001"  # its rows leave 计划代码 empty: cleansing gives a blank 集合计划 AN001
_PLAN_TYPES, _PLAN_TYPE_WEIGHTS = ("单一计划", "集合计划", "职业年金"), (60, 25, 15)
_PORTFOLIO_WEIGHTS = {"单一计划": 1, "集合计划": 6, "职业年金": 4}  # portfolios per plan, relatively
_PLAN_CODE_FORMATS = {"单一计划": ("XNP{}", 1000), "集合计划": ("P{:04d}", 1000), "职业年金": ("SC{:03d}", 100)}
_BUSINESS_TYPES = {
    "单一计划": (("企年受托", "企年投资"), ("企年受托",), ("企年投资",)),
    "集合计划": (("企年受托", "企年投资"),),
    "职业年金": (("职年受托", "职年投资"),),
}
_SPECIAL_CLIENTS = (  # the shipped name overrides, a glued status word, brackets
    "宣城城建城市运营管理有限公司", "内江筑石混泥土有限公司", "保留账户管理", "原平市煤业有限公司",
    "华电能源有限公司（北京）", "中铁建设(北京)有限公司",
)  # fmt: skip
_PLACES = (
    "北京", "上海", "天津", "重庆", "广州", "深圳", "南京", "杭州", "济南", "青岛", "成都", "武汉",
    "西安", "沈阳", "长沙", "郑州", "合肥", "福州", "昆明", "呼和浩特", "宣城", "苏州",
)  # fmt: skip
_CORES = (
    "华信", "中泰", "宏达", "东方", "远航", "金桥", "恒通", "新兴", "瑞丰", "国泰",
    "长城", "天元", "海润", "光明", "永安", "鼎盛", "华能", "安泰", "正大", "联合",
)  # fmt: skip
_TRADES = (
    "建设", "能源", "电力", "交通", "投资", "科技", "医药", "化工", "钢铁", "煤业",
    "机械", "物流", "港务", "水务", "城建", "电子", "食品", "纺织", "置业", "通信",
)  # fmt: skip
_FORMS = ("集团有限公司", "有限公司", "股份有限公司", "有限责任公司")
_BRANDS = ("如意人生", "金色晚年", "安盈", "稳盈", "福寿", "鑫享")
_NAME_DECORATIONS = (  # status words, suffixes and whitespace that cleansing removes from 客户名称
    "（已转出）{}", "{}-养老", "{}(团托)", "{}及下属子企业", " {} ", "{}（保留）", "已转出-{}",
    "{}-已转出", "{}-福利", "{}-JT", "{}-02", "\u3000{}", "{}（待转出）",
)  # fmt: skip
_BRANCHES = (  # (机构代码, 机构): 内蒙, 北分, 济南 … hit the shipped branch overrides
    ("G01", "北京分公司"), ("G02", "上海分公司"), ("G03", "广东分公司"), ("G04", "江苏分公司"),
    ("G05", "浙江分公司"), ("G06", "深圳分公司"), ("G07", "四川分公司"), ("G08", "湖北分公司"),
    ("G09", "河南分公司"), ("G10", "辽宁分公司"), ("G21", "济南"), ("G31", "内蒙"), ("G01", "北分"),
    ("G37", "北京其他"), ("G37", "战略"),
)  # fmt: skip
_PORTFOLIO_TYPES = ("固定收益型", "含权益型", "权益型", "货币型")
_TEXT_PORTFOLIO_PREFIXES = ("QH", "XZ", "SZ", "JY")  # never F: an F before capitals is cleansed away
_PLACEHOLDERS = ("-", "N/A", "无")
_ODD_ROWS = (  # one row each per 400 rows; when rows are few, the first ones win
    "month_cjk", "month_short", "month_dash", "month_date", "client_empty", "branch_code_empty",
    "rate_percent", "rate_text", "month_text", "amount_currency", "amount_commas", "client_placeholder",
    "rate_fullwidth",
)  # fmt: skip
_BROKEN_COLUMNS = ("月度", "供款")  # broken on purpose in rows rows//3 and 2*rows//3 (one per 50 rows)


@dataclass(frozen=True)
class SampleSpec:
    """What to generate. Invalid values raise :class:`~wdh.errors.InputError`."""

    rows: int = 300  # data rows
    plans: int | None = None  # distinct plan codes; default max(8, rows // 20)
    portfolios: int | None = None  # distinct non-default portfolio codes; default max(10, rows // 5)
    year: int = 2026
    month: int = 2
    seed: int = 20260201
    trailing_blank_rows: int = 2000  # formatted but empty rows after the data (real files: ~38,000)
    realities: bool = True  # header variants, mixed 月度 forms, placeholders, F-prefixes …

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise InputError(f"sample: {problem}")

    def _problem(self) -> str | None:
        if self.rows < 1:
            return f"rows must be at least 1, not {self.rows}"
        if self.plans is not None and self.plans < 1:
            return f"plans must be at least 1, not {self.plans}"
        if self.portfolios is not None and self.portfolios < 0:
            return f"portfolios must be 0 or more, not {self.portfolios}"
        if not 1 <= self.month <= 12:
            return f"month must be 1..12, not {self.month}"
        if not 2000 <= self.year <= 2099:
            return f"year must be 2000..2099 (file names and 月度 text carry two digits), not {self.year}"
        if self.trailing_blank_rows < 0:
            return f"trailing_blank_rows must be 0 or more, not {self.trailing_blank_rows}"
        if 1 + self.rows + self.trailing_blank_rows > EXCEL_MAX_ROWS:
            return f"header, rows and trailing blank rows exceed Excel's {EXCEL_MAX_ROWS:,} rows"
        return None

    @property
    def plan_count(self) -> int:
        return self.plans if self.plans is not None else max(8, self.rows // 20)

    @property
    def portfolio_count(self) -> int:
        return self.portfolios if self.portfolios is not None else max(10, self.rows // 5)


DEFAULT_SPEC = SampleSpec()


def sample_file_name(year: int, month: int, version: int = 0) -> str:
    """The real files' name, e.g. ``【年金规模收入】26年2月年金业务规模明细(手工汇总)_V2.xlsx``."""
    suffix = f"_V{version}" if version else ""
    return f"【年金规模收入】{year % 100:02d}年{month}月年金业务规模明细(手工汇总){suffix}.xlsx"


def write_sample_workbook(path: Path, spec: SampleSpec = DEFAULT_SPEC) -> Path:
    """Write the sample to ``path`` (replaced whole; folders created) and return ``path``. Files only."""
    model = _model(spec)
    header = [HEADER_VARIANTS.get(name, name) for name in HEADER] if spec.realities else list(HEADER)
    sheets = (
        _Sheet(SHEET, header, _Rows(model, spec), len(model.slots), spec.trailing_blank_rows),
        _Sheet(OTHER_SHEET, _INCOME_HEADER, _income_rows(spec), _INCOME_ROWS, 0),
    )
    _write_package(path, sheets, description=f"wdh sample: {spec}", created=date(spec.year, spec.month, 1))
    return path


def existing_plan_codes(spec: SampleSpec) -> list[str]:
    """The sample's 计划代码 as cleansing yields them (``1P0290`` → ``P0290``, blank → ``AN001``), sorted."""
    model = _model(spec)
    return sorted({model.plans[slot.plan].code for slot in model.valid_slots()})


def existing_portfolio_codes(spec: SampleSpec) -> list[str]:
    """The sample's non-default 组合代码 as cleansing yields them (``9078``, ``F9003`` → ``9003``), sorted.

    Rows with an empty 组合代码 get the configured defaults (QTAN001…); those are not listed.
    """
    model = _model(spec)
    return sorted({model.portfolios[slot.portfolio].code for slot in model.valid_slots() if slot.portfolio is not None})


# --- the model: clients, plans, portfolios, and which of them each row carries ----------------------


@dataclass(frozen=True)
class _Client:
    name: str
    account: str  # 集团企业客户号: "C" and 18 digits


@dataclass(frozen=True)
class _Plan:
    code: str  # as cleansing yields it
    plan_type: str
    name: str
    client: int  # a single plan's client; other plans draw one per row
    branch: int
    business_types: tuple[str, ...]


@dataclass(frozen=True)
class _Portfolio:
    code: str  # as cleansing yields it
    cell: str | int  # as real sheets have it: 9078 (a number), "F9003", "QH01234"
    plan: int
    kind: str
    name: str


@dataclass(frozen=True)
class _Slot:
    plan: int
    portfolio: int | None  # None: 组合代码 is empty and a default code applies
    business_type: str


@dataclass(frozen=True)
class _Model:
    clients: tuple[_Client, ...]
    plans: tuple[_Plan, ...]
    portfolios: tuple[_Portfolio, ...]
    slots: tuple[_Slot, ...]  # one per data row, in sheet order
    broken: Mapping[int, str]  # row index → the column broken on purpose

    def valid_slots(self) -> Iterator[_Slot]:
        return (slot for index, slot in enumerate(self.slots) if index not in self.broken)


@functools.lru_cache(maxsize=4)
def _model(spec: SampleSpec) -> _Model:
    rng = random.Random(spec.seed)
    clients = _clients(rng, spec.plan_count + max(20, spec.plan_count // 2))
    plans = _plans(rng, spec.plan_count, clients)
    portfolios = _portfolios(rng, spec.portfolio_count, plans)
    columns = _BROKEN_COLUMNS[: spec.rows // 50] if spec.realities else ()
    slots = _slots(rng, spec.rows - len(columns), spec.realities, plans, portfolios)
    broken = dict(zip((spec.rows // 3, 2 * spec.rows // 3), columns, strict=False))
    for index in broken:  # a copy of the row above: no plan or portfolio hangs on a broken row alone
        slots.insert(index, slots[index - 1])
    return _Model(tuple(clients), tuple(plans), tuple(portfolios), tuple(slots), broken)


def _clients(rng: random.Random, count: int) -> list[_Client]:
    names = [p + c + t + f for p in _PLACES for c in _CORES for t in _TRADES for f in _FORMS]
    rng.shuffle(names)
    names[:0] = _SPECIAL_CLIENTS
    numbered = (names[i % len(names)] + (str(i // len(names)) if i >= len(names) else "") for i in range(count))
    return [_Client(name, f"C{rng.randrange(10**17, 10**18)}") for name in numbered]


def _plans(rng: random.Random, count: int, clients: Sequence[_Client]) -> list[_Plan]:
    special = _SPECIAL_PLANS[:count]
    types = [t for _, t in special] + rng.choices(_PLAN_TYPES, _PLAN_TYPE_WEIGHTS, k=count - len(special))
    codes = [code for code, _ in special] + _plan_codes(rng, types[len(special) :])
    return [
        _Plan(code, plan_type, _plan_name(rng, code, plan_type, clients[i].name), i, rng.randrange(len(_BRANCHES)),
              rng.choice(_BUSINESS_TYPES[plan_type]))
        for i, (code, plan_type) in enumerate(zip(codes, types, strict=True))
    ]  # fmt: skip


def _plan_codes(rng: random.Random, types: Sequence[str]) -> list[str]:
    numbers: dict[str, Iterator[int]] = {}
    for plan_type, (_, first) in _PLAN_CODE_FORMATS.items():
        needed = types.count(plan_type)
        numbers[plan_type] = iter(rng.sample(range(first, first + max(9000, 4 * needed)), needed))
    return [_PLAN_CODE_FORMATS[t][0].format(next(numbers[t])) for t in types]


def _plan_name(rng: random.Random, code: str, plan_type: str, client: str) -> str:
    if code == _BLANK_PLAN_CODE:
        return "企业年金集合计划（待分配客户）"
    if plan_type == "单一计划":
        return f"{client}企业年金计划"
    if plan_type == "集合计划":
        return f"{rng.choice(_BRANDS)}{code[-3:]}号集合型企业年金计划"
    return f"{rng.choice(_PLACES)}职业年金计划"


def _portfolios(rng: random.Random, count: int, plans: Sequence[_Plan]) -> list[_Portfolio]:
    owners = rng.choices(range(len(plans)), [_PORTFOLIO_WEIGHTS[p.plan_type] for p in plans], k=count)
    numbers = rng.sample(range(1000, 1000 + max(99000, 4 * count)), count)
    texts = rng.sample(range(1, 1 + max(99999, 4 * count)), count)
    portfolios = []
    for i, (owner, number, text) in enumerate(zip(owners, numbers, texts, strict=True)):
        code: str
        cell: str | int
        if i % 3 == 0:  # about a third of the real codes are numeric cells
            code, cell = str(number), number
        elif i % 12 == 1:
            code, cell = str(number), f"F{number}"
        elif i == 2:  # an F before lower case belongs to the code
            code = cell = "Fund001"
        else:
            code = cell = f"{_TEXT_PORTFOLIO_PREFIXES[text % 4]}{text:05d}"
        kind = rng.choice(_PORTFOLIO_TYPES)
        portfolios.append(_Portfolio(code, cell, owner, kind, f"{plans[owner].name}{kind}组合"))
    return portfolios


def _slots(
    rng: random.Random, count: int, realities: bool, plans: Sequence[_Plan], portfolios: Sequence[_Portfolio]
) -> list[_Slot]:
    """Each portfolio and each plan once (as far as rows go), then random ones, ~30 % without 组合代码."""
    pairs: list[tuple[int, int | None]] = [(pf.plan, i) for i, pf in enumerate(portfolios) if i]
    pairs += [(p, None) for p in range(len(plans))]
    rng.shuffle(pairs)
    if portfolios:
        pairs.insert(0, (portfolios[0].plan, 0))
        if realities and len(plans) > 1:  # the same portfolio under a second plan
            pairs.insert(1, ((portfolios[0].plan + 1) % len(plans), 0))
    del pairs[count:]
    while len(pairs) < count:
        if not portfolios or rng.random() < 0.3:
            pairs.append((rng.randrange(len(plans)), None))
        else:
            chosen = rng.randrange(len(portfolios))
            pairs.append((portfolios[chosen].plan, chosen))
    slots = [_Slot(p, pf, rng.choice(plans[p].business_types)) for p, pf in pairs]
    slots.sort(key=lambda s: (s.business_type, plans[s.plan].code))  # as real sheets are grouped
    return slots


# --- rows: the model as cells, with the realities ---------------------------------------------------


class _Rows:
    """The data rows of 规模明细: one list of cells, in :data:`HEADER` order, per slot."""

    def __init__(self, model: _Model, spec: SampleSpec) -> None:
        self.model, self.spec, self.realities = model, spec, spec.realities
        self.rng = random.Random(f"{spec.seed}/rows")
        self.odd = self._odd_rows() if spec.realities else {}
        self.misspelt_pending = set(_MISSPELT_PLAN_CODES)
        y, m = spec.year, spec.month
        self.months: dict[str, Cell] = {
            "month_cjk": f"{y}年{m}月", "month_short": f"{y % 100:02d}年{m}月", "month_dash": f"{y}-{m:02d}",
            "month_date": date(y, m, 1), "month_text": f"{y}{m:02d}",
        }  # fmt: skip

    def _odd_rows(self) -> dict[int, str]:
        valid = [i for i in range(len(self.model.slots)) if i not in self.model.broken]
        chosen = self.rng.sample(valid, min(len(valid), max(1, len(valid) // 400) * len(_ODD_ROWS)))
        return {row: _ODD_ROWS[n % len(_ODD_ROWS)] for n, row in enumerate(chosen)}

    def __iter__(self) -> Iterator[list[Cell]]:
        for index, slot in enumerate(self.model.slots):
            yield self._row(index, slot)

    def _row(self, index: int, slot: _Slot) -> list[Cell]:
        plan = self.model.plans[slot.plan]
        odd = self.odd.get(index, "")
        single = plan.plan_type == "单一计划"
        client = self.model.clients[plan.client] if single else self.rng.choice(self.model.clients)
        cells: dict[str, Cell] = {
            "月度": self.months.get(odd, self.spec.year * 100 + self.spec.month),
            "业务类型": slot.business_type,
            "计划类型": plan.plan_type,
            "计划代码": self._plan_code(plan),
            "计划名称": plan.name,
            **self._portfolio(slot.portfolio),
            "客户名称": self._client_name(client, odd),
            **_amounts(self.rng, odd),
            **self._branch(plan, odd),
            **self._group(client),
        }
        broken = self.model.broken.get(index)
        if broken:
            cells[broken] = f"{self.spec.year}年13月" if broken == "月度" else "abc"
        return [cells.get(name) for name in HEADER]

    def _plan_code(self, plan: _Plan) -> str | None:
        if not self.realities:
            return plan.code
        if plan.code == _BLANK_PLAN_CODE:
            return None
        if plan.code in self.misspelt_pending:
            self.misspelt_pending.discard(plan.code)
            return _MISSPELT_PLAN_CODES[plan.code]
        return plan.code

    def _portfolio(self, index: int | None) -> dict[str, Cell]:
        if index is None:
            return {"组合代码": "-" if self.realities and self.rng.random() < 0.05 else None}
        portfolio = self.model.portfolios[index]
        cell = portfolio.cell if self.realities else portfolio.code
        return {"组合类型": portfolio.kind, "组合代码": cell, "组合名称": portfolio.name}

    def _client_name(self, client: _Client, odd: str) -> str | None:
        if odd == "client_empty":
            return None
        if odd == "client_placeholder":
            return "-"
        if self.realities and self.rng.random() < 0.06:
            return self.rng.choice(_NAME_DECORATIONS).format(client.name)
        return client.name

    def _branch(self, plan: _Plan, odd: str) -> dict[str, Cell]:
        branch = plan.branch if self.rng.random() < 0.9 else self.rng.randrange(len(_BRANCHES))
        code, name = _BRANCHES[branch]
        return {"机构代码": None if odd == "branch_code_empty" else code, "机构": name}

    def _group(self, client: _Client) -> dict[str, Cell]:
        cells: dict[str, Cell] = {"集团企业客户号": client.account}
        if self.rng.random() < 0.1:
            cells["子企业号"] = f"S{self.rng.randrange(10**8, 10**9)}"
            cells["子企业名称"] = f"{client.name}{self.rng.choice(_PLACES)}分公司"
        if self.rng.random() < 0.4:
            cells["集团企业客户名称"] = client.name
        if self.realities and self.rng.random() < 0.03:
            cells[self.rng.choice(("子企业号", "子企业名称", "集团企业客户名称"))] = self.rng.choice(_PLACEHOLDERS)
        return cells


def _amounts(rng: random.Random, odd: str) -> dict[str, Cell]:
    """Amounts that add up as in the real sheets; sums and products keep their binary tails."""
    opening = round(10 ** rng.uniform(4, 10.5), 2)
    rate = round(rng.uniform(-0.03, 0.08), 6)
    contribution = round(opening * rng.uniform(0, 0.06), 2) if rng.random() < 0.6 else 0.0
    benefits = round(opening * rng.uniform(0, 0.02), 2) if rng.random() < 0.4 else 0.0
    outflow = round(opening * rng.uniform(0, 0.03), 2) if rng.random() < 0.3 else 0.0
    income = opening * rate
    closing = opening + contribution - outflow - benefits + income
    percent = round(rng.uniform(1.5, 8.0), 1)  # 5.5 and "3.2%" mean percent
    rates: dict[str, Cell] = {"rate_percent": percent, "rate_text": f"{percent}%", "rate_fullwidth": f"{percent}％"}
    return {
        "期初资产规模": f"¥{opening:,.2f}" if odd == "amount_currency" else opening,
        "期末资产规模": f"{closing:,.2f}" if odd == "amount_commas" else closing,
        "供款": contribution, "流失(含待遇支付)": outflow + benefits, "流失": outflow, "待遇支付": benefits,
        "投资收益": income, "当期收益率": rates.get(odd, rate),
    }  # fmt: skip


_INCOME_HEADER = ("月度", "机构代码", "机构", "收入类型", "收入金额")
_INCOME_ROWS = 6


def _income_rows(spec: SampleSpec) -> Iterator[list[Cell]]:
    rng = random.Random(f"{spec.seed}/income")
    for _ in range(_INCOME_ROWS):
        code, name = rng.choice(_BRANCHES)
        kind = rng.choice(("受托管理费", "投资管理费", "账户管理费"))
        yield [spec.year * 100 + spec.month, code, name, kind, round(rng.uniform(1e4, 1e7), 2)]


# --- the package: SpreadsheetML parts in a zip that records no time or platform ---------------------

_HEADER_STYLE, _DATE_STYLE, _BLANK_STYLE = 1, 2, 3  # positions in cellXfs of _STYLES
_EXCEL_EPOCH = date(1899, 12, 30)
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_CT = "application/vnd.openxmlformats-officedocument"
_BORDER = "".join(f'<{side} style="thin"><color auto="1"/></{side}>' for side in ("left", "right", "top", "bottom"))
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}"><fonts count="3"><font><sz val="11"/><name val="宋体"/></font>'
    '<font><b/><sz val="11"/><name val="宋体"/></font><font><sz val="10"/><name val="Arial"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
    '</fill><fill><patternFill patternType="solid"><fgColor rgb="FFFFF2CC"/></patternFill></fill></fills>'
    f'<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border><border>{_BORDER}<diagonal/>'
    '</border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="1" xfId="0" applyFont="1" applyBorder="1"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="常规" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


class _SharedStrings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.count = 0

    def ref(self, text: str) -> int:
        self.count += 1
        return self.index.setdefault(text, len(self.index))

    def xml(self) -> str:
        items = "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in self.index)
        return f'{_XML}<sst xmlns="{_MAIN}" count="{self.count}" uniqueCount="{len(self.index)}">{items}</sst>'


@dataclass(frozen=True)
class _Sheet:
    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Cell]]
    row_count: int
    trailing_blank_rows: int

    def write(self, stream: IO[bytes], strings: _SharedStrings) -> None:
        letters = string.ascii_uppercase[: len(self.header)]
        last = 1 + self.row_count + self.trailing_blank_rows
        stream.write(f'{_XML}<worksheet xmlns="{_MAIN}"><dimension ref="A1:{letters[-1]}{last}"/><sheetData>'.encode())
        chunk = [_row_xml(1, self.header, strings, letters, _HEADER_STYLE)]
        for number, cells in enumerate(self.rows, start=2):
            chunk.append(_row_xml(number, cells, strings, letters))
            if len(chunk) >= 1000:
                stream.write("".join(chunk).encode())
                chunk.clear()
        chunk.extend(self._blank_rows(letters, strings))
        stream.write(("".join(chunk) + "</sheetData></worksheet>").encode())

    def _blank_rows(self, letters: str, strings: _SharedStrings) -> Iterator[str]:
        """Formatted, empty rows. The first holds a space and the last an empty text, so that readers
        which stop at the last value (calamine) meet every one of them, as with the real files."""
        first, last = 2 + self.row_count, 1 + self.row_count + self.trailing_blank_rows
        for number in range(first, last + 1):
            cells = [f'<c r="{letter}{number}" s="{_BLANK_STYLE}"/>' for letter in letters]
            if number in (first, last):
                text = strings.ref(" " if number == first else "")
                cells[0] = f'<c r="A{number}" s="{_BLANK_STYLE}" t="s"><v>{text}</v></c>'
            yield f'<row r="{number}">{"".join(cells)}</row>'


def _row_xml(number: int, cells: Sequence[Cell], strings: _SharedStrings, letters: str, style: int = 0) -> str:
    s = f' s="{style}"' if style else ""
    parts = [f'<row r="{number}">']
    for letter, value in zip(letters, cells, strict=True):
        if value is None:
            continue
        if isinstance(value, str):
            parts.append(f'<c r="{letter}{number}"{s} t="s"><v>{strings.ref(value)}</v></c>')
        elif isinstance(value, date):
            parts.append(f'<c r="{letter}{number}" s="{_DATE_STYLE}"><v>{(value - _EXCEL_EPOCH).days}</v></c>')
        else:  # repr: the shortest text that reads back as the same float, binary tail and all
            parts.append(f'<c r="{letter}{number}"{s}><v>{value!r}</v></c>')
    parts.append("</row>")
    return "".join(parts)


def _write_package(path: Path, sheets: Sequence[_Sheet], *, description: str, created: date) -> None:
    """Write beside ``path`` under a hidden name, then move into place: no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    strings = _SharedStrings()
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            for name, xml in _fixed_parts(sheets, description, created):
                archive.writestr(_entry(name), xml)
            for number, sheet in enumerate(sheets, start=1):
                with archive.open(_entry(f"xl/worksheets/sheet{number}.xml"), "w") as stream:
                    sheet.write(stream, strings)
            archive.writestr(_entry("xl/sharedStrings.xml"), strings.xml())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _entry(name: str) -> zipfile.ZipInfo:
    """A deflated zip entry with a fixed time and platform, so equal content gives equal bytes."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o600 << 16
    return info


def _fixed_parts(sheets: Sequence[_Sheet], description: str, created: date) -> list[tuple[str, str]]:
    numbers = range(1, len(sheets) + 1)
    overrides = [("/xl/workbook.xml", f"{_CT}.spreadsheetml.sheet.main+xml"),
                 ("/xl/styles.xml", f"{_CT}.spreadsheetml.styles+xml"),
                 ("/xl/sharedStrings.xml", f"{_CT}.spreadsheetml.sharedStrings+xml"),
                 ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
                 ("/docProps/app.xml", f"{_CT}.extended-properties+xml")]  # fmt: skip
    overrides += [(f"/xl/worksheets/sheet{n}.xml", f"{_CT}.spreadsheetml.worksheet+xml") for n in numbers]
    content_types = (
        f'{_XML}<Types xmlns="{_PKG}/content-types"><Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        + "".join(f'<Override PartName="{part}" ContentType="{kind}"/>' for part, kind in overrides)
        + "</Types>"
    )
    sheet_list = "".join(
        f'<sheet name="{escape(s.name)}" sheetId="{n}" r:id="rId{n}"/>' for n, s in enumerate(sheets, 1)
    )
    return [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", _relationships([("relationships/officeDocument", "xl/workbook.xml"),
                                        (f"{_PKG}/relationships/metadata/core-properties", "docProps/core.xml"),
                                        ("relationships/extended-properties", "docProps/app.xml")])),
        ("docProps/app.xml", f'{_XML}<Properties xmlns="{_DOC}/extended-properties"><Application>wdh</Application>'
                             "</Properties>"),
        ("docProps/core.xml", _core_properties(description, created)),
        ("xl/workbook.xml", f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}/relationships"><sheets>{sheet_list}'
                            "</sheets></workbook>"),
        ("xl/_rels/workbook.xml.rels", _relationships([*(("relationships/worksheet", f"worksheets/sheet{n}.xml")
                                                         for n in numbers),
                                                       ("relationships/styles", "styles.xml"),
                                                       ("relationships/sharedStrings", "sharedStrings.xml")])),
        ("xl/styles.xml", _STYLES),
    ]  # fmt: skip


def _core_properties(description: str, created: date) -> str:
    """Document properties with the sample's month as creation time: never the clock's."""
    stamp = f"{created.isoformat()}T00:00:00Z"
    return (
        f'{_XML}<cp:coreProperties xmlns:cp="{_PKG}/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>wdh</dc:creator>'
        f"<dc:description>{escape(description)}</dc:description>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified></cp:coreProperties>'
    )


def _relationships(targets: Sequence[tuple[str, str]]) -> str:
    """A relationships part; a type not starting with http is relative to officeDocument/2006."""
    items = "".join(
        f'<Relationship Id="rId{n}" Type="{kind if kind.startswith("http") else f"{_DOC}/{kind}"}" Target="{target}"/>'
        for n, (kind, target) in enumerate(targets, 1)
    )
    return f'{_XML}<Relationships xmlns="{_PKG}/relationships">{items}</Relationships>'
