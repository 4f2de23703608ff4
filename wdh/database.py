"""Which PostgreSQL the project talks to: ``DATABASE_URL``, or an embedded server.

With no ``DATABASE_URL`` the ``pgserver`` package runs a private PostgreSQL 16 whose data lives
under ``.wdh/pgdata`` (``WDH_PGDATA`` overrides) and which listens only on a Unix socket inside
that directory. The server is left running when the process exits (``cleanup_mode=None``) so
cron runs, test workers and concurrent runs share it; ``python manage.py embedded_db --stop``
stops it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI); pgserver then falls back
        # to a socket directory under /tmp, which is what we want anyway.
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only needed when no DATABASE_URL is set

        server = pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
    settings = database_from_url(server.get_uri("postgres"))
    _ensure_database(settings, EMBEDDED_DB_NAME)
    settings["NAME"] = EMBEDDED_DB_NAME
    return settings


def _ensure_database(settings: dict[str, Any], name: str) -> None:
    import psycopg2
    from psycopg2 import errors, sql

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


def configured_database(base_dir: Path) -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "").strip()
    entry = database_from_url(url) if url else embedded_database(base_dir)
    entry.setdefault("CONN_MAX_AGE", 0)
    entry["TEST"] = {"NAME": os.environ.get("WDH_TEST_DATABASE") or None}
    return entry
