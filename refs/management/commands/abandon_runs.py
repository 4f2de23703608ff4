"""``manage.py abandon_runs``: mark the unfinished audit records of this host whose process is
gone (killed, crashed, the machine rebooted) as ``abandoned``."""

from __future__ import annotations

import socket
from typing import Any

from jobs.startup import StartupCommand
from refs.audit import audit_abandon


class Command(StartupCommand):
    help = (
        "Mark 'running' backfill runs of this host whose process no longer exists as 'abandoned'. "
        "Prints the ids it marked, one per line. Records of other hosts are left alone."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.require_database()
        abandoned = audit_abandon()
        for run_id in abandoned:
            self.stdout.write(str(run_id))
        if options["verbosity"] > 0:
            host = socket.gethostname()
            notice = (
                f"marked {len(abandoned)} unfinished run(s) of host {host} abandoned"
                if abandoned
                else f"no unfinished run of host {host} has lost its process"
            )
            self.stderr.write(notice)
