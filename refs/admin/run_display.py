"""How a run's status and duration read, on the run list and on a run's page alike."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString

from refs.models import BackfillRun


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
