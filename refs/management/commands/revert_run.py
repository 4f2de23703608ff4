"""``manage.py revert_run RUN_ID``: undo one execute run. Plan-only unless ``--execute``."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from jobs.reversal import revert_run
from jobs.revert_report import revert_json, revert_lines
from jobs.revert_result import RevertRequest
from jobs.startup import StartupCommand
from refs.audit import run_context
from wdh.errors import ExitCode, WdhError
from wdh.escaping import json_printable, printable


class Command(StartupCommand):
    help = (
        "Undo one execute run of backfill_refs or run_job, in one transaction under the backfill lock: delete "
        "the reference keys it inserted, re-NULL the cells it filled, delete the fact rows it inserted and put "
        "back those its delete_insert deleted. What changed since (edited rows, keys still referenced by other "
        "facts, keys or scopes a later run touched) is kept and listed; the revert is then refused (exit 2, "
        "nothing written) unless --partial. Plan-only (the default, as for backfill_refs and run_job) unless "
        "--execute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int, help="Audit record id of the execute run to undo.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--plan-only", action="store_true", help="Show what the revert would do; write nothing (default)."
        )
        mode.add_argument("--execute", action="store_true", help="Revert, in one transaction.")
        parser.add_argument(
            "--partial", action="store_true", help="Revert what can be, keep (and list) what changed since."
        )
        parser.add_argument(
            "--format", choices=["text", "json"], default="text", help="Output format (default: %(default)s)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run_context()  # an unknown WDH_RUN_CONTEXT: refused before the record, as for the jobs
        except ValueError as exc:
            raise CommandError(str(exc), returncode=int(ExitCode.USER_ERROR)) from exc
        self.require_database()
        request = RevertRequest(
            run_id=options["run_id"],
            execute=options["execute"],
            partial=options["partial"],
            argv=tuple(sys.argv),
            options={key: options[key] for key in ("run_id", "execute", "partial", "format", "verbosity")},
            working_dir=os.getcwd(),
        )
        try:
            result = revert_run(request)
        except WdhError as exc:
            raise CommandError(str(exc), returncode=int(exc.exit_code)) from exc
        if options["format"] == "json":
            document = json.dumps(revert_json(result, verbosity=options["verbosity"]), ensure_ascii=False)
            self.stdout.write(json_printable(document))
        elif options["verbosity"] > 0:
            for line in revert_lines(result, verbosity=options["verbosity"]):
                self.stdout.write(printable(line))
        if result.exit_code != ExitCode.SUCCESS:
            message = printable(result.error, newlines=True)
            raise CommandError(f"{message} [audit record {result.audit_id}]", returncode=int(result.exit_code))
