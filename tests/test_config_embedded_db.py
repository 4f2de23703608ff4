"""``manage.py embedded_db --status | --stop`` (issue 10 item 8): a real command that reports on
and stops the embedded server without starting it. Uses a server of its own (WDH_PGDATA), never
the one the tests run on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.processes import wait_until


def manage(pgdata: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR, env={**env, "WDH_PGDATA": str(pgdata)}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_status_of_a_server_never_started_starts_nothing(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    done = manage(pgdata, "embedded_db", "--status")
    assert done.returncode == 0, done.stderr
    assert f"the embedded server of {pgdata} is not running" in done.stdout
    assert not pgdata.exists()


@pytest.fixture
def own_pgdata() -> Iterator[Path]:
    """A data directory beside the project's own (.wdh/): pgserver, run as root, hands it to its
    "pgserver" user, which cannot enter pytest's private temporary folders."""
    pgdata = Path(settings.BASE_DIR) / ".wdh" / f"pgdata-embedded-db-test-{os.getpid()}"
    yield pgdata
    manage(pgdata, "embedded_db", "--stop")
    shutil.rmtree(pgdata, ignore_errors=True)


def test_stop_stops_a_running_server(own_pgdata: Path) -> None:
    pgdata = own_pgdata
    assert manage(pgdata, "check").returncode == 0  # any command starts the embedded server
    running = manage(pgdata, "embedded_db", "--status")
    assert "is running (pid" in running.stdout
    pid = int(running.stdout.split("(pid ")[1].split(",")[0])
    assert process_exists(pid)
    stopped = manage(pgdata, "embedded_db", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the embedded server (pid {pid})" in stopped.stdout
    wait_until(lambda: not process_exists(pid), what="the server's postmaster has exited")
    assert "is not running" in manage(pgdata, "embedded_db", "--status").stdout
    assert "was not running" in manage(pgdata, "embedded_db", "--stop").stdout
