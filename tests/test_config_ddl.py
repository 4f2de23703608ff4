"""``warehouse_ddl``: applying twice is a no-op, foreign keys included (issue 10 item 8), and a
broken configuration is its exit 2, not a system-check stop (issue 10 item 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

SCHEMAS = ("ddl_twice_business", "ddl_twice_mapping")


@pytest.fixture
def own_tables(use_config: Any, transactional_db: None) -> Iterator[None]:
    """The configuration pointed at schemas of this test only, dropped afterwards."""

    def edit(domain: dict[str, Any]) -> None:
        domain["facts"]["schema"] = SCHEMAS[0]
        domain["branches"]["schema"] = SCHEMAS[1]
        for target in domain["refs"].values():
            target["schema"] = SCHEMAS[1]

    use_config(edit)
    yield
    with connection.cursor() as cursor:
        for schema in SCHEMAS:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def foreign_keys() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE contype = 'f' AND nspname = ANY(%s) ORDER BY conname",
            [list(SCHEMAS)],
        )
        return [row[0] for row in cursor.fetchall()]


def test_apply_with_foreign_keys_twice_is_a_no_op(own_tables: None) -> None:
    call_command("warehouse_ddl", "--apply", "--with-foreign-keys", stderr=StringIO())
    created = foreign_keys()
    assert sorted(created) == sorted(
        [
            "组合计划_年金计划号_fk",
            "规模明细_计划代码_fk",
            "规模明细_组合代码_fk",
            "规模明细_产品线代码_fk",
            "规模明细_机构代码_fk",
        ]
    )
    call_command("warehouse_ddl", "--apply", "--with-foreign-keys", stderr=StringIO())
    assert foreign_keys() == created


def test_a_broken_configuration_is_exit_2_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "data_sources.yml"
    path.write_text("domains:\n  annuity_performance:\n    colour: blue\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "manage.py", "warehouse_ddl"],
        cwd=settings.BASE_DIR, env={**os.environ, "WDH_DATA_SOURCES": str(path)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "domains.annuity_performance.colour: unknown key" in done.stderr
    assert "SystemCheckError" not in done.stderr
