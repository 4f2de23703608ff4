"""Reference backfill: plan what to write (read-only), then apply exactly that plan.

``backfill_plan`` reads the table and decides, per candidate, what an execute run would do now:
insert the keys that are absent (insert_missing) or fill the cells that are NULL in the table
and non-blank in the candidate (fill_null_only). Plan-only renders the plan; execute hands the
same plan to ``backfill_apply`` inside its transaction. Every count ``backfill_apply`` reports
comes from the database, and stays exact when other sessions write the table meanwhile:

- insert_missing: ``bulk_create(ignore_conflicts=True)`` (ON CONFLICT DO NOTHING waits for a
  concurrent inserter and then skips its key); the keys we really inserted are the rows whose
  ``xmin`` is our transaction.
- fill_null_only: the rows to fill are locked (SELECT … FOR UPDATE re-reads them after any
  concurrent update), then one NULL-guarded queryset update per chunk sets every column to
  ``COALESCE(column, staged value)``; its row count must equal the locked rows with NULL cells
  to fill, and the cells filled are those the locked rows showed NULL.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable, Iterator, Sequence
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
from refs.staging import stage_model, stage_table_name, stage_write
from wdh.config import Aggregation, RefTarget
from wdh.errors import InputError
from wdh.identifiers import quote_qualified
from wdh.postgres import (
    keys_written_here,
    require_table,
    require_unique_index,
)
from wdh.preflight import TableWrite


class BackfillMode(enum.StrEnum):
    INSERT_MISSING = "insert_missing"
    FILL_NULL_ONLY = "fill_null_only"


@dataclass(frozen=True)
class Cell:
    key: str
    column: str
    value: str


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


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
    existing = dict(_existing_rows(model, target, list(candidates), chunk_size, mode))
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
    model: type[models.Model], target: RefTarget, keys: list[str], chunk_size: int, mode: BackfillMode
) -> Iterator[tuple[str, dict[str, Any]]]:
    key = target.key[0]
    for chunk in chunks(keys, chunk_size):
        queryset = model._default_manager.filter(AnyOf(F("pk"), chunk))
        if mode is BackfillMode.FILL_NULL_ONLY:
            for row in queryset.values(key, *target.updatable):
                yield row[key], row
        else:  # only whether the key is there
            for present in queryset.values_list(key, flat=True):
                yield present, {}


def _null_cells(target: RefTarget, candidates: dict[str, Row], existing: dict[str, dict[str, Any]]) -> list[Cell]:
    cells = []
    updatable = target.updatable
    for key, current in existing.items():
        candidate = candidates[key]
        for column in updatable:
            if current[column] is None:
                value = candidate.get(column)
                if not is_blank(value):
                    cells.append(Cell(key, column, str(value)))
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
        outcome.cells = _fill(plan, chunk_size)
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
    for cell in outcome.cells:
        outcome.cells_filled[cell.column] = outcome.cells_filled.get(cell.column, 0) + 1
    outcome.rows_changed = len({cell.key for cell in outcome.cells})
    return outcome


def _insert(plan: BackfillPlan, chunk_size: int) -> list[str]:
    """One ``bulk_create(ignore_conflicts=True)`` per chunk; then the keys whose rows carry our
    transaction id, asked once for every key (the run holds one transaction throughout)."""
    target = plan.target
    key = target.key[0]
    insert = Inserter.of(target)
    for chunk in chunks(plan.inserts, chunk_size):
        insert.model._default_manager.bulk_create(insert.objects(chunk), ignore_conflicts=True)
    keys = [str(row[key]) for row in plan.inserts]
    inserted = set(keys_written_here(target.qualified_name, key, keys))
    return [k for k in keys if k in inserted]  # in the plan's order


def _fill(plan: BackfillPlan, chunk_size: int) -> list[Cell]:
    """Fill the planned cells that are still NULL; return them in the plan's order.

    Per chunk of keys: lock the rows (SELECT … FOR UPDATE re-reads them after any concurrent
    update), work out from the locked values exactly which planned cells are still NULL, then
    one NULL-guarded update of those rows sets each column to ``COALESCE(column, staged value)``
    — the staged value is NULL where no cell of that row and column is planned, so a non-NULL
    cell and an unplanned NULL cell both keep their value."""
    target = plan.target
    model = reference_model(target)
    key = target.key[0]
    stage = _stage(plan)
    planned: dict[str, list[str]] = {}  # key → planned columns, in the plan's key order
    for cell in plan.fills:
        planned.setdefault(cell.key, []).append(cell.column)
    done: set[tuple[str, str]] = set()
    for chunk in chunks(list(planned), chunk_size):
        locked = model._default_manager.select_for_update().filter(AnyOf(F("pk"), chunk)).values(key, *target.updatable)
        rows: list[str] = []
        columns: set[str] = set()
        for row in locked:
            todo = [column for column in planned[row[key]] if row[column] is None]
            if todo:
                rows.append(row[key])
                columns.update(todo)
                done.update((row[key], column) for column in todo)
        if rows:
            query, values = fill_update(model, stage, [c for c in target.updatable if c in columns], rows)
            changed = query.update(**values)
            if changed != len(rows):  # the rows are locked with a NULL cell: anything else is a bug, not a race
                raise RuntimeError(f"fill: updated {changed} rows, {len(rows)} locked rows had NULL cells to fill")
    return [cell for cell in plan.fills if (cell.key, cell.column) in done]


def _stage(plan: BackfillPlan) -> type[models.Model]:
    """Copy the planned cells into a temporary table the updates read their values from."""
    values: dict[str, dict[str, str]] = {}
    for cell in plan.fills:
        values.setdefault(cell.key, {})[cell.column] = cell.value
    return stage_write(plan.target, values)


def backfill_write(plan: BackfillPlan) -> TableWrite:
    """What ``backfill_apply`` would write for ``plan``, for the checks before the first write
    (:mod:`wdh.preflight`): the INSERT's columns and values, or the values the fill may set."""
    target = plan.target
    if plan.mode is BackfillMode.INSERT_MISSING:
        return insertion_write(target, plan.inserts)
    updates: dict[str, list[str]] = {}
    for cell in plan.fills:
        updates.setdefault(cell.column, []).append(cell.value)
    return TableWrite(
        table=target.qualified_name, purpose=f"the {target.name} backfill", updates=updates, stages=bool(plan.fills)
    )


def backfill_sql(plan: BackfillPlan, *, chunk_size: int) -> list[str]:
    """The statements ``backfill_apply`` sends for ``plan``, as Django compiles them (first chunk
    shown; the placeholders are bound values). Pure: compiles, never executes."""
    target = plan.target
    model = reference_model(target)
    if plan.mode is BackfillMode.INSERT_MISSING:
        if not plan.inserts:
            return []
        return _inserts_sql(plan, chunk_size)
    return _fill_sql(plan, model, chunk_size)


def _inserts_sql(plan: BackfillPlan, chunk_size: int) -> list[str]:
    """One template for the chunks of ``chunk_size`` rows, and one for the last chunk when Django
    compiles it differently (a single row is a VALUES list, several rows an UNNEST of arrays)."""
    insert = Inserter.of(plan.target)
    rows = len(plan.inserts)
    chunk_count = -(-rows // chunk_size)
    last = rows - (chunk_count - 1) * chunk_size
    full = _insert_sql(insert.model, insert.objects(plan.inserts[:chunk_size]))
    tail = _insert_sql(insert.model, insert.objects(plan.inserts[-last:]))
    if tail == full:
        return [f"-- {rows} rows in {chunk_count} chunk(s)\n{full}"]
    return [
        f"-- {rows - last} rows in {chunk_count - 1} chunk(s) of {chunk_size}\n{full}",
        f"-- the last {last} row(s) in 1 chunk(s)\n{tail}",
    ]


def _insert_sql(model: type[models.Model], objs: list[models.Model]) -> str:
    fields = [field for field in model._meta.concrete_fields]
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, objs, raw=False)
    compiled = query.get_compiler(connection=connection).as_sql()
    return str(compiled[0][0])


def _fill_sql(plan: BackfillPlan, model: type[models.Model], chunk_size: int) -> list[str]:
    target = plan.target
    key = target.key[0]
    if not plan.fills:
        return []
    stage = stage_model(target, quote_qualified("pg_temp", stage_table_name(target)), [key, *target.updatable])
    keys = list(dict.fromkeys(cell.key for cell in plan.fills))
    filled = {cell.column for cell in plan.fills}
    queryset, values = fill_update(model, stage, [c for c in target.updatable if c in filled], keys[:1])
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
    query.add_update_values(values)
    counts = ", ".join(f"{c} {n}" for c, n in collections.Counter(cell.column for cell in plan.fills).items())
    chunk_count = -(-len(keys) // chunk_size)
    lock = model._default_manager.select_for_update().filter(AnyOf(F("pk"), keys[:1])).values(key, *target.updatable)
    return [
        f"-- stage {len(keys)} candidate rows: CREATE TEMPORARY TABLE "
        f'"wdh_stage_{target.name}" … ON COMMIT DROP; COPY … FROM STDIN',
        f"-- lock the {len(keys)} row(s) to fill in {chunk_count} chunk(s)\n"
        f"{lock.query.get_compiler(connection=connection).as_sql()[0]}",
        f"-- fill {len(plan.fills)} NULL cell(s) in {len(keys)} row(s) ({counts}) in {chunk_count} chunk(s), "
        "one statement per chunk of rows with a cell still NULL, setting the columns planned in that chunk\n"
        f"{query.get_compiler(connection=connection).as_sql()[0]}",
    ]


def backfill_keys(outcomes: Iterable[TargetOutcome]) -> int:
    return sum(len(outcome.keys) for outcome in outcomes)
