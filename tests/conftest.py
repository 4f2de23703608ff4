"""Test fixtures: a real PostgreSQL (DATABASE_URL or the embedded server), warehouse tables
created deliberately with the project's own DDL (the models stay unmanaged)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from wdh.config import get_config
from wdh.tables import DEFAULT_DOMAIN
from wdh.warehouse import warehouse_apply, warehouse_ddl


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    """After Django's test database exists, create the configured warehouse tables in it."""
    with django_db_blocker.unblock():
        warehouse_apply(warehouse_ddl(get_config().domain(DEFAULT_DOMAIN)))


def warehouse_tables() -> list[str]:
    domain = get_config().domain(DEFAULT_DOMAIN)
    tables = [domain.facts.qualified, *(t.qualified_name for t in domain.refs.values())]
    if domain.branches:
        tables.append(domain.branches.qualified)
    return tables


@pytest.fixture
def warehouse(transactional_db: None) -> Iterator[None]:
    """Empty warehouse tables with real commits (transactional test), emptied again after."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(warehouse_tables()))
    yield
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(warehouse_tables()))
