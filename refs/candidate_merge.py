"""Merging one target's candidates derived by several domains (a multi-domain run, README
"The whole workbook in one run"), so that each reference table is planned and written once.

The precedence, deterministic and the same for every target:

- the domains are taken in the order the configuration declares them;
- a key appears once, where it was first seen (the first domain's keys first, in their order);
- a column derived from one value per key (``key``, ``first``, ``most_frequent``, ``max_by``,
  ``template``) takes the first non-blank value in domain order; when a later domain derived a
  different non-blank value, the key gets a warning naming both (the first one is kept);
- a column that aggregates the key's whole group (``concat_distinct``, ``count_distinct``) is
  computed over the union of the domains' distinct values, as if the groups were one.

Each domain derives its candidates with its own rules (its weights, its source columns); a
target merged across domains must be declared alike by each (the same table, key, columns,
updatable columns and dependencies): :func:`target_differences` says where not. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from refs.derivation import Derivation, DerivationWarning, is_blank
from wdh.config import Aggregation, RefTarget

_GROUP_AGGREGATIONS = frozenset({Aggregation.CONCAT_DISTINCT, Aggregation.COUNT_DISTINCT})


@dataclass(frozen=True)
class DomainDerivation:
    """One domain's candidates for a target."""

    domain: str
    derivation: Derivation


def _shape(target: RefTarget) -> tuple[object, ...]:
    return (
        target.qualified_name,
        target.key,
        tuple(rule.column for rule in target.columns),
        target.updatable,
        target.after,
    )


def target_differences(declared: Sequence[tuple[str, RefTarget]]) -> list[tuple[str, str]]:
    """``(config key path, problem)`` for each domain's target of one name declared otherwise than
    the first domain's, or a table two differently named targets write. Pure."""
    problems: list[tuple[str, str]] = []
    first: dict[str, tuple[str, RefTarget]] = {}
    tables: dict[str, tuple[str, str]] = {}
    for domain, target in declared:
        path = f"domains.{domain}.refs.{target.name}"
        if target.name in first:
            other_domain, other = first[target.name]
            if _shape(target) != _shape(other):
                problems.append(
                    (
                        path,
                        f"differs from domains.{other_domain}.refs.{target.name} (table, key, columns, updatable "
                        "or after): a run of several domains writes each reference table once and merges "
                        "their candidates only for a target every domain declares alike",
                    )
                )
            continue
        first[target.name] = (domain, target)
        table = target.qualified_name
        if table in tables and tables[table][1] != target.name:
            other_domain, other_name = tables[table]
            problems.append(
                (path, f"writes {table}, which domains.{other_domain}.refs.{other_name} writes under another name")
            )
        tables.setdefault(table, (domain, target.name))
    return problems


def candidates_merged(parts: Sequence[DomainDerivation], *, shared: Collection[str] = ()) -> Derivation:
    """One derivation of the target from the domains' own, by the module's precedence. Pure.
    The target (its rules, for joining group columns) is the first domain's. A key of ``shared``
    (keys the configuration means to be shared, refs.conflicts.expected_shared) gets no warning
    for a disagreement: its own summary already says it is shared."""
    if len(parts) == 1:
        return parts[0].derivation
    target = parts[0].derivation.target
    group_rules = {rule.column: rule for rule in target.columns if rule.agg in _GROUP_AGGREGATIONS}
    candidates: dict[str, dict[str, str | None]] = {}
    origin: dict[tuple[str, str], str] = {}  # (key, column) → the domain whose value was kept
    warnings: list[DerivationWarning] = [w for part in parts for w in part.derivation.warnings]
    for part in parts:
        for key, candidate in part.derivation.candidates.items():
            merged = candidates.setdefault(key, dict.fromkeys(candidate))
            differing: list[tuple[str, str, str | None, str | None]] = []  # column, kept's domain, kept, other
            for column, value in candidate.items():
                if column in group_rules or is_blank(value):
                    continue
                kept = merged.get(column)
                if is_blank(kept):
                    merged[column] = value
                    origin[key, column] = part.domain
                elif kept != value:
                    differing.append((column, origin[key, column], kept, value))
            if differing and key not in shared:
                warnings.append(_disagreement(target, key, part.domain, differing))
    for column, rule in group_rules.items():
        for key, merged in candidates.items():
            values = frozenset().union(*(part.derivation.distinct.get(key, {}).get(column, ()) for part in parts))
            if rule.agg is Aggregation.COUNT_DISTINCT:
                merged[column] = str(len(values))
            else:
                merged[column] = rule.separator.join(sorted(values)) if values else None
    return Derivation(
        target=target,
        candidates=candidates,
        warnings=tuple(warnings),
        rows_seen=sum(part.derivation.rows_seen for part in parts),
        rows_without_key=sum(part.derivation.rows_without_key for part in parts),
    )


def _disagreement(
    target: RefTarget, key: str, domain: str, differing: list[tuple[str, str, str | None, str | None]]
) -> DerivationWarning:
    """One warning per key and later domain, naming each column it derived otherwise."""
    columns = "; ".join(
        f"{column} {kept!r} (from {kept_from}) kept, not {other!r}" for column, kept_from, kept, other in differing
    )
    message = f"{target.name} {key}: {domain} derives other values — {columns} (the first configured domain wins)"
    values = tuple(str(other) for *_, other in differing)
    return DerivationWarning(target.name, key, ", ".join(column for column, *_ in differing), values, message)
