"""Loading cleansed fact rows into ``规模明细`` (ANNUITY_PERFORMANCE.md §5).

``delete_insert`` first deletes the warehouse rows whose ``pk`` tuple (by default 月度, 业务类型,
计划类型: the month's refresh scope) occurs in the batch — chunked, at most 1000 tuples per
DELETE — then inserts the batch; ``append`` only inserts. The insert uses COPY: at 100,000
rows it is several times faster than any INSERT form, and the fact table has no conflict to
handle. Both run inside the run's transaction, after the reference backfill.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from django.apps import apps
from django.db import connection, models
from django.db.models import Count, Q

from facts.models import FACT_COLUMNS, AnnuityPerformance, AnnuityPerformanceColumns
from wdh.config import FactsTable
from wdh.postgres import copy_rows, require_table
from wdh.preflight import TableWrite

DELETE_CHUNK = 1000  # key tuples per DELETE statement
COPY_CHUNK = 50_000  # rows per COPY, so the CSV buffer stays small


class FactMode(enum.StrEnum):
    DELETE_INSERT = "delete_insert"
    APPEND = "append"


Scope = tuple[Any, ...]


@dataclass
class FactPlan:
    table: FactsTable
    mode: FactMode
    rows: Sequence[dict[str, Any]]
    scopes: list[Scope]  # distinct pk tuples of the batch (delete_insert)
    scope_counts: dict[Scope, int]  # warehouse rows per scope now (what delete would remove)
    statements: list[str] = field(default_factory=list)

    @property
    def to_delete(self) -> int:
        return sum(self.scope_counts.values())


class FactArchive(Protocol):
    """Where an execute run keeps the rows its load deletes and inserts, so it can be reverted
    (``refs.archive.RunArchive``). Each method returns the rows it kept; it must be all of them."""

    def keep_deleted(self, rows: models.QuerySet[Any]) -> int: ...

    def keep_inserted(self, rows: models.QuerySet[Any]) -> int: ...


@dataclass
class FactOutcome:
    table: str
    mode: FactMode
    planned: bool
    skipped: bool = False
    deleted: int = 0
    inserted: int = 0
    scopes: list[dict[str, Any]] = field(default_factory=list)  # pk values and rows deleted
    statements: list[str] = field(default_factory=list)


def fact_model(table: FactsTable) -> type[models.Model]:
    """The fact model bound to ``table`` (the static model when it is the configured one)."""
    if AnnuityPerformance._meta.db_table == table.qualified:
        return AnnuityPerformance
    name = "AnnuityPerformance_" + hashlib.sha256(table.qualified.encode()).hexdigest()[:12]
    try:
        return apps.get_model("facts", name)
    except LookupError:
        meta = type("Meta", (), {"managed": False, "db_table": table.qualified, "app_label": "facts"})
        return type(name, (AnnuityPerformanceColumns,), {"__module__": __name__, "Meta": meta})


def facts_validate(table: FactsTable, *, domain: str) -> None:
    require_table(table.qualified, [*FACT_COLUMNS, *table.pk], config_key=f"domains.{domain}.facts")


def _scope_filter(pk: Sequence[str], scopes: Sequence[Scope]) -> Q:
    # Q(field=None) is IS NULL, so a scope with an empty 业务类型 matches its rows too.
    return functools.reduce(operator.or_, (Q(**dict(zip(pk, scope, strict=True))) for scope in scopes))


def facts_plan(*, table: FactsTable, rows: Sequence[dict[str, Any]], mode: FactMode) -> FactPlan:
    """What loading ``rows`` would do now. Reads the database (row counts per scope)."""
    model = fact_model(table)
    scopes = list(dict.fromkeys(tuple(row[column] for column in table.pk) for row in rows))
    counts: dict[Scope, int] = {}
    if mode is FactMode.DELETE_INSERT:
        for start in range(0, len(scopes), DELETE_CHUNK):
            chunk = scopes[start : start + DELETE_CHUNK]
            grouped = model._default_manager.filter(_scope_filter(table.pk, chunk)).values(*table.pk)
            for entry in grouped.annotate(rows=Count("pk")).order_by():
                counts[tuple(entry[column] for column in table.pk)] = entry["rows"]
    plan = FactPlan(table=table, mode=mode, rows=rows, scopes=scopes, scope_counts=counts)
    plan.statements = facts_sql(plan)
    return plan


def facts_sql(plan: FactPlan) -> list[str]:
    """The statements ``facts_apply`` sends for ``plan``. Pure."""
    model = fact_model(plan.table)
    statements = []
    if plan.mode is FactMode.DELETE_INSERT and plan.scopes:
        query = model._default_manager.filter(_scope_filter(plan.table.pk, plan.scopes[:2])).query
        where, _ = query.get_compiler(connection=connection).compile(query.where)
        chunk_count = -(-len(plan.scopes) // DELETE_CHUNK)
        statements.append(
            f"-- {len(plan.scopes)} key scope(s) in {chunk_count} statement(s); first scopes shown; "
            "each chunk's rows are first copied whole to the run's fact archive (for revert_run)\n"
            f"DELETE FROM {plan.table.qualified} WHERE {where}"
        )
    columns = ", ".join(f'"{column}"' for column in FACT_COLUMNS)
    statements.append(f"-- {len(plan.rows)} rows\nCOPY {plan.table.qualified} ({columns}) FROM STDIN WITH (FORMAT csv)")
    return statements


ROW_LABEL = ("月度", "计划代码", "组合代码")  # how a fact row is named in a preflight message


def facts_write(plan: FactPlan) -> TableWrite:
    """What ``facts_apply`` would write for ``plan``, for the checks before the first write
    (:mod:`wdh.preflight`): the COPY's columns and rows, and whether it deletes first. Pure."""
    return TableWrite(
        table=plan.table.qualified,
        purpose="the fact load",
        columns=FACT_COLUMNS,
        rows=plan.rows,
        deletes=plan.mode is FactMode.DELETE_INSERT,
        label=ROW_LABEL,
    )


def plan_outcome(plan: FactPlan) -> FactOutcome:
    return FactOutcome(
        table=plan.table.qualified,
        mode=plan.mode,
        planned=True,
        deleted=plan.to_delete,
        inserted=len(plan.rows),
        scopes=_scope_report(plan, plan.scope_counts),
        statements=list(plan.statements),
    )


def facts_apply(plan: FactPlan, *, archive: FactArchive | None = None) -> FactOutcome:
    """Delete the batch's scopes (delete_insert) and COPY the rows in; with ``archive``, keep
    the rows deleted and inserted there first and after. Writes the database."""
    model = fact_model(plan.table)
    deleted: dict[Scope, int] = {}
    if plan.mode is FactMode.DELETE_INSERT:
        for start in range(0, len(plan.scopes), DELETE_CHUNK):
            chunk = plan.scopes[start : start + DELETE_CHUNK]
            rows = model._default_manager.filter(_scope_filter(plan.table.pk, chunk))
            kept = archive.keep_deleted(rows) if archive else None
            count, _ = rows.delete()
            _check_kept("deleted", kept, count)
            deleted[chunk[0]] = count  # per statement; the report below lists the plan's scopes
    inserted = 0
    for start in range(0, len(plan.rows), COPY_CHUNK):
        batch = plan.rows[start : start + COPY_CHUNK]
        # The values as they are: copy_rows writes str() of each, which PostgreSQL reads as the
        # same date and numeric as _text's isoformat() and format(…, "f") (``0E-4`` is 0.0000).
        inserted += copy_rows(plan.table.qualified, FACT_COLUMNS, map(operator.itemgetter(*FACT_COLUMNS), batch))
    if archive:
        kept = 0
        for start in range(0, len(plan.scopes), DELETE_CHUNK):
            chunk = plan.scopes[start : start + DELETE_CHUNK]
            kept += archive.keep_inserted(model._default_manager.filter(_scope_filter(plan.table.pk, chunk)))
        _check_kept("inserted", kept, inserted)
    return FactOutcome(
        table=plan.table.qualified,
        mode=plan.mode,
        planned=False,
        deleted=sum(deleted.values()),
        inserted=inserted,
        scopes=_scope_report(plan, plan.scope_counts),
        statements=list(plan.statements),
    )


def _check_kept(what: str, kept: int | None, count: int) -> None:
    # A row written by another session between the archive's statement and ours would escape
    # it: fail (the run rolls back) rather than commit a load revert_run cannot take back whole.
    if kept is not None and kept != count:
        raise RuntimeError(f"fact archive: {count} row(s) {what}, {kept} kept for revert_run; nothing was committed")


def _scope_report(plan: FactPlan, counts: dict[Scope, int]) -> list[dict[str, Any]]:
    return [
        {
            **{column: _text(value) for column, value in zip(plan.table.pk, scope, strict=True)},
            "rows": counts.get(scope, 0),
        }
        for scope in plan.scopes
    ]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def scope_text(scope: Scope) -> tuple[str | None, ...]:
    """A delete scope's pk values as text, as a saved plan keeps them."""
    return tuple(_text(value) for value in scope)


def fact_rows_digest(rows: Sequence[dict[str, Any]]) -> str:
    """SHA-256 of the rows' values in COPY order: equal digests, equal rows loaded. Pure."""
    digest = hashlib.sha256()
    values = operator.itemgetter(*FACT_COLUMNS)
    for start in range(0, len(rows), COPY_CHUNK):  # repr of str, Decimal, date and None is exact
        digest.update(repr(list(map(values, rows[start : start + COPY_CHUNK]))).encode())
    return digest.hexdigest()
