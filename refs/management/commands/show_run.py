"""``manage.py show_run ID | --latest``: an audit record, readable in the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone

from refs.models import BackfillRun
from refs.rejects import rejects_workbook
from wdh.errors import ExitCode

KEY_SAMPLE = 20


class Command(BaseCommand):
    help = "Show one backfill audit record: how the run ended, its files, counts, keys, cells and error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", nargs="?", type=int, help="Audit record id (as printed by the run).")
        parser.add_argument("--latest", action="store_true", help="Show the most recent record.")
        parser.add_argument(
            "--format", choices=["text", "json"], default="text", help="json: the run's summary object."
        )
        parser.add_argument(
            "--rejects",
            type=Path,
            metavar="PATH",
            help="Write the run's rejected rows to this .xlsx (original columns and values, row, column, problem).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run = self._run(options)
        if options["rejects"]:
            self._rejects(run, options["rejects"])
            return
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
            raise CommandError("no such audit record", returncode=int(ExitCode.USER_ERROR))
        return run

    def _rejects(self, run: BackfillRun, path: Path) -> None:
        if run.row_errors and not run.rejects.exists():
            raise CommandError(
                f"audit record {run.pk} counts {run.row_errors} row error(s) but kept no rejected rows "
                "(it was recorded before wdh kept them); nothing written. Run the job again plan-only "
                "to record them.",
                returncode=int(ExitCode.USER_ERROR),
            )
        try:
            count = rejects_workbook(run, path)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}", returncode=int(ExitCode.USER_ERROR)) from exc
        self.stdout.write(f"wrote {count} rejected row(s) of audit record {run.pk} to {path}")

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
        lines.append(f"  in the admin: {reverse('admin:refs_backfillrun_change', args=[run.pk])}")
        return lines
