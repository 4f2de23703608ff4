"""``manage.py run_job``: the monthly pipeline — discover, read, cleanse, derive references,
backfill them, load the facts. Plan-only unless ``--execute``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from facts.loading import FactMode
from jobs.command import JobCommand
from jobs.job_request import JobRequest
from refs.backfill import BackfillMode
from wdh.errors import ExitCode
from wdh.target_choice import target_choice, target_help


class Command(JobCommand):
    applies_approved = True
    help = (
        "Run the monthly job: read the month's workbooks, cleanse them, optionally backfill the "
        "reference tables (--backfill-refs), then load the facts. Plan-only unless --execute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--mode",
            choices=[m.value for m in FactMode],
            default=FactMode.DELETE_INSERT.value,
            help="Fact load: delete the batch's key scopes then insert (default), or append.",
        )
        parser.add_argument(
            "--backfill-refs",
            type=target_choice,
            metavar="NAMES",
            help=target_help("Backfill these reference tables before loading facts"),
        )
        parser.add_argument(
            "--backfill-mode",
            choices=[m.value for m in BackfillMode],
            default=BackfillMode.INSERT_MISSING.value,
            help="Backfill mode (default: %(default)s).",
        )
        parser.add_argument("--skip-facts", action="store_true", help="Run everything except the fact load.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["apply_approved"]:
            self.apply_approved(options)
            return
        if options["apply"]:
            self.finish(self.run_request(self.apply_request("run_job", options), options))
            return
        if options["skip_facts"] and not options["backfill_refs"]:
            raise CommandError(
                "--skip-facts without --backfill-refs leaves nothing to do; add --backfill-refs all",
                returncode=int(ExitCode.USER_ERROR),
            )
        request = JobRequest(
            command="run_job",
            targets=options["backfill_refs"],
            backfill_mode=BackfillMode(options["backfill_mode"]),
            fact_mode=FactMode(options["mode"]),
            skip_facts=options["skip_facts"],
            **self.request_kwargs(options),
        )
        self.finish(self.run_request(request, options))
