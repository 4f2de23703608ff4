"""Sheet 规模明细 of the sample workbook, shaped like the real ones (ANNUITY_PERFORMANCE.md §1–§3).

:func:`sample_sheet` gives sheet ``规模明细`` with the real February 2026 header and, with
``realities``, what real files bring (§2): header variants, 月度 as integer, text and date cells,
numeric and ``F``-prefixed 组合代码 cells, empty and placeholder cells, status words in 客户名称,
percentages, and formatted empty rows after the data. The data hits the shipped mappings
(plan-code corrections, company-id and branch overrides). At most two rows, one per 50, are
broken on purpose so that row errors show. Pure: :mod:`facts.sample` writes the workbook.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from facts.sample_spec import DEFAULT_SPEC, SampleSpec
from facts.xlsx import Cell, Sheet

SHEET = "规模明细"
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


def sample_sheet(spec: SampleSpec = DEFAULT_SPEC) -> Sheet:
    """Sheet 规模明细 of the sample workbook (:func:`facts.sample.write_sample_workbook`)."""
    model = _model(spec)
    header = [HEADER_VARIANTS.get(name, name) for name in HEADER] if spec.realities else list(HEADER)
    return Sheet(SHEET, header, _Rows(model, spec), len(model.slots), spec.trailing_blank_rows)


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
