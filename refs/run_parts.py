"""Each domain's part of a run of several domains, as its audit record keeps it: the ``domains``
array of the record's JSON summary (schema ``wdh.run/2``: files and sheets, rows, row errors
and fact load per domain). The record's own columns and rows (files, row errors, targets, the
fact counters as totals) stay the run's whole; this names the share of each domain, for
``show_run`` and the admin's run page. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunPart:
    domain: str
    files: tuple[str, ...]  # "path [sheet]"
    rows_read: int
    rows_valid: int
    row_errors: int
    facts_table: str  # "" when the part loaded no facts
    facts_deleted: int
    facts_inserted: int


def run_parts(summary: dict[str, Any] | None) -> list[RunPart]:
    """The parts of a run of several domains; none for a one-domain run (its record says it all)
    or a summary older than ``wdh.run/2``."""
    items = (summary or {}).get("domains") or []
    if len(items) < 2:
        return []
    parts = []
    for item in items:
        facts = item.get("facts") or {}
        parts.append(
            RunPart(
                domain=str(item["domain"]),
                files=tuple(f"{source['path']} [{source['sheet']}]" for source in item["files"]),
                rows_read=int(item["rows"]["read"]),
                rows_valid=int(item["rows"]["valid"]),
                row_errors=int(item["row_errors"]),
                facts_table="" if facts.get("skipped", True) else str(facts["table"]),
                facts_deleted=int(facts.get("deleted", 0)),
                facts_inserted=int(facts.get("inserted", 0)),
            )
        )
    return parts


def part_line(part: RunPart, *, planned: bool) -> str:
    """One part in words."""
    rows = f"{part.rows_read} rows read, {part.rows_valid} valid, {part.row_errors} row error(s)"
    if not part.facts_table:
        return f"{part.domain}: {rows}; no fact load"
    verbs = ("would delete", "would insert") if planned else ("deleted", "inserted")
    return (
        f"{part.domain}: {rows}; facts → {part.facts_table}: {verbs[0]} {part.facts_deleted}, "
        f"{verbs[1]} {part.facts_inserted}"
    )
