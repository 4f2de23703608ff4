"""``manage.py warehouse_ddl [--apply]``: the DDL of the configured warehouse tables."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from facts.domain import domain_configured, domains_registered
from jobs.startup import StartupCommand
from jobs.warehouse import warehouse_apply, warehouse_ddl
from wdh.config import get_config
from wdh.errors import WdhError
from wdh.tables import DEFAULT_DOMAIN


class Command(StartupCommand):
    help = (
        "Print (or, with --apply, run in one transaction) the CREATE statements for the "
        "configured schemas, reference tables, fact table and branch table. Existing tables "
        "and foreign keys are left as they are, so applying twice changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        names = ", ".join(domains_registered())
        help_text = f"Configured domain, one of the installed sheet types: {names} (default: %(default)s)."
        parser.add_argument("--domain", default=DEFAULT_DOMAIN, help=help_text)
        parser.add_argument("--apply", action="store_true", help="Run the statements instead of printing them.")
        parser.add_argument(
            "--with-foreign-keys",
            action="store_true",
            help="Also add the foreign keys facts → references and portfolios → plans.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            domain = domain_configured(get_config().domain(options["domain"]))
            statements = warehouse_ddl(domain, foreign_keys=options["with_foreign_keys"])
        except WdhError as exc:
            raise CommandError(str(exc), returncode=exc.exit_code) from exc
        if not options["apply"]:
            self.stdout.write(";\n\n".join(statements) + ";")
            return
        try:
            warehouse_apply(statements)
        except DatabaseError as exc:
            raise CommandError(f"warehouse_ddl --apply failed, nothing was created: {exc}".strip()) from exc
        if options["verbosity"] > 0:
            self.stderr.write(f"Applied {len(statements)} statements.")
