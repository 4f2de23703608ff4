"""The rows a ``delete_insert`` load deletes, as the fact archive keeps them (``refs.archive``):
one archive row per delete scope with the rows' ids, the table's columns and every value as
text, put back exactly by ``revert_run`` — NULLs, numerics at the edges of their precision,
dates, text with tabs, newlines, backslashes and quotes —, matched by column name when the table
gained or lost a column since; and a run archived the earlier way (one JSON row per deleted
fact row, before migration 0010) is still reverted whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from refs.models import FactArchive
from tests.test_backfill import run
from tests.test_fact_archive import SCOPE, fact_ids_by_scope
from tests.test_revert import FACTS, FEBRUARY, checksums, job, kept, sample, small

AWKWARD = "tab\there, new\nline, back\\slash, \"double\" and 'single' quotes, (parens) {braces} NULL"


def rows_by_id() -> dict[int, dict[str, Any]]:
    """Every fact row, every column, as Python values (Decimal, date, str, None), by id."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {FACTS}")
        names = [column.name for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def awkward_values() -> None:
    """Give the loaded rows values whose text is hard to carry, and add one mostly NULL row."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {FACTS} SET "计划名称" = %s, "组合名称" = %s, "客户名称" = %s, "年金账户名" = %s, '
            '"期初资产规模" = 99999999999999.9999, "期末资产规模" = -0.0001, "供款" = 0, "流失" = NULL, '
            '"当期收益率" = 0.000001, "投资收益" = 1.5000 WHERE "计划代码" = %s',
            [AWKWARD, "", "NULL", " 前后空格 ", "P0001"],
        )
        cursor.execute(
            f'INSERT INTO {FACTS} ("月度", "业务类型", "计划类型", "计划代码") '
            f'SELECT "月度", "业务类型", "计划类型", %s FROM {FACTS} WHERE "计划代码" = %s',
            ["P9999", "P0001"],
        )


def test_deleted_rows_are_archived_per_scope_and_put_back_exactly(warehouse: None, tmp_path: Path) -> None:
    job(small(tmp_path, FEBRUARY))
    awkward_values()
    before, rows = checksums(), rows_by_id()
    expected = {scope: sorted(ids) for scope, ids in fact_ids_by_scope().items()}
    second = job(small(tmp_path, [{"计划代码": "P0001", "组合代码": "1", "供款": 7.0}], "again"))

    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT scope::text, fact_ids, "columns", cardinality("rows") FROM refs_factarchive '
            "WHERE run_id = %s AND kind = 'deleted'",
            [second],
        )
        archived = cursor.fetchall()
    assert {scope: sorted(ids) for scope, ids, _, _ in archived} == expected  # one archive row per scope
    assert all(columns == list(rows[min(rows)]) and n == len(ids) * len(columns) for _, ids, columns, n in archived)

    done = run("revert_run", str(second), "--execute")

    assert kept(done) == [] and done["facts_restored"] == len(rows)
    assert rows_by_id() == rows and rows[min(rows)]["计划名称"] == AWKWARD
    assert checksums() == before


@pytest.fixture
def extra_column() -> Iterator[None]:
    """A column 临时 the fact table has for the test only (dropped, with 备注, afterwards)."""
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE {FACTS} ADD COLUMN "临时" text')
    yield
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE {FACTS} DROP COLUMN IF EXISTS "临时", DROP COLUMN IF EXISTS "备注"')


def test_a_column_the_table_lost_or_gained_since_the_run_is_left_out_or_takes_its_default(
    warehouse: None, extra_column: None, tmp_path: Path
) -> None:
    job(small(tmp_path, FEBRUARY))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {FACTS} SET \"临时\" = 'archived with the row'")
    rows = rows_by_id()
    second = job(sample(tmp_path, "second", 2))  # the same month: deletes those rows
    with connection.cursor() as cursor:  # since the run: one column lost, one gained
        cursor.execute(f'ALTER TABLE {FACTS} DROP COLUMN "临时", ADD COLUMN "备注" text DEFAULT \'补\'')

    done = run("revert_run", str(second), "--execute")

    assert kept(done) == [] and done["facts_restored"] == len(rows)
    assert rows_by_id() == {
        fact_id: {**{k: v for k, v in row.items() if k != "临时"}, "备注": "补"} for fact_id, row in rows.items()
    }


def test_a_run_archived_one_json_row_per_deleted_fact_row_is_still_reverted_whole(
    warehouse: None, tmp_path: Path
) -> None:
    job(sample(tmp_path, "first", 1))
    after_first = checksums()
    scope = "jsonb_build_object(" + ", ".join(f"'{c}', t.\"{c}\"" for c in SCOPE) + ")"
    with connection.cursor() as cursor:  # the rows as runs before migration 0010 archived them
        cursor.execute(f"CREATE TEMP TABLE old_form AS SELECT id, {scope} AS scope, to_jsonb(t) AS row FROM {FACTS} t")
    second = job(sample(tmp_path, "second", 2))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM refs_factarchive WHERE run_id = %s AND kind = 'deleted'", [second])
        cursor.execute(
            'INSERT INTO refs_factarchive ("run_id", "table", "kind", "fact_id", "scope", "row") '
            "SELECT %s, %s, 'deleted', id, scope, row FROM old_form ORDER BY id",
            [second, FACTS],
        )
        cursor.execute("DROP TABLE old_form")
    assert FactArchive.objects.filter(run_id=second, kind="deleted", rows__isnull=True).count() > 1

    done = run("revert_run", str(second), "--execute")

    assert kept(done) == [] and done["facts_restored"] > 1
    assert checksums() == after_first
