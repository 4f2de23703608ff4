"""``data_sources.yml``: parsed once into the frozen, typed objects of :mod:`wdh.config_types`.

Every mistake is a :class:`~wdh.errors.ConfigError` carrying the key path
(``domains.annuity_performance.refs.plans.updatable[3]``) and what was expected. Nothing
downstream reads the raw YAML. The files are read as :mod:`wdh.config_files` allows (regular,
bounded, no repeated key; mapping files only from the configuration's folder or
``WDH_MAPPINGS_DIR``). Reads files only; never touches the database.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from django.conf import settings

from wdh.config_files import ConfigDocument, ConfigFileProblem, config_document_read
from wdh.config_nodes import ConfigNode, value_kind
from wdh.config_types import (
    DEFAULT_REFS,
    Aggregation,
    BranchTable,
    ColumnRule,
    ColumnType,
    Config,
    DomainConfig,
    FactsTable,
    Mappings,
    RefTarget,
    Selection,
    TableName,
)
from wdh.errors import ConfigError
from wdh.identifiers import identifier_problem
from wdh.target_order import targets_ordered

__all__ = [
    "DEFAULT_REFS",
    "Aggregation",
    "BranchTable",
    "ColumnRule",
    "ColumnType",
    "Config",
    "DomainConfig",
    "FactsTable",
    "Mappings",
    "RefTarget",
    "Selection",
    "TableName",
    "clear_config_cache",
    "get_config",
    "load_config",
]

_MAPPING_NAMES = tuple(Mappings.__dataclass_fields__)


def load_config(path: Path, *, data_base_dir: Path, mappings_dir: Path | None = None) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` naming the key path on any mistake.

    Mapping files must lie in ``path``'s folder or in ``mappings_dir`` (symbolic links resolved).
    """
    digest = hashlib.sha256()
    try:
        document = config_document_read(path, digest=digest, name_keys=True)
    except ConfigFileProblem as exc:
        raise ConfigError(exc.key_path or "(file)", exc.problem, source=str(path)) from None
    top = ConfigNode(document.data, "", str(path)).mapping(required=("domains",))
    folders = (path.parent, *((mappings_dir,) if mappings_dir else ()))
    domains = {
        name: _domain(node, name, folders, data_base_dir, digest) for name, node in top["domains"].entries().items()
    }
    return Config(path=path, digest=digest.hexdigest(), domains=MappingProxyType(domains))


def _domain(node: ConfigNode, name: str, folders: Sequence[Path], data_base_dir: Path, digest: Any) -> DomainConfig:
    keys = node.mapping(
        required=("base_dir", "file_patterns", "sheet", "facts", "mappings"),
        optional=("exclude_patterns", "select", "refs", "branches"),
    )
    base_dir = Path(keys["base_dir"].text())
    refs_node = keys.get("refs")
    refs = _refs(refs_node) if refs_node is not None else DEFAULT_REFS
    branches = _branches(keys["branches"], refs) if "branches" in keys else None
    return DomainConfig(
        name=name,
        base_dir=base_dir if base_dir.is_absolute() else data_base_dir / base_dir,
        file_patterns=keys["file_patterns"].texts(),
        exclude_patterns=keys["exclude_patterns"].texts(allow_empty=True) if "exclude_patterns" in keys else (),
        select=keys["select"].choice(Selection) if "select" in keys else Selection.LATEST_BY_YEAR_MONTH,
        sheet=keys["sheet"].text(),
        facts=_facts(keys["facts"]),
        branches=branches,
        mappings=_mappings(keys["mappings"], folders, digest),
        refs=MappingProxyType(refs),
        refs_defaulted=refs_node is None,
    )


def _facts(node: ConfigNode) -> FactsTable:
    keys = node.mapping(required=("table", "pk"), optional=("schema",))
    return FactsTable(
        schema=keys["schema"].identifier(allow_empty=True) if "schema" in keys else "",
        table=keys["table"].identifier(),
        pk=keys["pk"].identifiers(),
    )


def _branches(node: ConfigNode, refs: Mapping[str, RefTarget]) -> BranchTable:
    keys = node.mapping(required=("table",), optional=("schema", "name_column", "code_column"))
    defaults = BranchTable(schema="", table="")
    branches = BranchTable(
        schema=keys["schema"].identifier(allow_empty=True) if "schema" in keys else "",
        table=keys["table"].identifier(),
        name_column=keys["name_column"].identifier() if "name_column" in keys else defaults.name_column,
        code_column=keys["code_column"].identifier() if "code_column" in keys else defaults.code_column,
    )
    _check_branches(branches, node, keys, refs)
    return branches


def _check_branches(
    branches: BranchTable, node: ConfigNode, keys: dict[str, ConfigNode], refs: Mapping[str, RefTarget]
) -> None:
    """The branch lookup may read a table a target backfills (组织架构 is both): then its code
    column is that target's key and its name column one of the target's columns, so the rows the
    backfill inserts are the rows the lookup reads."""
    target = next((t for t in refs.values() if t.qualified_name == branches.qualified), None)
    if target is None:
        return
    columns = [rule.column for rule in target.columns] + [column for column, _ in target.other_columns]
    if branches.code_column != target.key[0]:
        raise keys.get("code_column", node).fail(
            f"{branches.code_column!r} is not the key of refs.{target.name}, which backfills the same table "
            f"(key: {target.key[0]})"
        )
    if branches.name_column not in columns:
        raise keys.get("name_column", node).fail(
            f"{branches.name_column!r} is not a column of refs.{target.name}, which backfills the same table "
            f"(columns: {', '.join(columns)})"
        )


def _mappings(node: ConfigNode, folders: Sequence[Path], digest: Any) -> Mappings:
    keys = node.mapping(required=_MAPPING_NAMES)
    loaded = {name: _mapping_file(keys[name], folders, digest) for name in _MAPPING_NAMES}
    return Mappings(**loaded)


def _mapping_file(node: ConfigNode, folders: Sequence[Path], digest: Any) -> Mapping[str, str]:
    """The ``{text: text}`` content of the mapping file ``node`` names (relative: to the
    configuration's folder). Its keys are data, so messages name lines, not keys."""
    path = Path(node.text())
    path = path if path.is_absolute() else folders[0] / path
    try:
        document = config_document_read(path, within=folders, digest=digest, name_keys=False)
    except ConfigFileProblem as exc:
        raise node.fail(f"mapping file {path} {exc.problem}") from None
    if document.data is None:
        return MappingProxyType({})
    if not isinstance(document.data, dict):
        raise node.fail(f"mapping file {path} must be a mapping of text to text, got {value_kind(document.data)}")
    return MappingProxyType(_mapping_entries(node, path, document))


def _mapping_entries(node: ConfigNode, path: Path, document: ConfigDocument) -> dict[str, str]:
    entries: dict[str, str] = {}
    for index, (key, value) in enumerate(document.data.items()):
        for part, item in (("key", key), ("value", value)):
            if not isinstance(item, str | int) or isinstance(item, bool) or not str(item).strip():
                problem = "is empty" if isinstance(item, str) else f"is {value_kind(item)}, not text"
                raise node.fail(f"mapping file {path}, {document.where(key, index)}: the {part} {problem}")
        entries[str(key)] = str(value)
    return entries


def _refs(node: ConfigNode) -> dict[str, RefTarget]:
    """The declared targets, in dependency order. ``plans`` / ``portfolios`` take the built-in
    rules for what they leave out; any other name declares its columns itself."""
    targets: dict[str, RefTarget] = {}
    after_nodes: dict[str, ConfigNode] = {}
    for name, target_node in node.entries().items():
        problem = identifier_problem(name)
        if problem:
            raise target_node.fail(f"a target name {problem}")
        targets[name] = _target(target_node, name, DEFAULT_REFS.get(name))
        after_nodes[name] = (
            target_node.child("after", target_node.value["after"]) if targets[name].after else target_node
        )
    return targets_ordered(targets, after_nodes)


def _target(node: ConfigNode, name: str, default: RefTarget | None) -> RefTarget:
    required = ("table", "key") if default else ("table", "key", "columns")
    optional = tuple(k for k in ("schema", "updatable", "columns", "after", "other_columns") if k not in required)
    keys = node.mapping(required=required, optional=optional)
    columns = _columns(keys["columns"]) if "columns" in keys else default.columns if default else ()
    updatable = keys["updatable"].identifiers() if "updatable" in keys else default.updatable if default else ()
    target = RefTarget(
        name=name,
        schema=keys["schema"].identifier(allow_empty=True) if "schema" in keys else "",
        table=keys["table"].identifier(),
        key=keys["key"].identifiers(),
        updatable=updatable,
        columns=columns,
        after=tuple(item.identifier() for item in keys["after"].items(allow_empty=True)) if "after" in keys else (),
        other_columns=_other_columns(keys["other_columns"], columns) if "other_columns" in keys else (),
    )
    _check_target(target, keys)
    return target


def _other_columns(node: ConfigNode, rules: tuple[ColumnRule, ...]) -> tuple[tuple[str, ColumnType], ...]:
    derived = {rule.column for rule in rules}
    other: list[tuple[str, ColumnType]] = []
    for column, type_node in node.entries().items():
        problem = identifier_problem(column)
        if problem:
            raise type_node.fail(problem)
        if column in derived:
            raise type_node.fail(f"{column!r} is derived under columns; list here only the columns no rule fills")
        other.append((column, type_node.choice(ColumnType)))
    return tuple(other)


def _check_target(target: RefTarget, keys: dict[str, ConfigNode]) -> None:
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


def _columns(node: ConfigNode) -> tuple[ColumnRule, ...]:
    rules = tuple(_column(column_node, column) for column, column_node in node.entries().items())
    return rules


def _column(node: ConfigNode, column: str) -> ColumnRule:
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


def _check_rule(rule: ColumnRule, node: ConfigNode, keys: dict[str, ConfigNode]) -> None:
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
def _cached_config(path: Path, data_base_dir: Path, mappings_dir: Path | None) -> Config:
    return load_config(path, data_base_dir=data_base_dir, mappings_dir=mappings_dir)


def get_config() -> Config:
    """The project's configuration, read once per process from ``settings.WDH_DATA_SOURCES``."""
    mappings_dir = getattr(settings, "WDH_MAPPINGS_DIR", None)
    return _cached_config(
        Path(settings.WDH_DATA_SOURCES),
        Path(settings.WDH_DATA_BASE_DIR),
        Path(mappings_dir) if mappings_dir else None,
    )


def clear_config_cache() -> None:
    """Forget the cached configuration (tests that point WDH_DATA_SOURCES elsewhere)."""
    _cached_config.cache_clear()
