"""What a run's detail page shows: one read of the audit record, shaped for the template."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse

from refs.admin.plan_panel import plan_panel
from refs.admin.run_display import duration_text, status_badge
from refs.admin.targets import change_url, changelist_url
from refs.models import BackfillRun, RunMode, RunStatus, RunTarget
from refs.run_links import APPLIES, run_links
from refs.run_parts import part_line, run_parts
from refs.run_stages import stage_words

PAGE_SIZE = 100  # keys / cells / row errors per page on a run's detail page


@dataclass(frozen=True)
class PageView:
    """One page of a run's keys or cells, with the links to its neighbours."""

    page: Page[Any]
    rows: list[dict[str, Any]]
    previous_query: str
    next_query: str


def _page_view(items: QuerySet[Any], params: QueryDict, name: str, *, linked: bool) -> PageView:
    page = Paginator(items, PAGE_SIZE).get_page(params.get(name))

    def query(number: int | None) -> str:
        if number is None:
            return ""
        copy = params.copy()
        copy[name] = str(number)
        return "?" + copy.urlencode()

    rows = [{"item": item, "url": change_url(item.target, item.key) if linked else ""} for item in page.object_list]
    return PageView(
        page=page,
        rows=rows,
        previous_query=query(page.previous_page_number() if page.has_previous() else None),
        next_query=query(page.next_page_number() if page.has_next() else None),
    )


def _key_filter(run: BackfillRun, params: QueryDict) -> str:
    """The key to narrow the keys and cells to: ``?key=``, else the changelist's search term
    when it names a key of this run (a reviewer who searched Z0047 sees Z0047 first)."""
    explicit = str(params.get("key", "")).strip()
    if explicit:
        return explicit
    term = QueryDict(params.get("_changelist_filters", "")).get("q", "").strip()
    keys = {term, term.upper()}
    if term and (run.keys.filter(key__in=keys).exists() or run.cells.filter(key__in=keys).exists()):
        return term
    return ""


def _warnings(run: BackfillRun, targets: list[RunTarget]) -> list[tuple[str, str, str]]:
    """(source, the warning's line, the same with every value named or "" when the line does)."""
    found = [("run", str(warning), "") for warning in run.warnings]
    for target in targets:
        details = target.warning_details or target.warnings
        for warning, detail in zip(target.warnings, details, strict=False):
            found.append((target.target, str(warning), "" if detail == warning else str(detail)))
    return found


def run_detail(run: BackfillRun, params: QueryDict) -> dict[str, Any]:
    """Everything the detail template shows about ``run``. Reads the database."""
    targets = list(run.target_results.all())
    files = list(run.files.all())
    key = _key_filter(run, params)
    keys, cells = run.keys.all(), run.cells.all()
    if key:
        keys, cells = keys.filter(key__icontains=key), cells.filter(key__icontains=key)
    linked = run.mode == RunMode.EXECUTE and run.status == RunStatus.SUCCEEDED
    planned = run.mode == RunMode.PLAN_ONLY
    created = [
        (target.target, target.inserted, url)
        for target in targets
        if linked and target.inserted and (url := changelist_url(target.target))
    ]
    plan = plan_panel(run)
    # The plan an apply run applies is linked in its plan section; "Linked runs" does not repeat it.
    links = [link for link in run_links(run) if not (plan and plan.applies and link.words == APPLIES)]
    return {
        "run": run,
        "status": status_badge(run),
        "planned": planned,
        "duration": duration_text(run.duration_seconds),
        "command_line": shlex.join(str(arg) for arg in run.argv) if run.argv else run.command,
        "targets": [(target, sorted(target.cells_filled.items())) for target in targets],
        "warnings": _warnings(run, targets),
        "files": files,
        "rows_read": sum(file.rows_read for file in files),
        "rows_valid": sum(file.rows_valid for file in files),
        "stage": stage_words(run.stage),
        "row_errors": _page_view(run.row_error_items.all(), params, "errors_page", linked=False),
        "key_filter": key,
        "keys": _page_view(keys, params, "keys_page", linked=linked),
        "cells": _page_view(cells, params, "cells_page", linked=linked),
        "created": created,
        "plan": plan,
        "links": [(link, reverse("admin:refs_backfillrun_change", args=[link.run_id])) for link in links],
        "options_json": json.dumps(run.options, indent=2, ensure_ascii=False),
        "summary_json": json.dumps(run.summary, indent=2, ensure_ascii=False),
        "parts": [(part, part_line(part, planned=planned)) for part in run_parts(run.summary)],
    }
