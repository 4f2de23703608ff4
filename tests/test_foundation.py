"""Foundation: the real database, the warehouse tables, configuration and quoting."""

from __future__ import annotations

import pytest
from django.db import connection

from refs.models import AnnuityPlan
from wdh.identifiers import quote_ident, quote_qualified


def test_database_is_real_postgresql(db: None) -> None:
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 130000


def test_warehouse_tables_exist_under_configured_names(warehouse: None) -> None:
    assert AnnuityPlan._meta.db_table == '"mapping"."年金计划"'
    AnnuityPlan.objects.create(年金计划号="P0001", 计划全称="甲计划")
    with connection.cursor() as cursor:
        cursor.execute('SELECT "计划全称" FROM "mapping"."年金计划" WHERE "年金计划号" = %s', ["P0001"])
        assert cursor.fetchone() == ("甲计划",)


@pytest.mark.parametrize(
    ("schema", "name", "expected"),
    [
        ("mapping", "年金计划", '"mapping"."年金计划"'),
        ("", "年金计划", '"年金计划"'),
        (None, "t", '"t"'),
        ('we"ird', 'ta"ble', '"we""ird"."ta""ble"'),
    ],
)
def test_quote_qualified(schema: str | None, name: str, expected: str) -> None:
    assert quote_qualified(schema, name) == expected


def test_quote_ident_limit_is_bytes_not_characters() -> None:
    assert quote_ident("名" * 21) == '"' + "名" * 21 + '"'  # 63 bytes
    with pytest.raises(ValueError, match="64 bytes"):
        quote_ident("名" * 21 + "x")
