"""The configuration as frozen, typed objects: what ``data_sources.yml`` says once it is read.

:mod:`wdh.config` builds these from the YAML; everything downstream reads only these.
Pure values: no file and no database is touched here.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from wdh.errors import ConfigError
from wdh.identifiers import quote_qualified


class Aggregation(enum.StrEnum):
    """How a candidate column is derived from a group of fact rows (PRODUCT.md §6)."""

    KEY = "key"
    FIRST = "first"
    FIRST_UNIQUE = "first_unique"  # first value the run gives under this key only (refs.unique_values)
    MOST_FREQUENT = "most_frequent"
    MAX_BY = "max_by"
    CONCAT_DISTINCT = "concat_distinct"
    TEMPLATE = "template"
    COUNT_DISTINCT = "count_distinct"


class ColumnType(enum.StrEnum):
    """The SQL type of a reference column no rule derives (``other_columns``)."""

    TEXT = "text"  # varchar without a length, as the production layouts have it
    INTEGER = "integer"


class Selection(enum.StrEnum):
    LATEST_BY_YEAR_MONTH = "latest_by_year_month"
    ALL = "all"


@dataclass(frozen=True)
class ColumnRule:
    """Derivation rule of one reference column."""

    column: str
    agg: Aggregation
    source: str | None = None  # fact column read by every aggregation but template
    weight: str | None = None  # numeric fact column for most_frequent / max_by
    separator: str = "+"  # concat_distinct
    template: str | None = None  # template, e.g. "{月度:%y%m}_新建"
    warn_on_conflict: bool = False  # first: report groups with several distinct values

    @property
    def template_fields(self) -> tuple[str, ...]:
        if self.template is None:
            return ()
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.template) if name)

    @property
    def sources(self) -> tuple[str, ...]:
        """Every fact column the rule reads."""
        names = [self.source, self.weight, *self.template_fields]
        return tuple(name for name in names if name)


@dataclass(frozen=True)
class TableName:
    schema: str
    table: str

    @property
    def qualified(self) -> str:
        """Quoted, schema-qualified name, e.g. ``"mapping"."年金计划"``."""
        return quote_qualified(self.schema, self.table)


@dataclass(frozen=True)
class RefTarget:
    """One reference table to backfill, declared under ``refs.<name>`` in the configuration."""

    name: str
    schema: str
    table: str
    key: tuple[str, ...]
    updatable: tuple[str, ...]
    columns: tuple[ColumnRule, ...]
    after: tuple[str, ...] = ()  # targets backfilled before this one (it holds their keys)
    other_columns: tuple[tuple[str, ColumnType], ...] = ()  # table columns no rule derives (its DDL)

    @property
    def qualified_name(self) -> str:
        return quote_qualified(self.schema, self.table)

    @property
    def key_rule(self) -> ColumnRule:
        return next(rule for rule in self.columns if rule.agg is Aggregation.KEY)

    def rule(self, column: str) -> ColumnRule | None:
        return next((rule for rule in self.columns if rule.column == column), None)


@dataclass(frozen=True)
class FactsTable(TableName):
    pk: tuple[str, ...] = ()


@dataclass(frozen=True)
class BranchTable(TableName):
    """The optional ``组织架构`` table: branch name → branch code."""

    name_column: str = "机构"
    code_column: str = "机构代码"


@dataclass(frozen=True)
class Mappings:
    """Shipped mapping data (ANNUITY_PERFORMANCE.md §3), read from YAML files."""

    business_type_code: Mapping[str, str]
    branch_overrides: Mapping[str, str]
    default_portfolio_code: Mapping[str, str]
    company_id_by_plan: Mapping[str, str]
    company_id_by_name: Mapping[str, str]
    plan_code_corrections: Mapping[str, str]


@dataclass(frozen=True)
class DomainConfig:
    name: str
    base_dir: Path
    file_patterns: tuple[str, ...]
    exclude_patterns: tuple[str, ...]
    select: Selection
    sheet: str
    facts: FactsTable
    branches: BranchTable | None
    mappings: Mappings
    refs: Mapping[str, RefTarget]
    refs_defaulted: bool  # True when `refs` was absent and the built-in defaults apply

    def targets(self, choice: str) -> tuple[RefTarget, ...]:
        """``all`` or comma-separated target names, in dependency order (each after the targets
        its ``after`` names), whatever order the names are given in: ``refs`` is kept in that
        order when the configuration is read (:mod:`wdh.target_order`)."""
        names = set(self.refs) if choice == "all" else {name.strip() for name in choice.split(",")}
        missing = sorted(names - set(self.refs))
        if missing:
            raise ConfigError(
                f"domains.{self.name}.refs",
                f"no target {missing[0]!r} is configured (configured: {', '.join(self.refs)})",
            )
        return tuple(target for name, target in self.refs.items() if name in names)


@dataclass(frozen=True)
class Config:
    path: Path
    digest: str  # SHA-256 of the configuration file and every mapping file it names
    domains: Mapping[str, DomainConfig] = field(default_factory=dict)

    def domain(self, name: str) -> DomainConfig:
        try:
            return self.domains[name]
        except KeyError:
            known = ", ".join(self.domains) or "none"
            raise ConfigError(
                f"domains.{name}", f"no such domain (configured: {known})", source=str(self.path)
            ) from None


_R = ColumnRule
_A = Aggregation
DEFAULT_REFS: Mapping[str, RefTarget] = MappingProxyType(
    {
        "plans": RefTarget(
            name="plans",
            schema="",
            table="年金计划",
            key=("年金计划号",),
            updatable=(
                "计划全称",
                "计划类型",
                "客户名称",
                "company_id",
                "主拓代码",
                "主拓机构",
                "管理资格",
                "备注",
            ),
            columns=(
                _R("年金计划号", _A.KEY, source="计划代码"),
                _R("计划全称", _A.FIRST, source="计划名称"),
                _R("计划类型", _A.FIRST, source="计划类型"),
                _R("客户名称", _A.MOST_FREQUENT, source="客户名称", weight="期末资产规模"),
                _R("company_id", _A.FIRST, source="company_id"),
                _R("主拓代码", _A.MAX_BY, source="机构代码", weight="期末资产规模"),
                _R("主拓机构", _A.MAX_BY, source="机构名称", weight="期末资产规模"),
                _R("管理资格", _A.CONCAT_DISTINCT, source="业务类型", separator="+"),
                _R("备注", _A.TEMPLATE, template="{月度:%y%m}_新建"),
            ),
        ),
        "portfolios": RefTarget(
            name="portfolios",
            schema="",
            table="组合计划",
            key=("组合代码",),
            updatable=("组合名称", "组合类型", "年金计划号", "备注"),
            columns=(
                _R("组合代码", _A.KEY, source="组合代码"),
                _R("年金计划号", _A.FIRST, source="计划代码", warn_on_conflict=True),
                _R("组合名称", _A.FIRST, source="组合名称"),
                _R("组合类型", _A.FIRST, source="组合类型"),
                _R("备注", _A.TEMPLATE, template="{月度:%y%m}_新建"),
            ),
            after=("plans",),
        ),
    }
)
