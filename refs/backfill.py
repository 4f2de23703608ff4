"""Reference backfill: plan what to write (read-only), then apply exactly that plan.

``backfill_plan`` reads the table and decides, per candidate, what an execute run would do now:
insert the keys that are absent (insert_missing) or fill the cells that are NULL in the table
and non-blank in the candidate (fill_null_only). Plan-only renders the plan; execute hands the
same plan to ``backfill_apply`` inside its transaction. Every count ``backfill_apply`` reports
comes from the database, and stays exact when other sessions write the table meanwhile:

- insert_missing: ``bulk_create(ignore_conflicts=True)`` (ON CONFLICT DO NOTHING waits for a
  concurrent inserter and then skips its key); the keys we really inserted are the rows whose
  ``xmin`` is our transaction.
- fill_null_only: the rows to fill are locked in one statement (SELECT … FOR UPDATE re-reads
  them after any concurrent update); then one NULL-guarded queryset update of the locked rows
  that still show a planned cell NULL sets every column to ``COALESCE(column, value)``, the
  values being those cells only; its row count must equal those rows, and the cells filled are
  those the locked rows showed NULL.

Reads, locks and fill updates are one statement per target (the keys go as one array); only the
INSERTs are chunked, ``chunk_size`` rows each.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import connection, models
from django.db.models import F
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery, UpdateQuery

from facts.cleansing import ReferenceLimit, widths_fit
from refs.derivation import Derivation, is_blank
from refs.fill_query import AnyOf, fill_update
from refs.insertion import Inserter, Row, insertion_write
from refs.models import reference_model
from wdh.config import Aggregation, RefTarget
from wdh.errors import InputError
from wdh.postgres import (
    keys_written_here,
    require_table,
    require_unique_index,
)
from wdh.preflight import TableWrite


class BackfillMode(enum.StrEnum):
    INSERT_MISSING = "insert_missing"
    FILL_NULL_ONLY = "fill_null_only"


Cell = tuple[str, str, str]
"""One cell of a reference table, a fill planned or done: ``(key, column, value)``. A plain tuple
of strings, which Python's garbage collector stops tracking at its first pass; a plan holds one
per NULL cell (51,000 for the benchmark's workbook), and as many instances of a class would stay
tracked and set off a full collection of the whole process during the fill."""


@dataclass
class BackfillPlan:
    """What backfilling one target would do against the table as it was read."""

    target: RefTarget
    mode: BackfillMode
    candidates: int
    present: int  # candidate keys found in the table
    inserts: list[Row]  # insert_missing: candidates whose key is absent
    fills: list[Cell]  # fill_null_only: NULL cells with a non-blank candidate value
    warnings: list[str]
    warning_details: list[str] = field(default_factory=list)  # the same warnings, every value named
    statements: list[str] = field(default_factory=list)
    _inserter: Inserter | None = field(default=None, repr=False, compare=False)

    @property
    def inserter(self) -> Inserter:
        """insert_missing's insert model, built once per plan (it reads the table's column
        defaults): the statements shown, the checks before the write and the INSERTs use the same."""
        if self._inserter is None:
            self._inserter = Inserter.of(self.target)
        return self._inserter


@dataclass
class TargetOutcome:
    """Counts of one target: what happened (execute) or would happen (plan-only)."""

    target: str
    table: str
    mode: BackfillMode
    planned: bool
    candidates: int
    inserted: int = 0
    already_present: int = 0
    absent: int = 0  # fill_null_only: candidates with no row to fill (never inserted)
    cells_filled: dict[str, int] = field(default_factory=dict)
    rows_changed: int = 0
    keys: list[str] = field(default_factory=list)  # inserted (or would be)
    cells: list[Cell] = field(default_factory=list)  # filled (or would be)
    warnings: list[str] = field(default_factory=list)
    warning_details: list[str] = field(default_factory=list)  # the same warnings, every value named
    statements: list[str] = field(default_factory=list)


def backfill_validate(target: RefTarget, mode: BackfillMode, *, domain: str) -> None:
    """Catalog checks before any write: table, columns, and (insert_missing) a unique key index."""
    config_key = f"domains.{domain}.refs.{target.name}"
    columns = [*target.key, *(rule.column for rule in target.columns)]
    require_table(target.qualified_name, dict.fromkeys(columns), config_key=config_key)
    if mode is BackfillMode.INSERT_MISSING:
        require_unique_index(target.qualified_name, target.key, config_key=f"{config_key}.key")


SINGLE_ROW = frozenset(
    {Aggregation.KEY, Aggregation.FIRST, Aggregation.FIRST_UNIQUE, Aggregation.MOST_FREQUENT, Aggregation.MAX_BY}
)


def reference_limits(targets: Iterable[RefTarget]) -> list[ReferenceLimit]:
    """The widths a fact row's values must fit because a reference column takes one row's value
    as it is. (Values built from several rows — concat_distinct, template — are checked per key
    by ``backfill_plan``.)"""
    limits = []
    for target in targets:
        widths = _widths(reference_model(target))
        for rule in target.columns:
            if rule.agg in SINGLE_ROW and rule.source and rule.column in widths:
                limits.append(ReferenceLimit(rule.source, f"{target.table}.{rule.column}", widths[rule.column]))
    return limits


def _widths(model: type[models.Model]) -> dict[str, int]:
    """``{column: max_length}`` of the model's columns that have a width."""
    widths: dict[str, int] = {}
    for model_field in model._meta.concrete_fields:
        if model_field.max_length:
            widths[model_field.column] = model_field.max_length
    return widths


def backfill_plan(*, derivation: Derivation, mode: BackfillMode, chunk_size: int) -> BackfillPlan:
    """Decide what to write for one target. Reads the database; writes nothing."""
    target = derivation.target
    model = reference_model(target)
    candidates = derivation.candidates
    _check_lengths(model, target, candidates)
    existing = _existing_rows(model, target, list(candidates), mode)
    plan = BackfillPlan(
        target=target,
        mode=mode,
        candidates=len(candidates),
        present=len(existing),
        inserts=[row for key, row in candidates.items() if key not in existing]
        if mode is BackfillMode.INSERT_MISSING
        else [],
        fills=_null_cells(target, candidates, existing) if mode is BackfillMode.FILL_NULL_ONLY else [],
        warnings=[warning.message for warning in derivation.warnings],
        warning_details=[warning.full for warning in derivation.warnings],
    )
    plan.statements = backfill_sql(plan, chunk_size=chunk_size)
    return plan


def _existing_rows(
    model: type[models.Model], target: RefTarget, keys: list[str], mode: BackfillMode
) -> dict[str, tuple[Any, ...]]:
    """``{key: (key, *updatable values)}`` of the candidate keys the table holds, read in one
    statement (the keys go as one array); insert_missing reads only whether the key is there."""
    if not keys:
        return {}
    queryset = model._default_manager.filter(AnyOf(F("pk"), keys))
    columns = target.updatable if mode is BackfillMode.FILL_NULL_ONLY else ()
    return {row[0]: row for row in queryset.values_list(target.key[0], *columns)}


def _null_cells(target: RefTarget, candidates: dict[str, Row], existing: dict[str, tuple[Any, ...]]) -> list[Cell]:
    cells = []
    updatable = target.updatable
    for key, current in existing.items():
        candidate = candidates[key]
        for column, value in zip(updatable, current[1:], strict=True):
            if value is None:
                derived = candidate.get(column)
                if not is_blank(derived):
                    cells.append((key, column, str(derived)))
    return cells


def _check_lengths(model: type[models.Model], target: RefTarget, candidates: dict[str, Row]) -> None:
    """A candidate value longer than its column is an input problem named by key and column,
    not a database error half-way through the run."""
    limits = _widths(model)
    first = next(iter(candidates.values()), {})
    if widths_fit(candidates.values(), [(column, limit) for column, limit in limits.items() if column in first]):
        return
    for key, row in candidates.items():
        for column, value in row.items():
            limit = limits.get(column)
            if limit is not None and value is not None and len(value) > limit:
                raise InputError(
                    f"{target.name} {key}: derived {column} = {value!r} is {len(value)} characters, "
                    f"longer than the column {target.qualified_name}.{column} allows ({limit}); "
                    "correct the source rows or the derivation rule in data_sources.yml"
                )


def plan_outcome(plan: BackfillPlan) -> TargetOutcome:
    """The plan as an outcome in the conditional: what an execute run would report now."""
    outcome = _outcome(plan, planned=True)
    if plan.mode is BackfillMode.INSERT_MISSING:
        outcome.keys = [str(row[plan.target.key[0]]) for row in plan.inserts]
        outcome.inserted = len(outcome.keys)
    else:
        outcome.cells = list(plan.fills)
    return _with_totals(outcome, plan)


def backfill_apply(plan: BackfillPlan, *, chunk_size: int) -> TargetOutcome:
    """Write ``plan``. Must run inside the run's transaction, with no savepoint around it."""
    outcome = _outcome(plan, planned=False)
    if plan.mode is BackfillMode.INSERT_MISSING:
        outcome.keys = _insert(plan, chunk_size)
        outcome.inserted = len(outcome.keys)
    else:
        outcome.cells = _fill(plan)
    return _with_totals(outcome, plan)


def _outcome(plan: BackfillPlan, *, planned: bool) -> TargetOutcome:
    return TargetOutcome(
        target=plan.target.name,
        table=plan.target.qualified_name,
        mode=plan.mode,
        planned=planned,
        candidates=plan.candidates,
        warnings=list(plan.warnings),
        warning_details=list(plan.warning_details),
        statements=list(plan.statements),
    )


def _with_totals(outcome: TargetOutcome, plan: BackfillPlan) -> TargetOutcome:
    if plan.mode is BackfillMode.INSERT_MISSING:
        outcome.already_present = plan.candidates - outcome.inserted
        outcome.rows_changed = outcome.inserted
        return outcome
    outcome.already_present = plan.present
    outcome.absent = plan.candidates - plan.present
    for _, column, _ in outcome.cells:
        outcome.cells_filled[column] = outcome.cells_filled.get(column, 0) + 1
    outcome.rows_changed = len({key for key, _, _ in outcome.cells})
    return outcome


def _insert(plan: BackfillPlan, chunk_size: int) -> list[str]:
    """One ``bulk_create(ignore_conflicts=True)`` in batches of ``chunk_size`` rows; then the keys
    whose rows carry our transaction id, asked once for every key (the run holds one transaction
    throughout)."""
    target = plan.target
    key = target.key[0]
    plan.inserter.insert(plan.inserts, batch_size=chunk_size)
    keys = [str(row[key]) for row in plan.inserts]
    inserted = set(keys_written_here(target.qualified_name, key, keys))
    return [k for k in keys if k in inserted]  # in the plan's order


def _fill(plan: BackfillPlan) -> list[Cell]:
    """Fill the planned cells that are still NULL; return them in the plan's order.

    Lock the planned rows in one statement (SELECT … FOR UPDATE re-reads them after any
    concurrent update), work out from the locked values exactly which planned cells are still
    NULL, then one NULL-guarded update of those rows sets each column to ``COALESCE(column,
    value)`` — the value is NULL where no cell of that row and column is still to fill, so a
    non-NULL cell and an unplanned NULL cell both keep their value. Every row updated is locked
    with a NULL cell to fill: the update's row count must be theirs."""
    target = plan.target
    model = reference_model(target)
    if not plan.fills:
        return []
    position = {column: index for index, column in enumerate(target.updatable, 1)}
    locked = {row[0]: row for row in _lock(model, target, list(dict.fromkeys(key for key, _, _ in plan.fills)))}
    todo = [  # the planned cells the locked rows still show NULL (a row deleted meanwhile is not locked)
        cell for cell in plan.fills if (row := locked.get(cell[0])) is not None and row[position[cell[1]]] is None
    ]
    if todo:
        values: dict[str, dict[str, str]] = {column: {} for column in target.updatable}  # column → key → value
        for key, column, value in todo:
            values[column][key] = value
        rows = list(dict.fromkeys(key for key, _, _ in todo))
        query, updates = fill_update(model, {column: cells for column, cells in values.items() if cells}, rows)
        changed = query.update(**updates)
        if changed != len(rows):  # the rows are locked with a NULL cell: anything else is a bug, not a race
            raise RuntimeError(f"fill: updated {changed} rows, {len(rows)} locked rows had NULL cells to fill")
    return todo


def _lock(model: type[models.Model], target: RefTarget, keys: list[str]) -> models.QuerySet[Any, tuple[Any, ...]]:
    """The rows of ``keys`` locked for update: ``(key, *updatable values)``."""
    queryset = model._default_manager.select_for_update().filter(AnyOf(F("pk"), keys))
    return queryset.values_list(target.key[0], *target.updatable)


def backfill_write(plan: BackfillPlan) -> TableWrite:
    """What ``backfill_apply`` would write for ``plan``, for the checks before the first write
    (:mod:`wdh.preflight`): the INSERT's columns and values, or the values the fill may set."""
    target = plan.target
    if plan.mode is BackfillMode.INSERT_MISSING:
        return insertion_write(target, plan.inserts, plan.inserter if plan.inserts else None)
    updates: dict[str, list[str]] = {}
    for _, column, value in plan.fills:
        updates.setdefault(column, []).append(value)
    return TableWrite(table=target.qualified_name, purpose=f"the {target.name} backfill", updates=updates)


def backfill_sql(plan: BackfillPlan, *, chunk_size: int) -> list[str]:
    """The statements ``backfill_apply`` sends for ``plan``, as Django compiles them (first chunk
    shown; the placeholders are bound values). Pure: compiles, never executes."""
    if plan.mode is BackfillMode.INSERT_MISSING:
        if not plan.inserts:
            return []
        return _inserts_sql(plan, chunk_size)
    return _fill_sql(plan)


def _inserts_sql(plan: BackfillPlan, chunk_size: int) -> list[str]:
    """One template for the chunks of ``chunk_size`` rows, and one for the last chunk when Django
    compiles it differently (a single row is a VALUES list, several rows an UNNEST of arrays)."""
    insert = plan.inserter
    rows = len(plan.inserts)
    chunk_count = -(-rows // chunk_size)
    last = rows - (chunk_count - 1) * chunk_size
    full = _chunk_sql(insert, plan.inserts[:chunk_size])
    tail = _chunk_sql(insert, plan.inserts[-last:])
    if tail == full:
        return [f"-- {rows} rows in {chunk_count} chunk(s)\n{full}"]
    return [
        f"-- {rows - last} rows in {chunk_count - 1} chunk(s) of {chunk_size}\n{full}",
        f"-- the last {last} row(s) in 1 chunk(s)\n{tail}",
    ]


def _chunk_sql(insert: Inserter, rows: Sequence[Row]) -> str:
    """The INSERT of one chunk of ``rows``. An UNNEST of arrays reads the same whatever the number
    of rows (two or more), so two rows stand for the chunk then; a VALUES list is compiled whole."""
    if len(rows) > 2:
        pair = _insert_sql(insert.model, insert.objects(rows[:2]))
        if "FROM UNNEST(" in pair:
            return pair
    return _insert_sql(insert.model, insert.objects(rows))


def _insert_sql(model: type[models.Model], objs: list[models.Model]) -> str:
    fields = [field for field in model._meta.concrete_fields]
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, objs, raw=False)
    compiled = query.get_compiler(connection=connection).as_sql()
    return str(compiled[0][0])


def _fill_sql(plan: BackfillPlan) -> list[str]:
    target = plan.target
    if not plan.fills:
        return []
    model = reference_model(target)
    keys = list(dict.fromkeys(key for key, _, _ in plan.fills))
    filled = {column: {key: value} for key, column, value in plan.fills}  # one value per column stands for all
    queryset, values = fill_update(model, {c: filled[c] for c in target.updatable if c in filled}, keys[:1])
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
    query.add_update_values(values)
    counts = ", ".join(f"{c} {n}" for c, n in collections.Counter(column for _, column, _ in plan.fills).items())
    lock = _lock(model, target, keys[:1])
    return [
        f"-- lock the {len(keys)} row(s) to fill in 1 statement(s)\n"
        f"{lock.query.get_compiler(connection=connection).as_sql()[0]}",
        f"-- fill {len(plan.fills)} NULL cell(s) in {len(keys)} row(s) ({counts}) in 1 statement(s), "
        "setting the columns with a cell still NULL\n"
        f"{query.get_compiler(connection=connection).as_sql()[0]}",
    ]


def backfill_keys(outcomes: Iterable[TargetOutcome]) -> int:
    return sum(len(outcome.keys) for outcome in outcomes)
