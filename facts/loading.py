"""Loading cleansed fact rows into a domain's fact table (ANNUITY_PERFORMANCE.md §5).

``delete_insert`` first deletes the warehouse rows whose ``pk`` tuple (by default 月度, 业务类型,
计划类型: the month's refresh scope) occurs in the batch — chunked, at most 1000 tuples per
DELETE — then inserts the batch; ``append`` only inserts. The rows were copied, as they were
cleansed, into the run's staging table (:mod:`facts.fact_staging`), so the insert is one
``INSERT … SELECT`` from it in the rows' order, on the server: no row passes through Python
again. Both run inside the run's transaction, after the reference backfill.
"""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from django.db import connection, models
from django.db.models import Count, Q

from facts.domain import Domain, domain_get
from facts.fact_staging import FactStaging
from wdh.config import FactsTable
from wdh.postgres import require_table
from wdh.preflight import TableWrite
from wdh.write_rows import StagedRows

DELETE_CHUNK = 1000  # key tuples per DELETE statement


class FactMode(enum.StrEnum):
    DELETE_INSERT = "delete_insert"
    APPEND = "append"


Scope = tuple[Any, ...]


@dataclass
class FactPlan:
    table: FactsTable
    domain: Domain
    mode: FactMode
    staging: FactStaging  # the rows to load, staged in order
    scopes: list[Scope]  # distinct pk tuples of the batch (delete_insert)
    scope_counts: dict[Scope, int]  # warehouse rows per scope now (what delete would remove)
    statements: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """The rows the load inserts."""
        return self.staging.rows

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


def fact_model(plan: FactPlan) -> type[models.Model]:
    """The fact model of ``plan``'s domain bound to its table."""
    return plan.domain.model_for(plan.table)


def facts_validate(table: FactsTable, *, domain: str) -> None:
    columns = domain_get(domain).fact_columns
    require_table(table.qualified, [*columns, *table.pk], config_key=f"domains.{domain}.facts")


def _scope_filter(pk: Sequence[str], scopes: Sequence[Scope]) -> Q:
    # Q(field=None) is IS NULL, so a scope with an empty 业务类型 matches its rows too.
    return functools.reduce(operator.or_, (Q(**dict(zip(pk, scope, strict=True))) for scope in scopes))


def facts_plan(
    *, table: FactsTable, staging: FactStaging, scopes: Sequence[Scope], mode: FactMode, domain: str
) -> FactPlan:
    """What loading the rows staged in ``staging`` (whose distinct delete scopes are ``scopes``,
    first seen first) of ``domain`` would do now. Reads the database (row counts per scope)."""
    sheet_type = domain_get(domain)
    model = sheet_type.model_for(table)
    scopes = list(scopes)
    counts: dict[Scope, int] = {}
    if mode is FactMode.DELETE_INSERT:
        for start in range(0, len(scopes), DELETE_CHUNK):
            chunk = scopes[start : start + DELETE_CHUNK]
            grouped = model._default_manager.filter(_scope_filter(table.pk, chunk)).values(*table.pk)
            for entry in grouped.annotate(rows=Count("pk")).order_by():
                counts[tuple(entry[column] for column in table.pk)] = entry["rows"]
    plan = FactPlan(table=table, domain=sheet_type, mode=mode, staging=staging, scopes=scopes, scope_counts=counts)
    plan.statements = facts_sql(plan)
    return plan


def facts_sql(plan: FactPlan) -> list[str]:
    """The statements ``facts_apply`` sends for ``plan``. Pure."""
    model = fact_model(plan)
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
    statements.append(
        f"-- {plan.rows} rows, copied as they were cleansed into the session's temporary staging table\n"
        + plan.staging.insert_statement(plan.table.qualified)
    )
    return statements


def facts_write(plan: FactPlan) -> TableWrite:
    """What ``facts_apply`` would write for ``plan``, for the checks before the first write
    (:mod:`wdh.preflight`): the INSERT's columns and the staging table holding its rows, and
    whether it deletes first. Pure."""
    return TableWrite(
        table=plan.table.qualified,
        purpose="the fact load",
        columns=plan.domain.fact_columns,
        staged=StagedRows(table=plan.staging.table, rows=plan.rows, types=plan.staging.types),
        deletes=plan.mode is FactMode.DELETE_INSERT,
        label=plan.domain.row_label,
    )


def plan_outcome(plan: FactPlan) -> FactOutcome:
    return FactOutcome(
        table=plan.table.qualified,
        mode=plan.mode,
        planned=True,
        deleted=plan.to_delete,
        inserted=plan.rows,
        scopes=_scope_report(plan, plan.scope_counts),
        statements=list(plan.statements),
    )


def facts_apply(plan: FactPlan, *, archive: FactArchive | None = None) -> FactOutcome:
    """Delete the batch's scopes (delete_insert) and insert the staged rows; with ``archive``,
    keep the rows deleted and inserted there first and after. Writes the database."""
    model = fact_model(plan)
    deleted: dict[Scope, int] = {}
    if plan.mode is FactMode.DELETE_INSERT:
        for start in range(0, len(plan.scopes), DELETE_CHUNK):
            chunk = plan.scopes[start : start + DELETE_CHUNK]
            rows = model._default_manager.filter(_scope_filter(plan.table.pk, chunk))
            kept = archive.keep_deleted(rows) if archive else None
            count, _ = rows.delete()
            _check_kept("deleted", kept, count)
            deleted[chunk[0]] = count  # per statement; the report below lists the plan's scopes
    inserted = plan.staging.load_into(plan.table.qualified)
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
