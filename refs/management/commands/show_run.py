"""``manage.py show_run ID | --latest``: an audit record, readable in the terminal."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import Count, Max, Min
from django.urls import reverse
from django.utils import timezone

from refs.models import BackfillRun, RunMode, RunStatus
from wdh.errors import ExitCode
from wdh.startup import StartupCommand

KEY_SAMPLE = 20


class Command(StartupCommand):
    help = "Show one backfill audit record: how the run ended, its files, counts, keys, cells and error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", nargs="?", type=int, help="Audit record id (as printed by the run).")
        parser.add_argument("--latest", action="store_true", help="Show the most recent record.")
        parser.add_argument(
            "--format", choices=["text", "json"], default="text", help="json: the run's summary object."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.require_database()
        run = self._run(options)
        if options["format"] == "json":
            self.stdout.write(json.dumps(run.summary, ensure_ascii=False, indent=2))
            return
        for line in self._lines(run, options["verbosity"]):
            self.stdout.write(line)

    def _run(self, options: dict[str, Any]) -> BackfillRun:
        if options["latest"] == (options["run_id"] is not None):
            raise CommandError("give either a record id or --latest", returncode=int(ExitCode.USER_ERROR))
        runs = BackfillRun.objects.all()
        run = runs.first() if options["latest"] else runs.filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(_not_found(options["run_id"]), returncode=int(ExitCode.USER_ERROR))
        return run

    def _lines(self, run: BackfillRun, verbosity: int) -> list[str]:
        duration = f"{run.duration_seconds:.2f}s" if run.duration_seconds is not None else "unfinished"
        lines = [
            f"audit record {run.pk}: {run.command} {run.get_mode_display()} — {run.get_status_display()}",
            f"  started {timezone.localtime(run.started_at):%Y-%m-%d %H:%M:%S %Z} · {duration} · "
            f"{run.user}@{run.host} via {run.via}",
            f"  backfill: {run.targets or 'none'} {run.backfill_mode}".rstrip(),
        ]
        lines += [f"  file {f.path} ({f.size} bytes, sha256 {f.sha256[:16]}…) [{f.sheet}]" for f in run.files.all()]
        for target in run.target_results.all():
            filled = ", ".join(f"{column} {count}" for column, count in target.cells_filled.items()) or "none"
            lines.append(
                f"  {target.target} {target.table}: {target.candidates} candidates, {target.inserted} inserted, "
                f"{target.already_present} already present, cells filled: {filled}"
            )
            lines += [f"    warning: {warning}" for warning in target.warnings]
        keys = list(run.keys.values_list("target", "key"))
        if keys:
            shown = keys if verbosity >= 2 else keys[:KEY_SAMPLE]
            more = f" … (+{len(keys) - len(shown)})" if len(shown) < len(keys) else ""
            lines.append(f"  keys: {', '.join(f'{t}:{k}' for t, k in shown)}{more}")
        if run.facts_inserted is not None:
            lines.append(f"  facts: {run.facts_deleted} deleted, {run.facts_inserted} inserted")
        if run.error:
            lines.append(f"  error ({run.error_where}): {run.error}")
        reverts = run.reverts.filter(mode=RunMode.EXECUTE, status=RunStatus.SUCCEEDED).values_list("pk", flat=True)
        lines += [f"  reverted by run {revert}" for revert in reverts]
        lines.append(f"  in the admin: {reverse('admin:refs_backfillrun_change', args=[run.pk])}")
        return lines


def _not_found(run_id: int | None) -> str:
    """Which records exist, so a mistyped id (or an empty database) is obvious."""
    if not BackfillRun.objects.exists():
        return "there are no audit records yet: no run has been recorded in this database"
    span = BackfillRun.objects.aggregate(first=Min("pk"), last=Max("pk"), count=Count("pk"))
    asked = f"no audit record {run_id}" if run_id is not None else "no audit record"
    return (
        f"{asked}; {span['count']} record(s) exist, ids {span['first']}–{span['last']} "
        f"(the latest: python manage.py show_run --latest)"
    )
