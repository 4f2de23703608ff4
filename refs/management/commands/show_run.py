"""``manage.py show_run ID | --latest``: an audit record, readable in the terminal."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from refs.models import BackfillRun
from refs.record_text import record_lines
from wdh.errors import ExitCode


class Command(BaseCommand):
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

    def handle(self, *args: Any, **options: Any) -> None:
        run = self._run(options)
        if options["format"] == "json":
            self.stdout.write(json.dumps(run.summary, ensure_ascii=False, indent=2))
            return
        for line in record_lines(run, options["verbosity"]):
            self.stdout.write(line)

    def _run(self, options: dict[str, Any]) -> BackfillRun:
        if options["latest"] == (options["run_id"] is not None):
            raise CommandError("give either a record id or --latest", returncode=int(ExitCode.USER_ERROR))
        runs = BackfillRun.objects.all()
        run = runs.first() if options["latest"] else runs.filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError("no such audit record", returncode=int(ExitCode.USER_ERROR))
        return run
