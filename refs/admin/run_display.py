"""How a run's status and duration read, on the run list and on a run's page alike."""

from __future__ import annotations

import re

from django.utils.html import format_html
from django.utils.safestring import SafeString

from refs.models import BackfillRun, RunStatus
from refs.run_stages import stage_words

REASON_WIDTH = 90  # characters of the error the run list shows; all of it in the title
# The folders of an absolute path: the list shows the file name, the files column and page the path.
_FOLDERS = re.compile(r"(?<![\w.])/(?:[^/\s:;,'\"]+/)+")


def duration_text(seconds: float | None) -> str:
    """A duration as a person reads it: ``850 ms``, ``12.4 s``, ``3 min 05 s``, ``2 h 07 min``."""
    if seconds is None:
        return "unfinished"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def status_badge(run: BackfillRun, *, short: bool = False) -> SafeString:
    """The status as a coloured label; ``short`` drops the explanation ("failed", "refused")."""
    label = run.get_status_display()
    text = label.split(" (")[0].split(":")[0] if short else label
    title = run.error_where or run.error or label
    return format_html('<span class="wdh-status wdh-status-{}" title="{}">{}</span>', run.status, title, text)


def failure_reason(run: BackfillRun) -> SafeString | str:
    """Why a failed, refused or abandoned run ended, in a line: ``while reading: <error>``."""
    if run.status not in {RunStatus.FAILED, RunStatus.REFUSED_LOCKED, RunStatus.ABANDONED} or not run.error:
        return "—"
    stage = stage_words(run.stage) if run.status == RunStatus.FAILED else ""
    first = _FOLDERS.sub("", run.error.strip().splitlines()[0]) if run.error.strip() else run.error
    text = f"while {stage}: {first}" if stage else first
    short = text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"
    return format_html('<span class="wdh-reason" title="{}">{}</span>', run.error, short)
