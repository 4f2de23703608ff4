"""``manage.py backfill_refs``: derive reference candidates from the month's workbooks and insert
the missing ones (or fill their NULL cells). Plan-only unless ``--execute``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from jobs.command import JobCommand
from jobs.job_request import JobRequest
from refs.backfill import BackfillMode
from wdh.target_choice import target_choice, target_help


class Command(JobCommand):
    help = (
        "Derive the declared reference tables (annuity plans 年金计划, portfolios 组合计划, …) from the "
        "month's workbooks and backfill them. Plan-only (writes nothing) unless --execute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--targets",
            type=target_choice,
            default="all",
            metavar="NAMES",
            help=target_help("Which reference tables (default: %(default)s)"),
        )
        parser.add_argument(
            "--mode",
            choices=[m.value for m in BackfillMode],
            default=BackfillMode.INSERT_MISSING.value,
            help="insert_missing: insert absent keys; fill_null_only: fill NULL cells of present keys.",
        )
        parser.add_argument(
            "--check", action="store_true", help="Exit with code 4 when the plan is not empty (for monitoring)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["apply"]:
            self.finish(self.run_request(self.apply_request("backfill_refs", options), options))
            return
        request = JobRequest(
            command="backfill_refs",
            targets=options["targets"],
            backfill_mode=BackfillMode(options["mode"]),
            check=options["check"],
            **self.request_kwargs(options),
        )
        self.finish(self.run_request(request, options))
