"""The checks a run passes before its first write: everything the database would otherwise
refuse half-way through execute, found while nothing is written yet.

Plan-only and execute run the same checks (plan-only's "planned" is a promise execute can
keep), in two steps:

- ``preflight_reads``, before anything is read: USAGE on each schema and SELECT on each table
  the run reads (without them even the plan's reads fail with "permission denied").
- ``preflight_writes``, once the plans are built: for each table in the order the run writes
  it, the privileges its statements need (INSERT / UPDATE on the very columns, DELETE; the
  TEMPORARY privilege the fact load's staging table needs is checked when the reading creates
  it, facts/fact_staging.py); that every column written exists; that no NOT NULL column
  is left out without a default or written as NULL; and each foreign key of the table against
  the keys the rows carry, less those an earlier write of the same run inserts.

Every problem is collected, so one run lists all of them; :class:`PreflightError` carries them
(exit 2, nothing written). Reads the catalog and the referenced tables; writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wdh import catalog
from wdh.catalog import ForeignKey
from wdh.config import DomainConfig, RefTarget
from wdh.errors import SchemaError
from wdh.identifiers import quote_ident
from wdh.write_rows import SAMPLE, ListedRows, StagedRows, WriteRows


class PreflightError(SchemaError):
    """The database would refuse the run's statements; ``problems`` says each and its fix."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"the database would refuse this run's writes ({len(self.problems)} problem(s)); execute "
            f"refuses them before writing anything. Fix them and run again:\n{listed}"
        )


@dataclass(frozen=True)
class TableRead:
    """A table the run reads, and why (named in the messages)."""

    schema: str  # empty: resolved by search_path
    table: str  # quoted, schema-qualified
    purpose: str


@dataclass(frozen=True)
class TableWrite:
    """What one step of the run writes into one table, in the form the checks need.

    ``columns`` is the column list the INSERT (or COPY) names, ``rows`` the values it sends
    for them — or ``staged``, the session's staging table that holds them (the fact load: the
    checks then run in SQL) — ``updates`` the values an UPDATE may set per column. ``label``
    names the columns that identify a row in a message.
    """

    table: str  # quoted, schema-qualified
    purpose: str  # e.g. "the plans backfill"
    columns: tuple[str, ...] = ()
    rows: Sequence[Mapping[str, Any]] = ()
    staged: StagedRows | None = None
    updates: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    deletes: bool = False
    label: tuple[str, ...] = ()

    @property
    def sent(self) -> WriteRows:
        """The rows the write sends, wherever they are."""
        return self.staged if self.staged is not None else ListedRows(self.rows)


def domain_reads(domain: DomainConfig, *, targets: Sequence[RefTarget], facts: bool) -> list[TableRead]:
    """The tables a run of ``domain`` reads before it writes: the lookups the cleansing consults
    (the plans table's company ids, the branch table), the ``targets`` to backfill, and the fact
    table when ``facts`` (delete_insert counts the rows of its scopes)."""
    reads = [TableRead(t.schema, t.qualified_name, f"the {t.name} backfill") for t in targets]
    plans = domain.refs.get("plans")
    if plans is not None:
        reads.append(TableRead(plans.schema, plans.qualified_name, "the cleansing (company ids by plan)"))
    if domain.branches is not None:
        reads.append(TableRead(domain.branches.schema, domain.branches.qualified, "the cleansing (branch codes)"))
    if facts:
        reads.append(TableRead(domain.facts.schema, domain.facts.qualified, "the fact load (delete_insert)"))
    return reads


def preflight_reads(reads: Iterable[TableRead]) -> None:
    """Raise :class:`PreflightError` unless the session may read every table of ``reads``.

    A schema or table that does not exist is left to the table checks, which name the
    configuration key to fix. Reads the catalog only."""
    problems: list[str] = []
    unique: dict[str, TableRead] = {}
    for read in reads:
        unique.setdefault(read.table, read)  # a table read for several purposes is named once
    for read in unique.values():
        if read.schema and catalog.schema_usable(read.schema) is False:
            problems.append(
                f"no USAGE privilege on the schema {quote_ident(read.schema)}, which {read.purpose} reads; "
                f"GRANT USAGE ON SCHEMA {quote_ident(read.schema)} TO <the role wdh connects as>"
            )
            continue
        oid = catalog.relation_oid(read.table)
        if oid is not None and not catalog.table_privileged(oid, "SELECT"):
            problems.append(
                f"no SELECT privilege on {read.table}, which {read.purpose} reads; "
                f"GRANT SELECT ON {read.table} TO <the role wdh connects as>"
            )
    if problems:
        raise PreflightError(list(dict.fromkeys(problems)))  # one schema, several tables


def preflight_writes(writes: Sequence[TableWrite], *, fixes: Mapping[str, str]) -> None:
    """Raise :class:`PreflightError` with every problem the database would raise on ``writes``,
    which come in the order the run sends them. ``fixes`` maps a referenced table (quoted,
    qualified) to what makes the run insert its missing keys ("add --backfill-refs plans")."""
    problems: list[str] = []
    fix_by_oid = {oid: fix for table, fix in fixes.items() if (oid := catalog.relation_oid(table)) is not None}
    for index, write in enumerate(writes):
        oid = catalog.relation_oid(write.table)
        if oid is None:
            continue  # the table checks before the plan have refused a missing table
        columns = catalog.table_catalog_columns(oid)
        problems += _privilege_problems(write, oid, columns)
        problems += _column_problems(write, columns)
        problems += _width_problems(write, columns)
        for key in catalog.foreign_keys(oid):
            writers = writes if key.deferred else writes[:index]  # not deferred: checked per statement
            problems += _foreign_key_problems(write, key, writers, fix_by_oid.get(key.referenced_oid))
    if problems:
        raise PreflightError(problems)


def _privilege_problems(write: TableWrite, oid: int, columns: Mapping[str, catalog.Column]) -> list[str]:
    grant = "TO <the role wdh connects as>"
    problems = []
    for privilege, wanted in (("INSERT", write.columns), ("UPDATE", tuple(write.updates))):
        present = [column for column in wanted if column in columns]
        lacking = catalog.columns_unprivileged(oid, present, privilege) if present else []
        if lacking:
            names = ", ".join(map(quote_ident, lacking))
            problems.append(
                f"no {privilege} privilege on {write.table} (columns {names}), which {write.purpose} needs; "
                f"GRANT {privilege} ON {write.table} {grant}"
            )
    problems += _sequence_problems(write, oid)
    if write.deletes and not catalog.table_privileged(oid, "DELETE"):
        problems.append(
            f"no DELETE privilege on {write.table}, which {write.purpose} needs to replace the batch's "
            f"scopes; GRANT DELETE ON {write.table} {grant}, or load with --mode append"
        )
    return problems


def _sequence_problems(write: TableWrite, oid: int) -> list[str]:
    if not write.columns:
        return []
    return [
        f"no USAGE privilege on the sequence {sequence}, which gives the column {quote_ident(column)} of "
        f"{write.table} its value in {write.purpose}; GRANT USAGE ON SEQUENCE {sequence} TO <the role wdh connects as>"
        for column, sequence in catalog.sequences_unusable(oid).items()
        if column not in write.columns  # left out of the INSERT, so its default draws from the sequence
    ]


def _column_problems(write: TableWrite, columns: Mapping[str, catalog.Column]) -> list[str]:
    problems = [
        f"{write.purpose} writes the column {quote_ident(name)}, which {write.table} does not have; "
        "add the column to the table (warehouse_ddl shows its definition)"
        for name in dict.fromkeys([*write.columns, *write.updates])
        if name not in columns
    ]
    if not write.columns:
        return problems  # no INSERT: an UPDATE never sets NULL (COALESCE) nor leaves a column out
    if write.staged is not None:  # every NOT NULL column's NULLs in one scan of the staging table
        write.staged.measure([c.name for c in columns.values() if c.not_null and c.name in write.columns], [])
    for column in columns.values():
        if not column.not_null:
            continue
        if column.name not in write.columns:
            if not column.has_default:
                problems.append(
                    f"the column {quote_ident(column.name)} of {write.table} is NOT NULL without a default "
                    f"and wdh does not derive it, so {write.purpose} would fail; give it a default "
                    f"(ALTER TABLE {write.table} ALTER COLUMN {quote_ident(column.name)} SET DEFAULT …), "
                    "allow NULL, or derive it in data_sources.yml"
                )
            continue
        count, empty = write.sent.empty(column.name, write.label)
        if count:
            problems.append(
                f"the column {quote_ident(column.name)} of {write.table} is NOT NULL, and {count} of the "
                f"{write.sent.total} row(s) {write.purpose} would insert have no value for it "
                f"({_sample(_labels(write, empty), count)}); allow NULL in the column, or make wdh give it a value "
                "(a derivation rule in data_sources.yml for a reference column, the source cells for a fact column)"
            )
    return problems


def _width_problems(write: TableWrite, columns: Mapping[str, catalog.Column]) -> list[str]:
    """Values longer than the table's varchar(n) / char(n) (the table, not the model, decides)."""
    problems = []
    if write.staged is not None:  # every width in one scan of the staging table
        write.staged.measure([], [name for name in write.columns if name in columns and columns[name].max_length])
    for name, rows in [
        *((name, write.sent) for name in write.columns),
        *((name, ListedRows([{name: value} for value in values])) for name, values in write.updates.items()),
    ]:
        limit = columns[name].max_length if name in columns else None
        if limit is None:
            continue
        count, long = rows.long(name, limit, write.label)
        if not count:
            continue
        shown = [f"{_label(write, row)}{row[name]!r}" for row in long]
        problems.append(
            f"{count} value(s) {write.purpose} would write into the column {quote_ident(name)} of {write.table} "
            f"are longer than its {limit} characters ({_sample(shown, count)}); widen the column or correct the source"
        )
    return problems


def _foreign_key_problems(
    write: TableWrite, key: ForeignKey, earlier: Sequence[TableWrite], fix: str | None
) -> list[str]:
    carried = write.sent.keys(key.columns)
    for column, values in write.updates.items():
        if key.columns == (column,):
            carried.update((str(value),) for value in values if value is not None)
    if not carried:
        return []
    inserted = set()
    for other in earlier:
        if catalog.relation_oid(other.table) == key.referenced_oid:
            inserted |= other.sent.keys(key.referenced_columns)
    remaining = carried - inserted
    if not remaining:
        return []
    where = f"the foreign key {quote_ident(key.name)} ({', '.join(key.columns)} → {key.referenced})"
    if not catalog.table_privileged(key.referenced_oid, "SELECT"):
        return [
            f"cannot check {where}: no SELECT privilege on {key.referenced}; "
            f"GRANT SELECT ON {key.referenced} TO <the role wdh connects as>"
        ]
    missing = sorted(catalog.keys_absent(key, remaining))
    if not missing:
        return []
    then = fix or f"insert them into {key.referenced} first"
    return [
        f"{write.purpose} would break {where}: {len(missing)} key(s) are neither in {key.referenced} nor "
        f"inserted by this run ({_sample(['/'.join(value) for value in missing])}); {then}"
    ]


def _labels(write: TableWrite, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [", ".join(f"{column} {row.get(column)}" for column in write.label) for row in rows]


def _label(write: TableWrite, row: Mapping[str, Any]) -> str:
    """``"年金计划号 P0001: "`` — the row's label as a prefix, empty when the write has none."""
    return "".join(_labels(write, [row])) + ": " if write.label else ""


def _sample(items: Sequence[str], total: int | None = None) -> str:
    """The first SAMPLE of ``items``, and how many more of ``total`` (default: of the items) there are."""
    total = len(items) if total is None else total
    shown = ", ".join(items[:SAMPLE])
    return shown + (f" … (+{total - SAMPLE})" if total > SAMPLE else "")
