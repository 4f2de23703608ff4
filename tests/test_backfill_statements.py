"""The backfill's statements (issue 13 item 3): one read, one row lock and one update per target
whatever ``--chunk-size`` (only the INSERTs are chunked); keys and values with every character
an array literal or a JSON document must escape reach PostgreSQL unchanged, in the INSERT's
arrays too; a plan's cells are plain tuples, which the garbage collector stops tracking."""

from __future__ import annotations

import gc
import re
from pathlib import Path

from django.db import connection, transaction
from django.db.models import F

from refs.backfill import BackfillMode, backfill_plan
from refs.derivation import derive_candidates
from refs.fill_query import AnyOf, fill_update
from refs.insertion import Inserter, unnest_text_arrays
from refs.models import AnnuityPlan
from tests.test_backfill import ROWS, by_target, run
from tests.test_job_plan import sent
from tests.workbooks import write_workbook
from wdh.config import get_config
from wdh.postgres import text_array

PLANS = '"mapping"."年金计划"'
HOSTILE = ['a"b', "c\\d", "e,f", "{g}", "NULL", " h ", "", "甲 计划", '\\"', "i'j"]


def test_text_array_round_trips_every_character_through_postgresql(warehouse: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::text[])", [text_array(HOSTILE)])
        assert [row[0] for row in cursor.fetchall()] == HOSTILE


def test_text_array_without_a_character_to_escape_round_trips_with_nulls_and_when_empty(warehouse: None) -> None:
    plain = [key for key in HOSTILE if "\\" not in key and '"' not in key]  # joined whole, not escaped one by one
    with connection.cursor() as cursor:
        for values in (plain, [None, *plain, None], [None], [], ["甲"]):
            cursor.execute("SELECT %s::text[]", [text_array(values)])
            assert cursor.fetchone()[0] == values


def test_hostile_keys_are_found_and_filled_with_their_exact_values(warehouse: None) -> None:
    keys = [key for key in HOSTILE if key]
    for key in keys:
        AnnuityPlan.objects.create(年金计划号=key)
    AnnuityPlan.objects.create(年金计划号="other")
    assert sorted(AnnuityPlan.objects.filter(AnyOf(F("pk"), keys)).values_list("pk", flat=True)) == sorted(keys)

    values = {"客户名称": {key: f'{key}"\\{{}}' for key in keys}, "计划全称": {keys[0]: "only the first"}}
    query, updates = fill_update(AnnuityPlan, values, keys)
    with transaction.atomic():
        assert query.update(**updates) == len(keys)
    after = {plan.pk: plan for plan in AnnuityPlan.objects.all()}
    assert {key: after[key].客户名称 for key in keys} == values["客户名称"]
    assert after[keys[0]].计划全称 == "only the first" and after[keys[1]].计划全称 is None  # no value: stays NULL
    assert after["other"].客户名称 is None


def test_fill_reads_locks_and_updates_once_per_target_whatever_the_chunk_size(warehouse: None, tmp_path: Path) -> None:
    workbook = write_workbook(tmp_path / "data" / "2026年2月年金终稿数据.xlsx", ROWS)
    run("backfill_refs", "--file", str(workbook), "--targets", "plans", "--execute")
    AnnuityPlan.objects.update(客户名称=None)
    args = ("--file", str(workbook), "--targets", "plans", "--mode", "fill_null_only", "--chunk-size", "1")
    with sent() as statements:
        done = run("backfill_refs", *args, "--execute")
    assert by_target(done)["plans"]["cells_filled"] == {"客户名称": 3}
    on_plans = [s for s in statements if re.search(rf"(FROM|UPDATE) {re.escape(PLANS)}", s)]
    reads = [s for s in on_plans if s.startswith("SELECT") and "= ANY(" in s and not s.endswith("FOR UPDATE")]
    locks = [s for s in on_plans if s.startswith("SELECT") and s.endswith("FOR UPDATE")]
    updates = [s for s in on_plans if s.startswith("UPDATE")]
    assert (len(reads), len(locks), len(updates)) == (1, 1, 1), on_plans


def test_a_plans_cells_are_tuples_the_garbage_collector_does_not_track(warehouse: None) -> None:
    domain = get_config().domain("annuity_performance")
    target = domain.targets("plans")[0]
    rows = [{"计划代码": f"P{n:04d}", "计划名称": f"计划{n}", "客户名称": f"客户{n}"} for n in range(50)]
    derivation = derive_candidates(rows, target)
    AnnuityPlan.objects.bulk_create([AnnuityPlan(年金计划号=f"P{n:04d}") for n in range(50)])
    with transaction.atomic():
        plan = backfill_plan(derivation=derivation, mode=BackfillMode.FILL_NULL_ONLY, chunk_size=7)
    assert len(plan.fills) >= 100
    gc.collect()
    assert not any(gc.is_tracked(cell) for cell in plan.fills)


def test_the_inserts_text_arrays_go_as_array_literals_and_insert_every_value_as_it_is(warehouse: None) -> None:
    target = get_config().domain("annuity_performance").targets("plans")[0]
    insert = Inserter.of(target)
    values = [*HOSTILE, None]
    rows = [{"年金计划号": f"K{n:02d}", "计划全称": value, "客户名称": "甲"} for n, value in enumerate(values)]
    with transaction.atomic():
        insert.insert(rows, batch_size=4)  # chunks of 4, and a last chunk of 3
    inserted = dict(AnnuityPlan.objects.values_list("pk", "计划全称"))
    assert inserted == {f"K{n:02d}": value for n, value in enumerate(values)}
    assert set(AnnuityPlan.objects.values_list("是否统括", flat=True)) == {0}  # a number column: psycopg2's array

    passed: list[object] = []
    sql = 'INSERT INTO "t" ("a", "b") SELECT * FROM UNNEST((%s)::varchar[], (%s)::smallint[])'
    unnest_text_arrays(lambda *args: passed.extend(args[1]), sql, [['a"b', None, "NULL"], [0, 1]], False, {})
    assert passed == ['{"a\\"b",NULL,"NULL"}', [0, 1]]
