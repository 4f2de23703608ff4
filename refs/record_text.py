"""An audit record as terminal lines (``manage.py show_run``): how the run ended, what it read,
the rows it left out, what it changed or would change, and where to see it in the admin.

Long lists wrap at ``WIDTH`` characters; at verbosity 1 they are sampled with a count of the rest.
"""

from __future__ import annotations

import textwrap

from django.urls import reverse
from django.utils import timezone

from refs.models import BackfillRun, RunMode, RunPlan
from refs.plan_lifecycle import plan_state_text
from refs.run_links import run_links
from refs.run_parts import part_line, run_parts
from refs.run_stages import stage_words

KEY_SAMPLE = 20  # keys listed at verbosity 1; all at 2
ROW_ERROR_SAMPLE = 20  # row errors listed at verbosity 1; all at 2
WIDTH = 100


def record_lines(run: BackfillRun, verbosity: int) -> list[str]:
    """The record of ``run``, line by line. Reads the database."""
    duration = f"{run.duration_seconds:.2f}s" if run.duration_seconds is not None else "unfinished"
    lines = [
        f"audit record {run.pk}: {run.command} {run.get_mode_display()} — {run.get_status_display()}",
        f"  started {timezone.localtime(run.started_at):%Y-%m-%d %H:%M:%S %Z} · {duration} · "
        f"{run.user}@{run.host} via {run.via}",
        f"  backfill: {run.targets or 'none'} {run.backfill_mode}".rstrip(),
    ]
    files = list(run.files.all())
    lines += [f"  file {f.path} ({f.size} bytes, {_digest(f.sha256)}) [{f.sheet}]" for f in files]
    rows_read, rows_valid = sum(f.rows_read for f in files), sum(f.rows_valid for f in files)
    lines.append(f"  rows: {rows_read} read, {rows_valid} valid, {run.row_errors} row error(s)")
    lines += _row_errors(run, verbosity)
    lines += _targets(run, verbosity)
    lines += _keys(run, verbosity)
    lines += _facts(run)
    planned = run.mode == RunMode.PLAN_ONLY
    for part in run_parts(run.summary):  # a run of several domains: each one's share
        lines.append(f"  domain {part_line(part, planned=planned)}")
        lines += [f"    file {name}" for name in part.files]
    lines += _plan(run)
    if run.error:
        stage = stage_words(run.stage)
        where = "; ".join(part for part in (f"while {stage}" if stage else "", run.error_where) if part)
        lines.append(f"  error ({where or 'place not recorded'}): {run.error}")
    lines += _links(run)
    lines.append(f"  in the admin: {reverse('admin:refs_backfillrun_change', args=[run.pk])}")
    return lines


def _links(run: BackfillRun) -> list[str]:
    """The runs this one is tied to: the plan it applied, the run it reverts, its reverts."""
    return [f"  {link.text}" for link in run_links(run)]


def _digest(sha256: str) -> str:
    return f"sha256 {sha256[:16]}…" if sha256 else "opened, not read to the end"


def _row_errors(run: BackfillRun, verbosity: int) -> list[str]:
    errors = run.row_error_items.all()
    shown = list(errors if verbosity >= 2 else errors[:ROW_ERROR_SAMPLE])
    lines = [f"    {e.file} [{e.sheet}] row {e.row}, column {e.column}: {e.message} (value {e.value!r})" for e in shown]
    if len(shown) < run.row_errors and shown:
        lines.append(f"    … {run.row_errors - len(shown)} more (-v 2 lists all)")
    return lines


def _targets(run: BackfillRun, verbosity: int) -> list[str]:
    lines = []
    for target in run.target_results.all():
        filled = ", ".join(f"{column} {count}" for column, count in target.cells_filled.items()) or "none"
        inserted = "would be inserted" if run.mode == RunMode.PLAN_ONLY else "inserted"
        lines.append(
            f"  {target.target} {target.table}: {target.candidates} candidates, {target.inserted} {inserted}, "
            f"{target.already_present} already present, cells filled: {filled}"
        )
        warnings = (target.warning_details or target.warnings) if verbosity >= 2 else target.warnings
        lines += [f"    warning: {warning}" for warning in warnings]
    return lines


def _keys(run: BackfillRun, verbosity: int) -> list[str]:
    keys = run.keys.values_list("target", "key")
    total = keys.count()
    if not total:
        return []
    shown = list(keys if verbosity >= 2 else keys[:KEY_SAMPLE])
    more = f" … (+{total - len(shown)})" if len(shown) < total else ""
    text = ", ".join(f"{target}:{key}" for target, key in shown) + more
    return textwrap.wrap(
        text, WIDTH, initial_indent="  keys: ", subsequent_indent="        ", break_long_words=False,
        break_on_hyphens=False,
    )  # fmt: skip


def _facts(run: BackfillRun) -> list[str]:
    if run.facts_inserted is None:
        return []
    if run.mode == RunMode.PLAN_ONLY:
        return [f"  facts: would delete {run.facts_deleted}, would insert {run.facts_inserted}"]
    return [f"  facts: {run.facts_deleted} deleted, {run.facts_inserted} inserted"]


def _plan(run: BackfillRun) -> list[str]:
    """A plan-only run's saved plan: its state (an apply run's plan is in ``_links``)."""
    plan = RunPlan.objects.defer("data").filter(run=run).first()
    if plan is None:
        return []
    comment = f" — {plan.review_comment}" if plan.review_comment else ""
    return [f"  plan: {plan_state_text(plan)}{comment}"]
