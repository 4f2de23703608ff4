"""The fact archive ``revert_run`` takes a load back from (``refs.archive``): the rows a run
inserted are kept as one archive row per delete scope with their ids, not one per fact row; the
guard on inserted rows edited since still holds; and a run archived the earlier way (one
``inserted`` row per fact row, before migration 0009) is still reverted whole."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from django.db import connection, transaction

from refs.models import FactArchive
from tests.test_backfill import run
from tests.test_revert import FACTS, FEBRUARY, checksums, job, kept, refused, sample, small

SCOPE = ("月度", "业务类型", "计划类型")


def fact_ids_by_scope() -> dict[str, list[int]]:
    """The fact table's ids per delete scope (the scope as ``FactArchive.scope`` writes it)."""
    found: dict[str, list[int]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT jsonb_build_object(" + ", ".join(f"'{c}', \"{c}\"" for c in SCOPE) + f")::text, id "
            f"FROM {FACTS} ORDER BY id"
        )
        for scope, fact_id in cursor.fetchall():
            found[scope].append(fact_id)
    return found


def test_the_rows_a_run_inserted_are_archived_as_one_row_per_scope_with_their_ids(
    warehouse: None, tmp_path: Path
) -> None:
    run_id = job(sample(tmp_path, "a", 1))
    expected = fact_ids_by_scope()
    assert sum(map(len, expected.values())) > len(expected) > 1

    archived = FactArchive.objects.filter(run_id=run_id, kind="inserted")

    assert archived.count() == len(expected)
    with connection.cursor() as cursor:  # each archive row's scope, as the server renders the JSON
        cursor.execute(
            "SELECT scope::text, fact_ids, fact_id, row FROM refs_factarchive WHERE run_id = %s AND kind = %s",
            [run_id, "inserted"],
        )
        rows = cursor.fetchall()
    assert {scope: sorted(ids) for scope, ids, _, _ in rows} == expected
    assert all(fact_id is None and row is None for _, _, fact_id, row in rows)
    assert set(SCOPE) == set(archived.first().scope)  # type: ignore[union-attr]


def test_an_inserted_fact_row_edited_since_keeps_its_scope(warehouse: None, tmp_path: Path) -> None:
    first = job(small(tmp_path, FEBRUARY))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {FACTS} SET \"计划名称\" = 'edited' WHERE \"计划代码\" = 'P0002' RETURNING id")
        (edited,) = cursor.fetchone()
    before = checksums()

    summary = refused(str(first), "--execute")

    scopes = [entry for entry in summary["kept"] if entry["what"].startswith(f"facts {FACTS} scope")]
    assert [entry["reason"] for entry in scopes] == [f"1 of its rows were edited or deleted since (ids {edited})"]
    assert checksums() == before


def test_a_run_archived_one_row_per_inserted_fact_row_is_still_reverted_whole(warehouse: None, tmp_path: Path) -> None:
    before = checksums()
    first = job(sample(tmp_path, "a", 1))
    with transaction.atomic(), connection.cursor() as cursor:
        # The archive as runs before migration 0009 wrote it, with the fact rows it names written
        # in the same transaction (UPDATE … SET id = id), as a run writes both.
        cursor.execute(
            'INSERT INTO refs_factarchive ("run_id", "table", "kind", "fact_id", "scope") '
            "SELECT a.run_id, a.table, a.kind, x.id, a.scope FROM refs_factarchive a, unnest(a.fact_ids) AS x(id) "
            "WHERE a.run_id = %s AND a.kind = 'inserted' ORDER BY x.id",
            [first],
        )
        cursor.execute("DELETE FROM refs_factarchive WHERE run_id = %s AND fact_ids IS NOT NULL", [first])
        cursor.execute(f"UPDATE {FACTS} SET id = id")
    inserted = sum(map(len, fact_ids_by_scope().values()))
    assert FactArchive.objects.filter(run_id=first, kind="inserted").count() == inserted

    planned = run("revert_run", str(first))
    done = run("revert_run", str(first), "--execute")

    assert kept(done) == [] and done["facts_deleted"] == planned["facts_deleted"] > 0
    assert checksums() == before
