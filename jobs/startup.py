"""How the commands that run jobs or read audit records start, whatever state the
configuration and the database are in.

- **Configuration.** Django runs every system check before a command, and the configuration
  check (:data:`refs.checks.CONFIGURATION_TAG`) fails on any mistake in ``data_sources.yml``.
  The job commands report that mistake themselves — exit 2 with its key path, in text and
  JSON, with an audit record — and ``show_run`` / ``abandon_runs`` read audit records only, so
  these commands run every check but that one; so does ``runserver``, which serves the admin
  (it reads audit records and reference rows only). ``manage.py check`` still runs it.
- **Database.** :func:`database_require_ready` tells an unreachable database (exit 1) from one
  where ``migrate`` never ran or is behind (exit 2), each in one sentence with the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core import checks
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from refs.checks import checks_except_configuration
from wdh.errors import ExitCode, WdhError

WDH_APPS = ("refs", "facts")


class DatabaseUnreachableError(WdhError):
    """The database cannot be reached (or refuses the connection)."""

    exit_code = ExitCode.FAILURE


class DatabaseNotMigratedError(WdhError):
    """The database is reachable, but wdh's own tables are missing or behind its migrations."""

    exit_code = ExitCode.USER_ERROR


class WithoutConfigurationCheck(BaseCommand):
    """Runs every system check but the configuration's (unless tags are asked for explicitly)."""

    def check(
        self,
        app_configs: Sequence[AppConfig] | None = None,
        tags: Sequence[str] | None = None,
        display_num_errors: bool = False,
        include_deployment_checks: bool = False,
        fail_level: int = checks.ERROR,
        databases: Sequence[str] | None = None,
    ) -> None:
        super().check(
            app_configs,
            tags if tags is not None else checks_except_configuration(),
            display_num_errors,
            include_deployment_checks,
            fail_level,
            databases,
        )


class StartupCommand(WithoutConfigurationCheck):
    """A command that starts with a broken configuration and checks the database itself."""

    def require_database(self) -> None:
        """:func:`database_require_ready`, as the command's error (one sentence, no traceback)."""
        try:
            database_require_ready()
        except WdhError as exc:
            raise CommandError(str(exc), returncode=int(exc.exit_code)) from exc


def database_require_ready() -> None:
    """Raise :class:`DatabaseUnreachableError` or :class:`DatabaseNotMigratedError` unless the
    database is reachable and every wdh migration is applied. Reads the database."""
    try:
        pending = _pending_migrations()
    except DatabaseError as exc:
        raise DatabaseUnreachableError(
            f"cannot reach the database ({' '.join(str(exc).split())}); nothing was read or written. "
            "Check that the server is up and DATABASE_URL is right, then run again."
        ) from exc
    if pending is None:
        raise DatabaseNotMigratedError("the database has no wdh tables: run `python manage.py migrate`")
    if pending:
        raise DatabaseNotMigratedError(
            f"the database's wdh tables are behind this version (migration(s) {', '.join(pending)} "
            "not applied): run `python manage.py migrate`"
        )


def _pending_migrations() -> list[str] | None:
    """Names of the unapplied wdh migrations; ``None`` when none was ever applied."""
    executor = MigrationExecutor(connection)
    applied = {key for key in executor.loader.applied_migrations if key[0] in WDH_APPS}
    if not applied:
        return None
    leaves = [key for key in executor.loader.graph.leaf_nodes() if key[0] in WDH_APPS]
    plan = executor.migration_plan(leaves)
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
