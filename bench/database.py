"""The benchmark's own database, its starting state, and table checksums.

The benchmark never touches the dev data: ``python -m bench`` creates database ``wdh_bench`` on
the server wdh would use (``DATABASE_URL``'s, or the embedded one) and points ``DATABASE_URL`` at
it before Django starts. Every measured step starts from the same state (:func:`state_reset`):
an empty fact table, no audit records, and reference tables holding exactly every other plan and
portfolio code of the workbook, with NULL in the updatable columns (so fill_null_only has cells
to fill) except one non-NULL column on every other seeded row (so its NULL guard has cells to skip).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

BENCH_DATABASE = "wdh_bench"
EXISTING_VALUE = "(既有值)"  # an existing non-NULL cell that fill_null_only must never overwrite


def bench_database_url(base_dir: Path) -> str:
    """Create ``wdh_bench`` (if missing) on wdh's server and return its URL. Writes the server's
    catalog only; runs before Django is set up."""
    import psycopg2
    from psycopg2 import errors, sql

    from wdh.database import configured_database

    server = configured_database(base_dir)  # starts the embedded server when DATABASE_URL is unset
    params = {"user": server["USER"], "password": server["PASSWORD"] or None, "host": server["HOST"] or None}
    params = {key: value for key, value in params.items() if value is not None}
    connection = psycopg2.connect(dbname=server["NAME"], port=server["PORT"] or None, **params, **server["OPTIONS"])
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE])
            if cursor.fetchone() is None:
                with contextlib.suppress(errors.DuplicateDatabase):
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DATABASE)))
    finally:
        connection.close()
    return database_url({**server, "NAME": BENCH_DATABASE})


def database_url(settings: dict[str, Any]) -> str:
    """A ``DATABASE_URL`` for a Django ``DATABASES`` entry (Unix-socket hosts as ``?host=``)."""
    user = quote(settings["USER"] or "", safe="")
    password = quote(settings["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings["HOST"] or ""
    name = quote(settings["NAME"], safe="")
    options = dict(settings.get("OPTIONS") or {})
    if host.startswith("/"):
        options["host"] = host
        host = ""
    netloc = credentials + host + (f":{settings['PORT']}" if settings.get("PORT") and host else "")
    query = "&".join(f"{key}={quote(str(value), safe='/')}" for key, value in options.items())
    return urlunsplit(("postgresql", netloc, "/" + name, query, ""))


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


def schema_setup() -> None:
    """``manage.py migrate`` and ``warehouse_ddl --apply`` on the current database. Writes."""
    from django.core.management import call_command

    from jobs.warehouse import warehouse_apply, warehouse_ddl
    from wdh.config import get_config
    from wdh.tables import DEFAULT_DOMAIN

    call_command("migrate", verbosity=0, interactive=False)
    warehouse_apply(warehouse_ddl(get_config().domain(DEFAULT_DOMAIN)))


@dataclass(frozen=True)
class Seed:
    """The reference keys present before every measured step (every other code, sorted)."""

    plans: tuple[str, ...]
    portfolios: tuple[str, ...]

    @classmethod
    def half_of(cls, plans: Sequence[str], portfolios: Sequence[str]) -> Seed:
        return cls(tuple(sorted(plans)[::2]), tuple(sorted(portfolios)[::2]))


def state_reset(domain: Any, seed: Seed) -> None:
    """Empty facts and audit records; reference tables holding exactly ``seed``. Writes the
    benchmark database (and refuses any other)."""
    from django.db import connection, transaction

    from refs.models import BackfillRun
    from wdh.postgres import copy_rows

    _refuse_foreign_database(connection.settings_dict["NAME"])
    plans, portfolios = domain.targets("plans,portfolios")  # the tables the benchmark seeds
    # Every table that points at a run (keys, cells, files, row errors, …), then the runs.
    details = [relation.related_model for relation in BackfillRun._meta.related_objects]
    audit = [model._meta.db_table for model in (*details, BackfillRun) if not isinstance(model, str)]
    tables = [domain.facts.qualified, plans.qualified_name, portfolios.qualified_name]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join([*tables, *(f'"{name}"' for name in audit)]))
        for target, keys in ((plans, seed.plans), (portfolios, seed.portfolios)):
            columns = [target.key[0], target.updatable[0]]
            copy_rows(target.qualified_name, columns, ([key, _existing(i)] for i, key in enumerate(keys)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(tables))  # the planner sees what a real warehouse has


def _existing(index: int) -> str | None:
    return EXISTING_VALUE if index % 2 else None


def _refuse_foreign_database(name: str) -> None:
    allowed = {BENCH_DATABASE, os.environ.get("WDH_BENCH_ALLOW_DATABASE", "")}
    if name not in allowed and not name.startswith("test_"):
        raise RuntimeError(f"the benchmark truncates tables; refusing to run on database {name!r}")


@dataclass(frozen=True)
class Digest:
    """Row count and md5 of a table's rows (as text, sorted): equal digests, equal tables."""

    rows: int
    md5: str


def table_digest(cursor: Any, qualified_name: str, columns: Sequence[str]) -> Digest:
    """Reads the table through ``cursor`` (Django's or psycopg2's)."""
    row = ", ".join('"' + column.replace('"', '""') + '"' for column in columns)
    cursor.execute(
        f"SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') "
        f"FROM (SELECT ROW({row})::text AS r FROM {qualified_name}) AS t"
    )
    count, md5 = cursor.fetchone()
    return Digest(int(count), str(md5))


def archived_deleted_rows(cursor: Any, run_id: int) -> int:
    """How many deleted fact rows run ``run_id``'s fact archive holds (``refs.archive``)."""
    from refs.models import ArchiveKind, FactArchive

    cursor.execute(
        f'SELECT coalesce(sum(coalesce(cardinality("fact_ids"), 1)), 0) FROM "{FactArchive._meta.db_table}" '
        'WHERE "run_id" = %s AND "kind" = %s',
        [run_id, ArchiveKind.DELETED.value],
    )
    return int(cursor.fetchone()[0])


def table_columns(cursor: Any, qualified_name: str) -> list[tuple[str, str]]:
    """``(column, SQL type)`` of a table, in order."""
    cursor.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        [qualified_name],
    )
    return [(str(name), str(kind)) for name, kind in cursor.fetchall()]


@contextlib.contextmanager
def raw_connection() -> Iterator[Any]:
    """A second session on the current database: plain psycopg2, no Django in between."""
    import psycopg2
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)  # Django's cursor class: the floors use psycopg2's own
    raw = psycopg2.connect(**params)
    try:
        yield raw
    finally:
        raw.close()
