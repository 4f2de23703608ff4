"""Rendering a :class:`~jobs.run_result.RunResult`: a text summary for people, JSON for machines.

Text lines are :func:`~wdh.escaping.printable`: a key, value or message from a workbook never
reaches the terminal with a raw control or bidi character. In the JSON, row error values and
messages are escaped the same way, because the audit record keeps this object in a jsonb
column, which refuses NUL; the command escapes what else JSON leaves raw.

The JSON object (schema ``wdh.run/2``, documented in the README and ``wdh/run_schema.json``) is
also what the audit record keeps as its summary. Plan-only output speaks in the conditional ("would insert"), execute
output in the past ("inserted").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facts.batch import describe_row_error
from facts.loading import FactOutcome
from jobs.run_result import DomainPart, RunResult
from refs.models import RunMode, RunStatus
from wdh.domain_choice import MULTI_DOMAIN_FIX
from wdh.escaping import printable

JSON_SCHEMA = "wdh.run/2"
KEY_SAMPLE = 10  # keys shown at verbosity 1; all at verbosity 2
ROW_ERROR_SAMPLE = 20
RECORD_ROW_ERRORS = 1_000  # row errors the audit record's summary lists; the record keeps every one as a rejected row


def _keys(keys: list[str], verbosity: int) -> list[str]:
    return keys if verbosity >= 2 else keys[:KEY_SAMPLE]


def record_json(result: RunResult) -> dict[str, Any]:
    """The summary the audit record keeps: :func:`result_json` at verbosity 2, but listing only
    the first RECORD_ROW_ERRORS row errors — the record keeps them all as its rejected rows, and
    a summary holding hundreds of thousands would be built in memory and stored twice."""
    return result_json(result, verbosity=2, row_errors_listed=RECORD_ROW_ERRORS)


def result_json(result: RunResult, *, verbosity: int = 1, row_errors_listed: int | None = None) -> dict[str, Any]:
    """The versioned, machine-readable summary of a run (``row_errors_listed``: at most that many
    row errors in ``row_errors.items``; verbosity 1 lists ROW_ERROR_SAMPLE, verbosity 2 all)."""
    request = result.request
    listed = ROW_ERROR_SAMPLE if verbosity < 2 else row_errors_listed
    if listed is not None and row_errors_listed is not None:
        listed = min(listed, row_errors_listed)
    row_errors = result.row_errors if listed is None else result.row_errors[:listed]
    return {
        "schema": JSON_SCHEMA,
        "command": request.command,
        "domain": request.domain,
        "mode": "execute" if result.mode is RunMode.EXECUTE else "plan_only",
        "status": str(result.status),
        "exit_code": int(result.exit_code),
        "audit_id": result.audit_id,
        "applies": request.applies,
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat() if result.finished_at else None,
        "config_digest": result.config_digest,
        "files": [
            {
                "path": str(source.path),
                "size": source.size,
                "sha256": source.sha256,
                "sheet": source.sheet,
                "rows_read": source.rows_read,
                "rows_valid": source.rows_valid,
            }
            for source in result.files
        ],
        "rows": {"read": result.rows_read, "valid": result.rows_valid, "company_id_missing": result.company_id_missing},
        "row_errors": {
            "count": len(result.row_errors),
            "items": [
                {
                    "file": error.file,
                    "sheet": error.sheet,
                    "row": error.row,
                    "column": error.column,
                    "value": None if error.value is None else printable(str(error.value)),
                    "message": printable(error.message),
                }
                for error in row_errors
            ],
        },
        "backfill": None
        if not request.targets
        else {
            "mode": str(request.backfill_mode),
            "targets": [_target_json(outcome, verbosity) for outcome in result.targets],
        },
        "facts": None if result.facts is None or result.several else _facts_json(result.facts),
        "domains": [_part_json(part) for part in result.parts],
        "warnings": list(result.warnings) + [w for outcome in result.targets for w in _warnings(outcome, verbosity)],
        "statements": result.statements,
        "error": None
        if not result.error
        else {"message": result.error, "where": result.error_where, "stage": result.stage},
        "timings": {step: round(seconds, 4) for step, seconds in result.timings.items()},
    }


def _target_json(outcome: Any, verbosity: int) -> dict[str, Any]:
    return {
        "target": outcome.target,
        "table": outcome.table,
        "candidates": outcome.candidates,
        "inserted": outcome.inserted,
        "already_present": outcome.already_present,
        "absent": outcome.absent,
        "cells_filled": dict(outcome.cells_filled),
        "rows_changed": outcome.rows_changed,
        "keys": _keys(outcome.keys, verbosity),
        "cells": [
            {"key": key, "column": column, "value": value}
            for key, column, value in (outcome.cells if verbosity >= 2 else outcome.cells[:KEY_SAMPLE])
        ],
        "warnings": _warnings(outcome, verbosity),
    }


def _warnings(outcome: Any, verbosity: int) -> list[str]:
    """A target's warnings as read at ``verbosity``: from 2 on, each names every value it lists."""
    return list(outcome.warning_details or outcome.warnings) if verbosity >= 2 else list(outcome.warnings)


def _part_json(part: DomainPart) -> dict[str, Any]:
    """One domain's part: its files and sheets, rows, row errors and fact load (wdh.run/2)."""
    return {
        "domain": part.domain,
        "files": [{"path": str(source.path), "sheet": source.sheet} for source in part.files],
        "rows": {"read": part.rows_read, "valid": part.rows_valid, "company_id_missing": part.company_id_missing},
        "row_errors": part.row_errors,
        "facts": None if part.facts is None else _facts_json(part.facts),
    }


def _facts_json(facts: FactOutcome) -> dict[str, Any]:
    return {
        "table": facts.table,
        "mode": str(facts.mode),
        "skipped": facts.skipped,
        "deleted": facts.deleted,
        "inserted": facts.inserted,
        "scopes": facts.scopes,
    }


def result_text(result: RunResult, *, verbosity: int = 1) -> list[str]:
    """The human summary, line by line (the command styles and writes them)."""
    planned = result.mode is RunMode.PLAN_ONLY
    lines = [_headline(result)]
    for part in result.parts:
        if result.several:
            counts = f"{part.rows_read} rows read, {part.rows_valid} valid, {part.row_errors} row error(s)"
            lines.append(f"  {part.domain}: {counts}")
        for source in part.files:
            lines.append(
                f"  read {Path(source.path).name} [{source.sheet}]: {source.rows_read} rows, {source.rows_valid} valid"
            )
    if result.row_errors:
        shown = result.row_errors if verbosity >= 2 else result.row_errors[:ROW_ERROR_SAMPLE]
        lines.append(f"  {len(result.row_errors)} row error(s), left out of the load:")
        lines += [f"    {describe_row_error(error)}" for error in shown]
        if len(shown) < len(result.row_errors):
            lines.append(f"    … {len(result.row_errors) - len(shown)} more (--verbosity 2 lists all)")
    for outcome in result.targets:
        lines += _target_text(outcome, planned, verbosity)
    for part in result.parts:
        if part.facts is not None:
            lines += _facts_text(part.facts, planned)
    lines += [f"  warning: {warning}" for warning in result.warnings]
    if result.saved is not None and result.status == RunStatus.PLANNED:
        apply = f"manage.py {result.request.command} --apply {result.audit_id}"
        lines.append(f"  plan saved: write exactly it with {apply}")
    elif result.several and result.status == RunStatus.PLANNED:
        lines.append(f"  plan not saved: {MULTI_DOMAIN_FIX}")
    return [printable(line) for line in lines]


def _headline(result: RunResult) -> str:
    request = result.request
    mode = "execute" if result.mode is RunMode.EXECUTE else "plan-only"
    record = f"audit record {result.audit_id}" if result.audit_id else "no audit record"
    applies = f", applying the plan of run {request.applies}" if request.applies else ""
    return f"{request.command} {request.domain} ({mode}{applies}): {result.status} — {record}"


def _target_text(outcome: Any, planned: bool, verbosity: int) -> list[str]:
    would = "would " if planned else ""
    lines = [f"  {outcome.target} → {outcome.table}: {outcome.candidates} candidate(s)"]
    if str(outcome.mode) == "insert_missing":
        verb = "insert" if planned else "inserted"
        lines.append(f"    {would}{verb} {outcome.inserted} key(s); {outcome.already_present} already present")
        if outcome.keys and verbosity >= 1:
            shown = _keys(outcome.keys, verbosity)
            more = f" … (+{len(outcome.keys) - len(shown)})" if len(shown) < len(outcome.keys) else ""
            lines.append(f"    keys: {', '.join(shown)}{more}")
    else:
        verb = "fill" if planned else "filled"
        total = sum(outcome.cells_filled.values())
        lines.append(
            f"    {would}{verb} {total} NULL cell(s) in {outcome.rows_changed} row(s); "
            f"{outcome.already_present} key(s) present, {outcome.absent} absent (never inserted)"
        )
        lines += [f"      {column}: {count}" for column, count in outcome.cells_filled.items()]
        if verbosity >= 2:
            lines += [f"      {key}.{column} = {value!r}" for key, column, value in outcome.cells]
    lines += [
        f"    warning: {warning}" for warning in _warnings(outcome, verbosity)[: None if verbosity >= 2 else KEY_SAMPLE]
    ]
    if len(outcome.warnings) > KEY_SAMPLE and verbosity < 2:
        lines.append(f"    … {len(outcome.warnings) - KEY_SAMPLE} more warning(s) (--verbosity 2 lists all)")
    return lines


def _facts_text(facts: FactOutcome, planned: bool) -> list[str]:
    if facts.skipped:
        return [f"  facts → {facts.table}: skipped (--skip-facts)"]
    would = "would " if planned else ""
    deleted, inserted = ("delete", "insert") if planned else ("deleted", "inserted")
    return [
        f"  facts → {facts.table} ({facts.mode}): {would}{deleted} {facts.deleted} row(s) "
        f"in {len(facts.scopes)} scope(s), {would}{inserted} {facts.inserted}"
    ]


def _error(result: RunResult) -> dict[str, str] | None:
    """How a run that did not succeed ended: the message, the place (file, key path, table) and
    the step it was in (words in refs.run_stages)."""
    if not result.error:
        return None
    return {"message": result.error, "where": result.error_where, "stage": result.stage}
