"""``data_sources.yml``: parsed once into frozen, typed objects.

Every mistake is a :class:`~wdh.errors.ConfigError` carrying the key path
(``domains.annuity_performance.refs.plans.updatable[3]``) and what was expected. Nothing
downstream reads the raw YAML. Reads files only; never touches the database.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from wdh.errors import ConfigError
from wdh.identifiers import identifier_problem, quote_qualified


class Aggregation(enum.StrEnum):
    """How a candidate column is derived from a group of fact rows (PRODUCT.md §6)."""

    KEY = "key"
    FIRST = "first"
    MOST_FREQUENT = "most_frequent"
    MAX_BY = "max_by"
    CONCAT_DISTINCT = "concat_distinct"
    TEMPLATE = "template"


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
    """One reference table to backfill (``refs.plans`` / ``refs.portfolios``)."""

    name: str
    schema: str
    table: str
    key: tuple[str, ...]
    updatable: tuple[str, ...]
    columns: tuple[ColumnRule, ...]

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
        """``plans`` / ``portfolios`` / ``all`` (plans first: portfolios reference plans)."""
        names = TARGET_ORDER if choice == "all" else (choice,)
        missing = [name for name in names if name not in self.refs]
        if missing:
            raise ConfigError(
                f"domains.{self.name}.refs",
                f"no target {missing[0]!r} is configured (configured: {', '.join(self.refs)})",
            )
        return tuple(self.refs[name] for name in names)


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


TARGET_ORDER = ("plans", "portfolios")

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
        ),
    }
)

_MAPPING_NAMES = tuple(Mappings.__dataclass_fields__)


class _Node:
    """A YAML value with its key path, so every error names where it is."""

    def __init__(self, value: Any, path: str, source: str) -> None:
        self.value = value
        self.path = path
        self.source = source

    def fail(self, problem: str) -> ConfigError:
        return ConfigError(self.path, problem, source=self.source)

    def child(self, key: str | int, value: Any) -> _Node:
        path = f"{self.path}[{key}]" if isinstance(key, int) else f"{self.path}.{key}".lstrip(".")
        return _Node(value, path, self.source)

    def mapping(self, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, _Node]:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected a mapping, got {_kind(self.value)}")
        allowed = required + optional
        for key in self.value:
            if key not in allowed:
                raise self.child(str(key), None).fail(f"unknown key (expected one of: {', '.join(allowed)})")
        for key in required:
            if key not in self.value:
                raise self.child(key, None).fail("required key is missing")
        return {str(key): self.child(str(key), value) for key, value in self.value.items()}

    def entries(self) -> dict[str, _Node]:
        """A mapping whose keys are names chosen by the user (domains, columns)."""
        if not isinstance(self.value, dict) or not self.value:
            raise self.fail(f"expected a non-empty mapping, got {_kind(self.value)}")
        return {str(key): self.child(str(key), value) for key, value in self.value.items()}

    def text(self, *, allow_empty: bool = False) -> str:
        if self.value is None and allow_empty:
            return ""
        if not isinstance(self.value, str | int) or isinstance(self.value, bool):
            raise self.fail(f"expected text, got {_kind(self.value)}")
        text = str(self.value)
        if not text.strip() and not allow_empty:
            raise self.fail("must not be empty")
        return text

    def identifier(self, *, allow_empty: bool = False) -> str:
        name = self.text(allow_empty=allow_empty)
        if name or not allow_empty:
            problem = identifier_problem(name)
            if problem:
                raise self.fail(problem)
        return name

    def items(self, *, allow_empty: bool = False) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {_kind(self.value)}")
        if not self.value and not allow_empty:
            raise self.fail("must not be an empty list")
        return [self.child(index, value) for index, value in enumerate(self.value)]

    def texts(self, *, allow_empty: bool = False) -> tuple[str, ...]:
        return tuple(item.text() for item in self.items(allow_empty=allow_empty))

    def identifiers(self) -> tuple[str, ...]:
        names = tuple(item.identifier() for item in self.items())
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise self.fail(f"{duplicate!r} is listed twice")
        return names

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, got {_kind(self.value)}")
        return self.value

    def choice(self, enum_type: type[enum.StrEnum]) -> Any:
        text = self.text()
        try:
            return enum_type(text)
        except ValueError:
            allowed = ", ".join(member.value for member in enum_type)
            raise self.fail(f"{text!r} is not one of: {allowed}") from None


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def load_config(path: Path, *, data_base_dir: Path) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` naming the key path on any mistake."""
    digest = hashlib.sha256()
    root = _Node(_read_yaml(path, digest), "", str(path))
    top = root.mapping(required=("domains",))
    domains = {
        name: _domain(node, name, path.parent, data_base_dir, digest) for name, node in top["domains"].entries().items()
    }
    return Config(path=path, digest=digest.hexdigest(), domains=MappingProxyType(domains))


def _read_yaml(path: Path, digest: Any) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read: {exc.strerror}", source=str(path)) from None
    digest.update(raw)
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("(file)", "is not UTF-8 text", source=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError("(file)", f"invalid YAML: {where}{problem}", source=str(path)) from None


def _domain(node: _Node, name: str, config_dir: Path, data_base_dir: Path, digest: Any) -> DomainConfig:
    keys = node.mapping(
        required=("base_dir", "file_patterns", "sheet", "facts", "mappings"),
        optional=("exclude_patterns", "select", "refs", "branches"),
    )
    base_dir = Path(keys["base_dir"].text())
    refs_node = keys.get("refs")
    refs = _refs(refs_node) if refs_node is not None else DEFAULT_REFS
    return DomainConfig(
        name=name,
        base_dir=base_dir if base_dir.is_absolute() else data_base_dir / base_dir,
        file_patterns=keys["file_patterns"].texts(),
        exclude_patterns=keys["exclude_patterns"].texts(allow_empty=True) if "exclude_patterns" in keys else (),
        select=keys["select"].choice(Selection) if "select" in keys else Selection.LATEST_BY_YEAR_MONTH,
        sheet=keys["sheet"].text(),
        facts=_facts(keys["facts"]),
        branches=_branches(keys["branches"]) if "branches" in keys else None,
        mappings=_mappings(keys["mappings"], config_dir, digest),
        refs=MappingProxyType(refs),
        refs_defaulted=refs_node is None,
    )


def _facts(node: _Node) -> FactsTable:
    keys = node.mapping(required=("table", "pk"), optional=("schema",))
    return FactsTable(
        schema=keys["schema"].identifier(allow_empty=True) if "schema" in keys else "",
        table=keys["table"].identifier(),
        pk=keys["pk"].identifiers(),
    )


def _branches(node: _Node) -> BranchTable:
    keys = node.mapping(required=("table",), optional=("schema", "name_column", "code_column"))
    defaults = BranchTable(schema="", table="")
    return BranchTable(
        schema=keys["schema"].identifier(allow_empty=True) if "schema" in keys else "",
        table=keys["table"].identifier(),
        name_column=keys["name_column"].identifier() if "name_column" in keys else defaults.name_column,
        code_column=keys["code_column"].identifier() if "code_column" in keys else defaults.code_column,
    )


def _mappings(node: _Node, config_dir: Path, digest: Any) -> Mappings:
    keys = node.mapping(required=_MAPPING_NAMES)
    loaded = {name: _mapping_file(keys[name], config_dir, digest) for name in _MAPPING_NAMES}
    return Mappings(**loaded)


def _mapping_file(node: _Node, config_dir: Path, digest: Any) -> Mapping[str, str]:
    path = Path(node.text())
    path = path if path.is_absolute() else config_dir / path
    try:
        content = _read_yaml(path, digest)
    except ConfigError as exc:
        raise node.fail(f"{path}: {exc.problem}") from None
    if content is None:
        return MappingProxyType({})
    data = _Node(content, node.path, str(path))
    entries = data.entries()
    return MappingProxyType({key: value.text() for key, value in entries.items()})


def _refs(node: _Node) -> dict[str, RefTarget]:
    targets: dict[str, RefTarget] = {}
    for name, target_node in node.entries().items():
        if name not in DEFAULT_REFS:
            raise target_node.fail(f"unknown target (expected one of: {', '.join(TARGET_ORDER)})")
        targets[name] = _target(target_node, DEFAULT_REFS[name])
    return targets


def _target(node: _Node, default: RefTarget) -> RefTarget:
    keys = node.mapping(required=("table", "key"), optional=("schema", "updatable", "columns"))
    columns = _columns(keys["columns"]) if "columns" in keys else default.columns
    target = RefTarget(
        name=default.name,
        schema=keys["schema"].identifier(allow_empty=True) if "schema" in keys else "",
        table=keys["table"].identifier(),
        key=keys["key"].identifiers(),
        updatable=keys["updatable"].identifiers() if "updatable" in keys else default.updatable,
        columns=columns,
    )
    _check_target(target, keys)
    return target


def _check_target(target: RefTarget, keys: dict[str, _Node]) -> None:
    derived = {rule.column for rule in target.columns}
    key_rules = [rule.column for rule in target.columns if rule.agg is Aggregation.KEY]
    if len(target.key) != 1:
        raise keys["key"].fail("exactly one key column is supported")
    if key_rules != list(target.key):
        raise keys["key"].fail(
            f"the key {target.key[0]!r} must be the one column derived with agg: key "
            f"(columns with agg key: {', '.join(key_rules) or 'none'})"
        )
    for index, column in enumerate(target.updatable):
        where = keys["updatable"].child(index, column) if "updatable" in keys else keys["key"]
        if column in target.key:
            raise where.fail(f"{column!r} is the key; the key is never updated")
        if column not in derived:
            raise where.fail(f"{column!r} has no derivation rule under columns (derived: {', '.join(sorted(derived))})")


def _columns(node: _Node) -> tuple[ColumnRule, ...]:
    rules = tuple(_column(column_node, column) for column, column_node in node.entries().items())
    return rules


def _column(node: _Node, column: str) -> ColumnRule:
    problem = identifier_problem(column)
    if problem:
        raise node.fail(problem)
    keys = node.mapping(
        required=("agg",),
        optional=("from", "weight", "separator", "template", "warn_on_conflict"),
    )
    agg = keys["agg"].choice(Aggregation)
    rule = ColumnRule(
        column=column,
        agg=agg,
        source=keys["from"].identifier() if "from" in keys else None,
        weight=keys["weight"].identifier() if "weight" in keys else None,
        separator=keys["separator"].text(allow_empty=True) if "separator" in keys else "+",
        template=keys["template"].text() if "template" in keys else None,
        warn_on_conflict=keys["warn_on_conflict"].boolean() if "warn_on_conflict" in keys else False,
    )
    _check_rule(rule, node, keys)
    return rule


def _check_rule(rule: ColumnRule, node: _Node, keys: dict[str, _Node]) -> None:
    needs_weight = rule.agg in {Aggregation.MAX_BY}
    if rule.agg is Aggregation.TEMPLATE:
        if rule.template is None:
            raise node.fail('agg template needs a template, e.g. "{月度:%y%m}_新建"')
        try:
            fields = rule.template_fields
        except ValueError as exc:
            raise keys["template"].fail(f"invalid template: {exc}") from None
        if not fields:
            raise keys["template"].fail("the template names no fact column in braces")
    elif rule.source is None:
        raise node.fail(f"agg {rule.agg.value} needs from: <fact column>")
    if needs_weight and rule.weight is None:
        raise node.fail(f"agg {rule.agg.value} needs weight: <numeric fact column>")
    if rule.warn_on_conflict and rule.agg is not Aggregation.FIRST:
        raise keys["warn_on_conflict"].fail("warn_on_conflict applies to agg first only")


@functools.cache
def _cached_config(path: Path, data_base_dir: Path) -> Config:
    return load_config(path, data_base_dir=data_base_dir)


def get_config() -> Config:
    """The project's configuration, read once per process from ``settings.WDH_DATA_SOURCES``."""
    from django.conf import settings

    return _cached_config(Path(settings.WDH_DATA_SOURCES), Path(settings.WDH_DATA_BASE_DIR))


def clear_config_cache() -> None:
    """Forget the cached configuration (tests that point WDH_DATA_SOURCES elsewhere)."""
    _cached_config.cache_clear()
