"""Saved plans: what a plan-only run would write, kept with its audit record, so that
``--apply RUN_ID`` writes exactly that or refuses (issue 12 item 2).

A :class:`SavedPlan` is a value built from the run's plans (``saved_plan_of``, pure): the files
read (path, size, SHA-256), the configuration digest, per target the exact insert rows and fills,
the fact load's delete scopes with their row counts, and a digest of the fact rows (computed on
the run's staging table, :meth:`facts.fact_staging.FactStaging.digest`; the rows themselves are
re-read from the same files on apply). It is stored as zlib-compressed JSON of
candidate data (``plan_save``), never as rendered text, and read back by ``plan_load``, which
refuses a run that is not a plan to apply. :mod:`refs.drift` compares it with a fresh plan.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from facts.batch import SourceSummary
from facts.loading import FactPlan, scope_text
from refs.backfill import BackfillPlan
from refs.models import BackfillRun, RunMode, RunPlan, RunStatus
from refs.plan_lifecycle import OPEN, plan_months, plan_state_text, plans_supersede
from wdh.domain_choice import MULTI_DOMAIN_FIX, is_several
from wdh.errors import InputError

FORMAT = 2  # version of the stored JSON (2: the fact rows digested from the staging table, issue 13)


@dataclass(frozen=True)
class SavedFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SavedTarget:
    """One target's plan: the insert rows (values in ``columns`` order) and fills (key, column, value)."""

    target: str
    mode: str
    candidates: int
    present: int
    columns: tuple[str, ...]
    inserts: tuple[tuple[str | None, ...], ...]
    fills: tuple[tuple[str, str, str], ...]

    def insert_keys(self) -> list[str]:
        return [str(row[0]) for row in self.inserts]


@dataclass(frozen=True)
class SavedFacts:
    """The fact load: its delete scopes (pk values as text) with the rows each held when planned."""

    mode: str
    scopes: tuple[tuple[tuple[str | None, ...], int], ...]
    rows: int
    rows_digest: str


@dataclass(frozen=True)
class SavedPlan:
    command: str
    request: dict[str, Any]  # domain, targets, modes, sheet, chunk size: what apply runs with
    config_digest: str
    files: tuple[SavedFile, ...]
    targets: tuple[SavedTarget, ...]
    facts: SavedFacts | None
    format: int = FORMAT  # the version it was saved in (an older one's digests are not comparable)


def saved_plan_of(
    *,
    command: str,
    request: dict[str, Any],
    config_digest: str,
    files: Sequence[SourceSummary],
    plans: Sequence[BackfillPlan],
    fact_plan: FactPlan | None,
) -> SavedPlan:
    """The plan as a value to save and compare. Reads the run's staging table (the fact rows' digest)."""
    return SavedPlan(
        command=command,
        request=request,
        config_digest=config_digest,
        files=tuple(SavedFile(str(f.path), f.size, f.sha256) for f in files),
        targets=tuple(_target(plan) for plan in plans),
        facts=_facts(fact_plan) if fact_plan else None,
    )


def _target(plan: BackfillPlan) -> SavedTarget:
    key = plan.target.key[0]
    columns = tuple(dict.fromkeys([key, *(column for row in plan.inserts[:1] for column in row)]))
    return SavedTarget(
        target=plan.target.name,
        mode=plan.mode.value,
        candidates=plan.candidates,
        present=plan.present,
        columns=columns,
        inserts=tuple(tuple(row.get(column) for column in columns) for row in plan.inserts),
        fills=tuple(plan.fills),
    )


def _facts(plan: FactPlan) -> SavedFacts:
    return SavedFacts(
        mode=plan.mode.value,
        scopes=tuple((scope_text(scope), plan.scope_counts.get(scope, 0)) for scope in plan.scopes),
        rows=plan.rows,
        rows_digest=plan.staging.digest(),
    )


def plan_encode(plan: SavedPlan) -> bytes:
    """Compact bytes of ``plan``: JSON of its candidate data, zlib-compressed. Pure."""
    text = json.dumps(asdict(plan), ensure_ascii=False, separators=(",", ":"), default=str)
    return zlib.compress(text.encode(), level=6)


def plan_decode(data: bytes) -> SavedPlan:
    document = json.loads(zlib.decompress(data))
    facts = document["facts"]
    return SavedPlan(
        command=document["command"],
        request=document["request"],
        config_digest=document["config_digest"],
        files=tuple(SavedFile(**f) for f in document["files"]),
        targets=tuple(
            SavedTarget(
                target=t["target"],
                mode=t["mode"],
                candidates=t["candidates"],
                present=t["present"],
                columns=tuple(t["columns"]),
                inserts=tuple(tuple(row) for row in t["inserts"]),
                fills=tuple((k, c, v) for k, c, v in t["fills"]),
            )
            for t in document["targets"]
        ),
        facts=SavedFacts(
            mode=facts["mode"],
            scopes=tuple((tuple(values), count) for values, count in facts["scopes"]),
            rows=facts["rows"],
            rows_digest=facts["rows_digest"],
        )
        if facts
        else None,
        format=document.get("format", 1),
    )


def plan_save(run: BackfillRun, plan: SavedPlan) -> RunPlan:
    """Keep ``plan`` with ``run``'s audit record, with the months its files name, and supersede
    the older plans for the same domain and month (refs.plan_lifecycle). Writes the database
    (wdh's own table); call it in a transaction."""
    saved = RunPlan.objects.create(run=run, data=plan_encode(plan), months=plan_months(f.path for f in plan.files))
    plans_supersede(saved)
    return saved


def plan_load(run_id: int) -> SavedPlan:
    """The plan run ``run_id`` saved. Reads the database. Raises :class:`InputError` (exit 2) when
    that run is missing, not a plan-only run that ended ``planned``, already applied, or
    rejected, superseded or refused (refs.plan_lifecycle)."""
    run = BackfillRun.objects.filter(pk=run_id).first()
    if run is None:
        raise InputError(f"--apply {run_id}: there is no run {run_id}; see the runs in the admin or show_run")
    if run.mode != RunMode.PLAN_ONLY or run.status != RunStatus.PLANNED:
        raise InputError(
            f"--apply {run_id}: run {run_id} is a {run.get_mode_display()} run that ended "
            f"{run.get_status_display()}; only a plan-only run that ended planned can be applied"
        )
    applied = BackfillRun.objects.filter(applies=run, status=RunStatus.SUCCEEDED).first()
    if applied is not None:
        raise InputError(f"--apply {run_id}: the plan of run {run_id} was already applied by run {applied.pk}")
    saved = RunPlan.objects.filter(run=run).first()
    if saved is None and is_several(run.domain):
        raise InputError(f"--apply {run_id}: run {run_id} planned the domains {run.domain}: {MULTI_DOMAIN_FIX}")
    if saved is None:
        raise InputError(f"--apply {run_id}: run {run_id} kept no plan (it predates saved plans); plan again")
    if saved.state not in OPEN:
        raise InputError(f"--apply {run_id}: the plan of run {run_id} is {plan_state_text(saved)}")
    return plan_decode(bytes(saved.data))


def file_sha256(path: str) -> str:
    """SHA-256 of the file at ``path``, or "" when it cannot be read. Reads the file."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()
