"""Reverting one execute run: what to take back (``revert_plan``, reads only), then taking
exactly that back (``revert_apply``, writes only, inside the caller's transaction).

What a run wrote is in its audit record: the keys it inserted (:class:`~refs.models.RunKey`),
the cells it filled with their values (:class:`~refs.models.RunCell`), the fact rows it inserted
and deleted (:class:`~refs.models.FactArchive`). What has changed since is kept, and listed:

- an inserted key whose row is gone or was edited since (its ``xmin`` is no longer the run's),
  or that fact rows other than the run's still reference (those the revert restores included);
- a filled cell that no longer holds the value the run wrote;
- a key or fact scope a later execute run touched (unless that run was reverted itself);
- the fact rows of a scope whose inserted rows were edited or deleted since.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from facts.domain import domain_get
from refs.archive import (
    archive_restore,
    archived_references,
    keys_changed_since,
    referencing_facts,
    restore_sql,
    rows_changed_since,
)
from refs.models import ArchiveKind, BackfillRun, FactArchive, RunCell, RunKey, RunMode, RunStatus, reference_model
from wdh.config import Config, DomainConfig, RefTarget
from wdh.domain_choice import is_several
from wdh.errors import InputError, WdhError
from wdh.identifiers import quote_ident

REVERTIBLE = ("backfill_refs", "run_job")
CHUNK = 1000


class RevertDriftError(WdhError):
    """The warehouse changed between the revert's plan and its write (nothing is committed)."""


@dataclass(frozen=True)
class KeyRevert:
    target: str
    table: str
    key_column: str
    key: str


@dataclass(frozen=True)
class CellRevert:
    target: str
    table: str
    key_column: str
    key: str
    column: str
    value: str


@dataclass(frozen=True)
class ScopeRevert:
    table: str
    scope: dict[str, Any]
    delete: tuple[int, ...]  # ids of the fact rows the run inserted
    restore: int  # fact rows the run deleted, to put back


@dataclass(frozen=True)
class Kept:
    """Something the revert leaves as it is, and why."""

    what: str
    reason: str


@dataclass
class RevertPlan:
    run_id: int
    keys: list[KeyRevert] = field(default_factory=list)
    cells: list[CellRevert] = field(default_factory=list)
    scopes: list[ScopeRevert] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)

    @property
    def facts_deleted(self) -> int:
        return sum(len(scope.delete) for scope in self.scopes)

    @property
    def facts_restored(self) -> int:
        return sum(scope.restore for scope in self.scopes)

    @property
    def statements(self) -> list[str]:
        return revert_sql(self)


def revert_plan(run: BackfillRun, *, config: Config) -> RevertPlan:
    """What reverting ``run`` would do now. Reads the database; writes nothing. Raises
    :class:`~wdh.errors.InputError` for a run that cannot be reverted at all."""
    _require_revertible(run)
    domain = _domain(run, config)
    later = _later_runs(run)
    plan = RevertPlan(run_id=run.pk)
    _plan_facts(plan, run, later, facts=domain.facts.qualified)
    deleting = [i for scope in plan.scopes for i in scope.delete]
    for name in run.target_results.values_list("target", flat=True):
        target = _target(run, domain, name)
        _plan_keys(plan, run, target, later, domain=domain, config=config, deleting=deleting)
        _plan_cells(plan, run, target, later)
    return plan


def _require_revertible(run: BackfillRun) -> None:
    if run.command not in REVERTIBLE or run.mode != RunMode.EXECUTE or run.status != RunStatus.SUCCEEDED:
        raise InputError(
            f"run {run.pk} is a {run.command} {run.get_mode_display()} run that {run.get_status_display()}: "
            "only a succeeded execute run of backfill_refs or run_job wrote anything to revert"
        )
    done = run.reverts.filter(mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED).first()
    if done is not None:
        raise InputError(f"run {run.pk} was already reverted by run {done.pk}")


def _domain(run: BackfillRun, config: Config) -> DomainConfig:
    if is_several(run.domain):
        raise InputError(
            f"run {run.pk} processed several domains ({run.domain}) in one run: revert_run takes back "
            "a run of one domain only; correct the warehouse with a run per domain instead"
        )
    if run.domain not in config.domains:
        raise InputError(f"run {run.pk} ran domain {run.domain!r}, which the configuration no longer has")
    return config.domain(run.domain)


def _target(run: BackfillRun, domain: DomainConfig, name: str) -> RefTarget:
    recorded = run.target_results.get(target=name).table
    target = domain.refs.get(name)
    if target is None or target.qualified_name != recorded:
        now = target.qualified_name if target else "no such target"
        raise InputError(
            f"run {run.pk} wrote {name} to {recorded}; domains.{domain.name}.refs.{name} now names {now}: "
            "point the configuration back at that table to revert the run"
        )
    return target


def _later_runs(run: BackfillRun) -> QuerySet[BackfillRun]:
    """Execute runs after ``run`` that wrote the warehouse and were not reverted themselves."""
    reverted = BackfillRun.objects.filter(
        command="revert_run", mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED
    ).values("reverted_run")
    return BackfillRun.objects.filter(
        pk__gt=run.pk, command__in=REVERTIBLE, mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED
    ).exclude(pk__in=reverted)


def _later_reverts(run: BackfillRun) -> QuerySet[BackfillRun, int]:
    return BackfillRun.objects.filter(
        pk__gt=run.pk, command="revert_run", mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED
    ).values_list("pk", flat=True)


def _touched(later: QuerySet[BackfillRun], target: str, keys: Iterable[str]) -> dict[str, list[int]]:
    """Key → the later runs that inserted it or filled one of its cells."""
    keys = list(keys)
    found: dict[str, list[int]] = defaultdict(list)
    for model in (RunKey, RunCell):
        rows = model.objects.filter(run__in=later, target=target, key__in=keys).values_list("key", "run_id")
        for key, run_id in rows.distinct().order_by("run_id"):
            found[key].append(run_id)
    return found


def _runs(ids: Iterable[int]) -> str:
    return "later run(s) " + ", ".join(map(str, sorted(set(ids))))


def _plan_facts(plan: RevertPlan, run: BackfillRun, later: QuerySet[BackfillRun], *, facts: str) -> None:
    archived = FactArchive.objects.filter(run=run)
    elsewhere = archived.exclude(table=facts).values_list("table", flat=True).first()
    if elsewhere is not None:
        raise InputError(
            f"run {run.pk} loaded {elsewhere}; domains.{run.domain}.facts now names {facts}: "
            "point the configuration back at that table to revert the run"
        )
    scopes: dict[str, dict[str, Any]] = {}
    inserted: dict[str, list[int]] = defaultdict(list)
    deleted: dict[str, int] = defaultdict(int)
    entries = archived.values_list("kind", "fact_id", "fact_ids", "scope").order_by("id")
    for kind, fact_id, fact_ids, scope in entries.iterator(10_000):
        name = _scope_name(scope)
        scopes.setdefault(name, scope)
        if kind != ArchiveKind.INSERTED:  # the scope's rows, or (archived before migration 0010) one row
            deleted[name] += 1 if fact_ids is None else len(fact_ids)
        elif fact_ids is not None:  # the scope's ids
            inserted[name].extend(fact_ids)
        elif fact_id is not None:  # one row's id (archived before migration 0009)
            inserted[name].append(fact_id)
    if not scopes and (run.facts_inserted or run.facts_deleted):
        plan.kept.append(Kept("the run's fact load", "it ran before wdh kept a fact archive: it cannot be taken back"))
    changed = rows_changed_since(run_id=run.pk, table=facts, reverts=list(_later_reverts(run)))
    again: dict[str, list[int]] = defaultdict(list)
    for run_id, scope in (
        FactArchive.objects.filter(run__in=later, table=facts).values_list("run_id", "scope").distinct()
    ):
        again[_scope_name(scope)].append(run_id)
    for name, scope in scopes.items():
        what = f"facts {facts} scope {_scope_text(scope)}"
        edited = [i for i in inserted[name] if i in changed]
        if again[name]:
            plan.kept.append(Kept(what, f"loaded again by {_runs(again[name])}"))
        elif edited:
            plan.kept.append(Kept(what, f"{len(edited)} of its rows were edited or deleted since (ids {_ids(edited)})"))
        else:
            plan.scopes.append(ScopeRevert(facts, scope, tuple(sorted(inserted[name])), deleted[name]))


def _scope_name(scope: dict[str, Any]) -> str:
    return json.dumps(scope, sort_keys=True, ensure_ascii=False)


def _plan_keys(
    plan: RevertPlan,
    run: BackfillRun,
    target: RefTarget,
    later: QuerySet[BackfillRun],
    *,
    domain: DomainConfig,
    config: Config,
    deleting: list[int],
) -> None:
    key_column = target.key[0]
    keys = list(RunKey.objects.filter(run=run, target=target.name).values_list("key", flat=True).order_by("id"))
    if not keys:
        return
    changed = keys_changed_since(run_id=run.pk, target=target.name, table=target.qualified_name, key_column=key_column)
    touched = _touched(later, target.name, keys)
    references = _references(run, target, keys, domain=domain, config=config, deleting=deleting)
    for key in keys:
        what = f"{target.name} {key}"
        if key in touched:
            plan.kept.append(Kept(what, f"touched by {_runs(touched[key])}"))
        elif key in changed:
            plan.kept.append(Kept(what, changed[key]))
        elif references.get(key):
            plan.kept.append(Kept(what, f"still referenced by {references[key]} fact row(s) not of run {run.pk}"))
        else:
            plan.keys.append(KeyRevert(target.name, target.qualified_name, key_column, key))


def _references(
    run: BackfillRun, target: RefTarget, keys: list[str], *, domain: DomainConfig, config: Config, deleting: list[int]
) -> dict[str, int]:
    """Key → fact rows that would still hold it after the revert, in every domain's fact table
    whose configuration backfills this reference table."""
    counts: dict[str, int] = defaultdict(int)
    for other in config.domains.values():
        for candidate in other.refs.values():
            source = candidate.key_rule.source
            if candidate.qualified_name != target.qualified_name or source is None:
                continue
            table = other.facts.qualified
            own = table == domain.facts.qualified
            found = referencing_facts(table=table, column=source, keys=keys, excluding=deleting if own else [])
            if own:  # the rows the revert puts back reference their keys again
                restored = archived_references(run_id=run.pk, table=table, column=source, keys=keys)
                found = {key: found.get(key, 0) + restored.get(key, 0) for key in {*found, *restored}}
            for key, n in found.items():
                counts[key] += n
    return counts


def _plan_cells(plan: RevertPlan, run: BackfillRun, target: RefTarget, later: QuerySet[BackfillRun]) -> None:
    recorded = RunCell.objects.filter(run=run, target=target.name).order_by("id")
    cells = list(recorded.values_list("key", "column", "value"))
    if not cells:
        return
    key_column = target.key[0]
    columns = sorted({column for _, column, _ in cells})
    model = reference_model(target)
    current = {
        row[key_column]: row
        for start in range(0, len(cells), CHUNK)
        for row in model._default_manager.filter(pk__in={k for k, _, _ in cells[start : start + CHUNK]}).values(
            key_column, *columns
        )
    }
    touched = _touched(later, target.name, {key for key, _, _ in cells})
    for key, column, value in cells:
        what = f"{target.name} {key}.{column}"
        now = current.get(key, {}).get(column)
        if key in touched:
            plan.kept.append(Kept(what, f"touched by {_runs(touched[key])}"))
        elif key not in current:
            plan.kept.append(Kept(what, "its row is no longer in the table"))
        elif now is None or str(now) != value:
            plan.kept.append(Kept(what, f"now holds {now!r}, run {run.pk} wrote {value!r}"))
        else:
            plan.cells.append(CellRevert(target.name, target.qualified_name, key_column, key, column, value))


def revert_apply(plan: RevertPlan, *, config: Config, domain: str) -> None:
    """Take back exactly ``plan``: the fact rows the run inserted, then its reference keys (the
    last target first), its filled cells, then the fact rows it deleted. Writes the database;
    must run in the caller's transaction. Raises :class:`RevertDriftError` when a statement
    changes another number of rows than planned (the caller rolls back)."""
    for scope in plan.scopes:
        model = domain_get(domain).model_for(config.domain(domain).facts)
        for start in range(0, len(scope.delete), CHUNK):
            ids = scope.delete[start : start + CHUNK]
            _expect(model._default_manager.filter(pk__in=ids).delete()[0], len(ids), f"fact rows of {scope.table}")
    targets = {target.name: target for target in config.domain(domain).refs.values()}
    for name in reversed(list(dict.fromkeys(key.target for key in plan.keys))):
        keys = [key.key for key in plan.keys if key.target == name]
        model = reference_model(targets[name])
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            _expect(model._default_manager.filter(pk__in=chunk).delete()[0], len(chunk), f"{name} keys")
    for cell in plan.cells:
        model = reference_model(targets[cell.target])
        cleared = model._default_manager.filter(pk=cell.key, **{cell.column: cell.value}).update(**{cell.column: None})
        _expect(cleared, 1, f"{cell.target} {cell.key}.{cell.column}")
    for scope in plan.scopes:
        restored = archive_restore(run_id=plan.run_id, table=scope.table, scopes=[scope.scope])
        _expect(restored, scope.restore, f"restored fact rows of {scope.table}")


def _expect(count: int, planned: int, what: str) -> None:
    if count != planned:
        raise RevertDriftError(f"revert: {count} {what} changed, {planned} planned; nothing was committed")


def revert_sql(plan: RevertPlan) -> list[str]:
    """The statements ``revert_apply`` sends for ``plan`` (templates; values are bound). Pure."""
    statements = []
    for table in dict.fromkeys(scope.table for scope in plan.scopes):
        count = sum(len(scope.delete) for scope in plan.scopes if scope.table == table)
        statements.append(f'-- {count} fact row(s), {CHUNK} per statement\nDELETE FROM {table} WHERE "id" IN (…)')
    for table, column in dict.fromkeys((key.table, key.key_column) for key in reversed(plan.keys)):
        count = sum(1 for key in plan.keys if key.table == table)
        statements.append(
            f"-- {count} key(s), {CHUNK} per statement\nDELETE FROM {table} WHERE {quote_ident(column)} IN (…)"
        )
    for table, key, column in dict.fromkeys((cell.table, cell.key_column, cell.column) for cell in plan.cells):
        count = sum(1 for cell in plan.cells if (cell.table, cell.column) == (table, column))
        statements.append(
            f"-- {count} cell(s), one statement each\nUPDATE {table} SET {quote_ident(column)} = NULL "
            f"WHERE {quote_ident(key)} = %s AND {quote_ident(column)} = %s"
        )
    for table in dict.fromkeys(scope.table for scope in plan.scopes if scope.restore):
        count = sum(scope.restore for scope in plan.scopes if scope.table == table)
        statements.append(f"-- {count} fact row(s) put back, one statement per scope\n{restore_sql(table)}")
    return statements


def _scope_text(scope: dict[str, Any]) -> str:
    return ", ".join(f"{column}={value}" for column, value in scope.items())


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:10])) + (f" … (+{len(ids) - 10})" if len(ids) > 10 else "")
