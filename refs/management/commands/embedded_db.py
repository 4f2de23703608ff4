"""``manage.py embedded_db --status | --stop``: the embedded PostgreSQL of this checkout."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from wdh.database import EmbeddedServer, embedded_status, embedded_stop


class Command(BaseCommand):
    help = (
        "Say whether the embedded PostgreSQL server (used when DATABASE_URL is unset; data in "
        ".wdh/pgdata or WDH_PGDATA) is running, or stop it. Starts nothing: the next wdh command "
        "that needs it starts it again."
    )
    requires_system_checks: list[str] = []  # it reads neither the configuration nor the database

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--status", action="store_true", help="Print whether the server is running.")
        action.add_argument(
            "--stop", action="store_true", help="Stop the server; open sessions are disconnected (rolled back)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["stop"]:
            server = embedded_stop(settings.BASE_DIR)
            self.stdout.write(
                f"stopped the embedded server (pid {server.pid}) of {server.pgdata}"
                if server.pid
                else f"the embedded server of {server.pgdata} was not running"
            )
        else:
            self.stdout.write(_status_line(embedded_status(settings.BASE_DIR)))
        if os.environ.get("DATABASE_URL", "").strip():
            self.stderr.write("note: DATABASE_URL is set, so wdh commands use that server, not the embedded one")


def _status_line(server: EmbeddedServer) -> str:
    if server.pid is None:
        return f"the embedded server of {server.pgdata} is not running"
    return f"the embedded server of {server.pgdata} is running (pid {server.pid}, socket in {server.socket_dir})"
