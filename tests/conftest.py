"""Test fixtures: a real PostgreSQL (DATABASE_URL or the embedded server), warehouse tables
created deliberately with the project's own DDL (the models stay unmanaged)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from jobs.warehouse import warehouse_apply, warehouse_ddl
from wdh.config import DomainConfig, get_config
from wdh.tables import DEFAULT_DOMAIN

pytest_plugins = ["tests.scenario"]  # the fault/concurrency scenario's fixtures


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    """After Django's test database exists, create every configured domain's warehouse tables in it."""
    with django_db_blocker.unblock():
        for domain in get_config().domains.values():
            warehouse_apply(warehouse_ddl(domain))


def warehouse_tables() -> list[str]:
    tables: dict[str, None] = {}
    for domain in get_config().domains.values():
        tables.update(dict.fromkeys([domain.facts.qualified, *(t.qualified_name for t in domain.refs.values())]))
        if domain.branches:
            tables[domain.branches.qualified] = None
    return list(tables)


@pytest.fixture
def warehouse(transactional_db: None) -> Iterator[None]:
    """Empty warehouse tables with real commits (transactional test), emptied again after.

    The table list is taken once, before the test can point the configuration elsewhere.
    """
    truncate = "TRUNCATE " + ", ".join(warehouse_tables())
    with connection.cursor() as cursor:
        cursor.execute(truncate)
    yield
    with connection.cursor() as cursor:
        cursor.execute(truncate)


@pytest.fixture
def use_config(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Point WDH_DATA_SOURCES at a modified copy of the shipped configuration.

    ``use_config(edit)`` calls ``edit(domain_dict)`` on the parsed YAML of domain
    annuity_performance, writes the result and returns the loaded ``DomainConfig``.
    """
    import yaml
    from django.conf import settings as django_settings

    from wdh.config import clear_config_cache

    shipped = Path(django_settings.BASE_DIR) / "wdh" / "data_sources.yml"

    def apply(edit: Any) -> Any:
        data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
        for each in data["domains"].values():  # the copy names the shipped mapping files
            each["mappings"] = {name: str(shipped.parent / relative) for name, relative in each["mappings"].items()}
        domain = data["domains"][DEFAULT_DOMAIN]
        edit(domain)
        path = tmp_path_factory.mktemp("config") / "data_sources.yml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        settings.WDH_DATA_SOURCES = path
        settings.WDH_MAPPINGS_DIR = shipped.parent / "mappings"  # the copy names the shipped files
        clear_config_cache()
        return get_config().domain(DEFAULT_DOMAIN)

    yield apply
    clear_config_cache()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for a ``manage.py`` child process that uses this test database."""
    import os

    params = connection.settings_dict
    host = params["HOST"]
    url = (
        f"postgresql://{params['USER']}@/{params['NAME']}?host={host}"
        if host.startswith("/")
        else (f"postgresql://{params['USER']}:{params['PASSWORD']}@{host}:{params['PORT'] or 5432}/{params['NAME']}")
    )
    return {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def domain(tmp_path: Path) -> DomainConfig:
    """The shipped domain (its real patterns and excludes) pointed at ``tmp_path``."""
    return dataclasses.replace(get_config().domain(DEFAULT_DOMAIN), base_dir=tmp_path)
