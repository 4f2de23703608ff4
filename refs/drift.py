"""Drift: what changed between a saved plan and the same plan built again now (issue 12 item 2).

``--apply RUN_ID`` re-reads the plan's files and plans again under the lock; the apply goes ahead
only when the fresh plan equals the saved one. Every difference is named, in words an operator
can act on: a file whose SHA-256 differs, a changed configuration, a planned key no longer
absent, a planned cell no longer NULL, a delete scope holding a different number of rows.
"""

from __future__ import annotations

from refs.saved_plans import FORMAT, SavedPlan, SavedTarget, file_sha256
from wdh.errors import InputError

SHOWN = 20  # differences named per kind; the rest counted


class PlanDriftError(InputError):
    """The saved plan no longer describes what applying it would do; nothing was written."""

    def __init__(self, run_id: int, changes: list[str]) -> None:
        self.changes = changes
        listed = "\n".join(f"  - {change}" for change in changes)
        super().__init__(
            f"--apply {run_id}: refused, the plan of run {run_id} no longer holds; nothing was written. "
            f"What changed since it was planned:\n{listed}\nReview a new plan-only run and apply that one."
        )


def inputs_drift(saved: SavedPlan, *, config_digest: str) -> list[str]:
    """The saved plan's files and configuration against those on disk now. Reads the files."""
    changes = []
    if saved.format != FORMAT:
        changes.append(
            f"the plan was saved by an earlier version of wdh (saved-plan format {saved.format}, now {FORMAT}), "
            "whose fact-row digest this version does not compute; plan it again"
        )
    if saved.config_digest != config_digest:
        changes.append(
            f"the configuration changed (digest {saved.config_digest[:12]}… planned, {config_digest[:12]}… now)"
        )
    for source in saved.files:
        now = file_sha256(source.path)
        if not now:
            changes.append(f"{source.path}: the file is gone or unreadable")
        elif now != source.sha256:
            changes.append(f"{source.path}: SHA-256 {now[:12]}… now, {source.sha256[:12]}… when planned")
    return changes


def plan_drift(saved: SavedPlan, fresh: SavedPlan) -> list[str]:
    """Every difference between ``saved`` and ``fresh`` (the same request planned now). Pure."""
    changes = _inputs_changed(saved, fresh)
    fresh_targets = {t.target: t for t in fresh.targets}
    for target in saved.targets:
        changes += _target_drift(target, fresh_targets.get(target.target))
    changes += _facts_drift(saved, fresh)
    return changes


def _inputs_changed(saved: SavedPlan, fresh: SavedPlan) -> list[str]:
    changes = []
    if saved.config_digest != fresh.config_digest:
        changes.append("the configuration changed")
    if {f.sha256 for f in saved.files} != {f.sha256 for f in fresh.files}:
        changes.append("the files read differ from the planned ones (SHA-256)")
    return changes


def _target_drift(saved: SavedTarget, fresh: SavedTarget | None) -> list[str]:
    if fresh is None:
        return [f"{saved.target}: not planned any more"]
    changes = []
    now = set(fresh.insert_keys())
    present = [key for key in saved.insert_keys() if key not in now]
    changes += _named(f"{saved.target}: planned key(s) no longer absent (inserted meanwhile)", present)
    added = sorted(now - set(saved.insert_keys()))
    changes += _named(f"{saved.target}: key(s) absent now that the plan did not insert", added)
    planned_rows, rows_now = _rows(saved), _rows(fresh)
    differ = [key for key, row in rows_now.items() if key in planned_rows and planned_rows[key] != row]
    changes += _named(f"{saved.target}: row(s) derived now differ from the planned ones", differ)
    fills_now = {(key, column): value for key, column, value in fresh.fills}
    filled = [f"{key}.{column}" for key, column, _ in saved.fills if (key, column) not in fills_now]
    changes += _named(f"{saved.target}: planned cell(s) no longer NULL (filled meanwhile)", filled)
    planned_fills = {(key, column) for key, column, _ in saved.fills}
    extra = [f"{key}.{column}" for key, column, _ in fresh.fills if (key, column) not in planned_fills]
    changes += _named(f"{saved.target}: cell(s) fillable now that the plan did not fill", extra)
    other = [f"{k}.{c}" for k, c, v in saved.fills if (k, c) in fills_now and fills_now[(k, c)] != v]
    changes += _named(f"{saved.target}: cell value(s) derived now differ from the planned ones", other)
    return changes


def _rows(target: SavedTarget) -> dict[str, dict[str, str | None]]:
    return {str(row[0]): dict(zip(target.columns, row, strict=True)) for row in target.inserts}


def _facts_drift(saved: SavedPlan, fresh: SavedPlan) -> list[str]:
    if saved.facts is None or fresh.facts is None:
        return [] if saved.facts == fresh.facts else ["the fact load is planned differently"]
    changes = []
    now = dict(fresh.facts.scopes)
    for scope, count in saved.facts.scopes:
        if now.get(scope, 0) != count:
            label = ", ".join("NULL" if value is None else value for value in scope)
            changes.append(f"fact scope ({label}): holds {now.get(scope, 0)} row(s) now, {count} when planned")
    if saved.facts.rows_digest != fresh.facts.rows_digest:
        changes.append(
            f"the fact rows read now differ from the planned ones ({fresh.facts.rows} now, {saved.facts.rows} "
            "planned): a lookup table (branches, plans' company ids) changed"
        )
    return changes


def _named(what: str, items: list[str]) -> list[str]:
    if not items:
        return []
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return [f"{what}: {', '.join(items[:SHOWN])}{more}"]
