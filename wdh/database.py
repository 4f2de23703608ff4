"""Which PostgreSQL the project talks to: ``DATABASE_URL``, or an embedded server.

With no ``DATABASE_URL`` the ``pgserver`` package runs a private PostgreSQL 16 whose data lives
under ``.wdh/pgdata`` (``WDH_PGDATA`` overrides) and which listens only on a Unix socket inside
that directory. The server is left running when the process exits (``cleanup_mode=None``) so
cron runs, test workers and concurrent runs share it; ``python manage.py embedded_db --stop``
stops it and ``--status`` says whether it runs. That command starts nothing: in its process the
settings do not start the server (:func:`configured_database`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg2
from psycopg2 import errors, sql

EMBEDDED_DB_NAME = "wdh"


def database_from_url(url: str) -> dict[str, Any]:
    """Django ``DATABASES`` entry for a ``postgres://`` / ``postgresql://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"DATABASE_URL must start with postgresql://, not {parts.scheme}://")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = query.pop("host", None) or unquote(parts.hostname or "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": query,
    }


def embedded_pgdata(base_dir: Path) -> Path:
    return Path(os.environ.get("WDH_PGDATA") or base_dir / ".wdh" / "pgdata").resolve()


def embedded_database(base_dir: Path) -> dict[str, Any]:
    """Start (or attach to) the embedded server and return its ``DATABASES`` entry."""
    pgdata = embedded_pgdata(base_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgserver = _pgserver()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs again, as in _pgserver
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    settings = database_from_url(server.get_uri("postgres"))
    _ensure_database(settings, EMBEDDED_DB_NAME)
    settings["NAME"] = EMBEDDED_DB_NAME
    return settings


def _pgserver() -> Any:
    """The ``pgserver`` package, imported only when no DATABASE_URL is set (a deployment with
    ``DATABASE_URL`` never loads it) and with its import-time warnings silenced; not a cycle."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI); pgserver then falls back
        # to a socket directory under /tmp, which is what we want anyway.
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def _ensure_database(settings: dict[str, Any], name: str) -> None:
    connection = psycopg2.connect(dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"])
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                with contextlib.suppress(errors.DuplicateDatabase):  # a concurrent first start
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


@dataclass(frozen=True)
class EmbeddedServer:
    """What ``postmaster.pid`` in the data directory says about the embedded server."""

    pgdata: Path
    pid: int | None  # None: not running
    socket_dir: Path | None = None


def embedded_status(base_dir: Path) -> EmbeddedServer:
    """Whether the embedded server of ``base_dir`` runs. Reads its data directory; starts nothing."""
    pgdata = embedded_pgdata(base_dir)
    info = _pgserver().utils.PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return EmbeddedServer(pgdata, None)
    return EmbeddedServer(pgdata, info.pid, info.socket_dir)


def embedded_stop(base_dir: Path) -> EmbeddedServer:
    """Stop the embedded server (``pg_ctl stop``, fast mode: open sessions are disconnected and
    their transactions rolled back). Returns its state before; a stopped server is left alone."""
    server = embedded_status(base_dir)
    if server.pid is not None:
        # As root, pgserver runs PostgreSQL as its own "pgserver" user; pg_ctl must run as it too.
        user = "pgserver" if os.geteuid() == 0 else None
        _pgserver().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=user)
    return server


def _manages_embedded_server() -> bool:
    """Whether this process is ``manage.py embedded_db``, which must not start the server it
    reports on or stops."""
    return len(sys.argv) > 1 and sys.argv[1] == "embedded_db"


def configured_database(base_dir: Path) -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        entry = database_from_url(url)
    elif _manages_embedded_server():
        entry = {"ENGINE": "django.db.backends.postgresql", "NAME": EMBEDDED_DB_NAME, "HOST": "", "OPTIONS": {}}
    else:
        entry = embedded_database(base_dir)
    entry.setdefault("CONN_MAX_AGE", 0)
    entry["TEST"] = {"NAME": os.environ.get("WDH_TEST_DATABASE") or None}
    return entry
