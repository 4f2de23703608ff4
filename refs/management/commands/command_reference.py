"""``manage.py command_reference [--write | --check]``: the README's command reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from wdh.docs import command_reference, readme_block, readme_write
from wdh.errors import ExitCode


class Command(BaseCommand):
    help = "Print the command reference generated from every command's --help (or update README.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--write", action="store_true", help="Rewrite the reference block in README.md.")
        action.add_argument("--check", action="store_true", help="Exit 2 when README.md is out of date.")

    def handle(self, *args: Any, **options: Any) -> None:
        readme = Path(settings.BASE_DIR) / "README.md"
        if options["write"]:
            changed = readme_write(readme)
            self.stderr.write("README.md updated." if changed else "README.md was up to date.")
        elif options["check"]:
            if readme_block(readme) != command_reference():
                raise CommandError(
                    "README.md's command reference is out of date: run python manage.py command_reference --write",
                    returncode=int(ExitCode.USER_ERROR),
                )
        else:
            self.stdout.write(command_reference())
