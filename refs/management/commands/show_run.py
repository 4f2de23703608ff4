"""``manage.py show_run ID | --latest``: an audit record, readable in the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import Count, Max, Min

from jobs.startup import StartupCommand
from refs.models import BackfillRun
from refs.record_text import record_lines
from refs.rejects import rejects_workbook
from wdh.errors import ExitCode
from wdh.escaping import json_printable, printable


class Command(StartupCommand):
    help = (
        "Show one backfill audit record: how the run ended, its files, row counts and row errors, "
        "per-target counts, keys and error."
    )

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
        self.require_database()
        run = self._run(options)
        if options["rejects"]:
            self._rejects(run, options["rejects"])
            return
        if options["format"] == "json":
            self.stdout.write(json_printable(json.dumps(run.summary, ensure_ascii=False, indent=2)))
            return
        for line in record_lines(run, options["verbosity"]):
            self.stdout.write(printable(line))  # keys and values from workbooks: nothing raw on a terminal

    def _run(self, options: dict[str, Any]) -> BackfillRun:
        if options["latest"] == (options["run_id"] is not None):
            raise CommandError("give either a record id or --latest", returncode=int(ExitCode.USER_ERROR))
        runs = BackfillRun.objects.all()
        run = runs.first() if options["latest"] else runs.filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(_not_found(options["run_id"]), returncode=int(ExitCode.USER_ERROR))
        return run

    def _rejects(self, run: BackfillRun, path: Path) -> None:
        if run.row_errors and not run.row_error_items.exists():
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
