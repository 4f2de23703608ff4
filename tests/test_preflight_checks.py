"""Plan-only checks everything execute needs before its first write (issue 9 item 11): foreign
keys of the fact table and of 组合计划 against the keys the run carries, NOT NULL columns without
a default, columns the insert writes implicitly, and the privileges of the role wdh connects as.

Each case: plan-only exits 2 with the plan still shown and the problem with its fix; execute
refuses (exit 2, no traceback) and the warehouse is unchanged. The tables live in a schema of
their own, created by the project's DDL (``warehouse_ddl --with-foreign-keys``) and dropped after.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from jobs.warehouse import warehouse_apply, warehouse_ddl
from tests.processes import run_job_process
from tests.test_backfill import run, run_failing
from tests.workbooks import write_workbook
from wdh.identifiers import quote_ident

SCHEMA = "wdh_preflight"
PLANS = f'"{SCHEMA}"."年金计划"'
PORTFOLIOS = f'"{SCHEMA}"."组合计划"'
FACTS = f'"{SCHEMA}"."规模明细"'
ROLE = "wdh_preflight_role"
FILE_NAME = "2026年2月年金终稿数据.xlsx"
ROWS: list[dict[str, Any]] = [
    {"计划代码": "P0001", "计划名称": "甲计划", "组合代码": "1", "组合名称": "甲组合"},
    {"计划代码": "P0002", "计划名称": "乙计划", "组合代码": "2", "组合名称": "乙组合"},
]


def execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def contents() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the test schema's tables: equal before and after means nothing was written."""
    found = {}
    with connection.cursor() as cursor:
        for table in (PLANS, PORTFOLIOS, FACTS):
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1")
            found[table] = list(cursor.fetchall())
    return found


def build_domain(use_config: Any, *, foreign_keys: bool) -> Any:
    def edit(domain: dict[str, Any]) -> None:
        for target in domain["refs"].values():
            target["schema"] = SCHEMA
        domain["facts"]["schema"] = domain["branches"]["schema"] = SCHEMA

    domain = use_config(edit)
    warehouse_apply(warehouse_ddl(domain, foreign_keys=foreign_keys))
    return domain


@pytest.fixture
def own_schema(warehouse: None) -> Iterator[None]:
    yield
    execute(f"DROP SCHEMA IF EXISTS {quote_ident(SCHEMA)} CASCADE")


@pytest.fixture
def with_foreign_keys(own_schema: None, use_config: Any) -> Any:
    """The warehouse as ``warehouse_ddl --with-foreign-keys`` creates it: 组合计划.年金计划号 →
    年金计划, 规模明细.计划代码 → 年金计划, 规模明细.组合代码 → 组合计划."""
    return build_domain(use_config, foreign_keys=True)


@pytest.fixture
def plain(own_schema: None, use_config: Any) -> Any:
    return build_domain(use_config, foreign_keys=False)


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "data" / FILE_NAME, ROWS)


def assert_refused(args: tuple[str, ...], *fragments: str) -> dict[str, Any]:
    """Plan-only and execute of ``args`` both exit 2 naming every fragment; execute writes
    nothing. Returns the plan-only summary."""
    before = contents()
    error, planned = run_failing(*args)
    assert error.returncode == 2
    assert planned["status"] == "failed" and planned["exit_code"] == 2
    for fragment in fragments:
        assert fragment in planned["error"]["message"]
    assert (planned["error"]["where"], planned["error"]["stage"]) == ("", "preflight")  # the step says where
    error, executed = run_failing(*args, "--execute")
    assert error.returncode == 2 and executed["status"] == "failed"
    for fragment in fragments:
        assert fragment in executed["error"]["message"]
    assert contents() == before
    return planned


def test_foreign_keys_of_the_fact_table_need_the_referenced_keys(with_foreign_keys: Any, workbook: Path) -> None:
    planned = assert_refused(
        ("run_job", "--file", str(workbook)),
        f'the fact load would break the foreign key "规模明细_计划代码_fk" (计划代码 → {PLANS}): 2 key(s)',
        "(P0001, P0002); add --backfill-refs plans",
        f"(组合代码 → {PORTFOLIOS}): 2 key(s) are neither in {PORTFOLIOS} nor inserted by this run (1, 2); "
        "add --backfill-refs portfolios",
    )
    assert planned["facts"]["inserted"] == 2  # the plan is still shown
    assert any(s.startswith("-- 2 rows, ") and "\nINSERT INTO " in s for s in planned["statements"])


def test_plan_only_text_shows_the_plan_and_exits_2_with_the_fix(with_foreign_keys: Any, workbook: Path) -> None:
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("run_job", "--file", str(workbook), stdout=out, stderr=StringIO())
    assert caught.value.returncode == 2
    assert "add --backfill-refs plans" in str(caught.value) and "add --backfill-refs portfolios" in str(caught.value)
    shown = out.getvalue()
    assert "-- statements an execute run would send:" in shown
    assert "\n-- 2 rows, copied as they were cleansed" in shown and "\\n" not in shown  # own line breaks, not "\n"
    assert "run_job annuity_performance (plan-only): failed" in shown
    assert f"facts → {FACTS} (delete_insert): would delete 0 row(s) in 1 scope(s), would insert 2" in shown


def test_skip_facts_checks_no_fact_table(with_foreign_keys: Any, workbook: Path) -> None:
    """--skip-facts writes no fact: the fact table's foreign keys and privileges do not apply."""
    summary = run("run_job", "--file", str(workbook), "--backfill-refs", "plans", "--skip-facts", "--execute")
    assert summary["status"] == "succeeded"
    assert [row[0] for row in contents()[PLANS]] == ["P0001", "P0002"] and contents()[FACTS] == []


def test_keys_the_run_backfills_satisfy_the_foreign_keys(with_foreign_keys: Any, workbook: Path) -> None:
    execute(f"INSERT INTO {PLANS} (\"年金计划号\") VALUES ('P0001')")  # present already: no insert needed
    args = ("run_job", "--file", str(workbook), "--backfill-refs", "all")
    planned = run(*args)
    assert planned["status"] == "planned" and planned["exit_code"] == 0
    done = run(*args, "--execute")
    assert done["status"] == "succeeded" and done["facts"]["inserted"] == 2
    assert [row[0] for row in contents()[PORTFOLIOS]] == ["1", "2"]


def test_a_portfolio_needs_its_plan(with_foreign_keys: Any, workbook: Path) -> None:
    assert_refused(
        ("run_job", "--file", str(workbook), "--backfill-refs", "portfolios"),
        f'the portfolios backfill would break the foreign key "组合计划_年金计划号_fk" (年金计划号 → {PLANS}): '
        "2 key(s)",
        "add --backfill-refs plans",
    )


def test_backfill_refs_names_its_own_flag(with_foreign_keys: Any, workbook: Path) -> None:
    assert_refused(("backfill_refs", "--file", str(workbook), "--targets", "portfolios"), "add --targets plans")


def test_filling_a_portfolio_with_an_unknown_plan_is_refused(with_foreign_keys: Any, workbook: Path) -> None:
    execute(f"INSERT INTO {PORTFOLIOS} (\"组合代码\") VALUES ('1')")  # 年金计划号 NULL: fill would set P0001
    assert_refused(
        ("backfill_refs", "--file", str(workbook), "--targets", "portfolios", "--mode", "fill_null_only"),
        "(P0001); add --targets plans with --mode insert_missing",
    )


def test_not_null_column_without_default_that_wdh_does_not_derive(plain: Any, workbook: Path) -> None:
    execute(f'ALTER TABLE {PLANS} ALTER COLUMN "计划状态" SET NOT NULL')
    assert_refused(
        ("run_job", "--file", str(workbook), "--backfill-refs", "plans"),
        f'the column "计划状态" of {PLANS} is NOT NULL without a default and wdh does not derive it',
    )


def test_not_null_column_the_insert_sends_null(plain: Any, workbook: Path) -> None:
    """计划简称 gets a table default, so the insert names it (keeping NULL, as before the default
    existed) — and NOT NULL then refuses that NULL."""
    execute(f'ALTER TABLE {PLANS} ALTER COLUMN "计划简称" SET DEFAULT \'-\', ALTER COLUMN "计划简称" SET NOT NULL')
    assert_refused(
        ("run_job", "--file", str(workbook), "--backfill-refs", "all"),
        f'the column "计划简称" of {PLANS} is NOT NULL, and 2 of the 2 row(s) the plans backfill would insert '
        "have no value for it (年金计划号 P0001, 年金计划号 P0002)",
    )


def test_not_null_fact_column_added_to_the_table(plain: Any, workbook: Path) -> None:
    execute(f'ALTER TABLE {FACTS} ADD COLUMN "审核人" text NOT NULL')
    assert_refused(
        ("run_job", "--file", str(workbook)), f'the column "审核人" of {FACTS} is NOT NULL without a default'
    )


def test_column_the_insert_writes_implicitly_must_exist(plain: Any, workbook: Path) -> None:
    """是否统括 has a Django default, so every insert sends it though no rule derives it."""
    execute(f'ALTER TABLE {PLANS} DROP COLUMN "是否统括"')
    assert_refused(
        ("run_job", "--file", str(workbook), "--backfill-refs", "plans"),
        f'the plans backfill writes the column "是否统括", which {PLANS} does not have',
    )


def test_values_longer_than_the_table_column(plain: Any, workbook: Path) -> None:
    """The table, not the model, decides the width: a warehouse whose 计划全称 is varchar(2)."""
    execute(f'ALTER TABLE {PLANS} ALTER COLUMN "计划全称" TYPE varchar(2)')
    execute(f'ALTER TABLE {FACTS} ALTER COLUMN "组合名称" TYPE varchar(2)')
    assert_refused(
        ("run_job", "--file", str(workbook), "--backfill-refs", "plans"),
        f'2 value(s) the plans backfill would write into the column "计划全称" of {PLANS} are longer than its '
        "2 characters (年金计划号 P0001: '甲计划', 年金计划号 P0002: '乙计划')",
        f'2 value(s) the fact load would write into the column "组合名称" of {FACTS} are longer than its 2 characters',
    )


def test_filled_values_longer_than_the_table_column(plain: Any, workbook: Path) -> None:
    execute(f"INSERT INTO {PLANS} (\"年金计划号\") VALUES ('P0001')")
    execute(f'ALTER TABLE {PLANS} ALTER COLUMN "计划全称" TYPE varchar(2)')
    assert_refused(
        ("backfill_refs", "--file", str(workbook), "--targets", "plans", "--mode", "fill_null_only"),
        f'1 value(s) the plans backfill would write into the column "计划全称" of {PLANS} are longer than its '
        "2 characters ('甲计划')",
    )


@pytest.fixture
def role(plain: Any, subprocess_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A login role with every privilege a run needs; a test revokes one. Returns the
    environment of a child process that connects as it and reads the test's configuration."""
    grants = [
        f"CREATE ROLE {ROLE} LOGIN",
        f"GRANT USAGE ON SCHEMA public, mapping, {SCHEMA} TO {ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, mapping, {SCHEMA} TO {ROLE}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {ROLE}",
    ]
    if _role_exists():  # left by an interrupted earlier session (roles belong to the cluster)
        execute(f"DROP OWNED BY {ROLE}")
        execute(f"DROP ROLE {ROLE}")
    for grant in grants:
        execute(grant)
    user = connection.settings_dict["USER"]
    url = subprocess_env["DATABASE_URL"].replace(f"//{user}@", f"//{ROLE}@", 1).replace(f"//{user}:", f"//{ROLE}:", 1)
    yield {
        **subprocess_env,
        "DATABASE_URL": url,
        "WDH_DATA_SOURCES": str(settings.WDH_DATA_SOURCES),
        "WDH_MAPPINGS_DIR": str(settings.WDH_MAPPINGS_DIR),
    }
    execute(f"DROP OWNED BY {ROLE}")
    execute(f"DROP ROLE {ROLE}")


def _role_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE])
        return cursor.fetchone() is not None


def assert_refused_as_role(env: dict[str, str], args: tuple[str, ...], *fragments: str) -> dict[str, Any]:
    before = contents()
    planned = run_job_process(env, *args)
    summary: dict[str, Any] = json.loads(planned.stdout)
    assert (planned.returncode, summary["status"]) == (2, "failed"), planned.stderr
    for fragment in fragments:
        assert fragment in summary["error"]["message"]
    executed = run_job_process(env, *args, "--execute")
    assert executed.returncode == 2, executed.stderr
    assert "Traceback" not in executed.stderr
    for fragment in fragments:
        assert fragment in json.loads(executed.stdout)["error"]["message"]
    assert contents() == before
    return summary


def test_role_without_insert_on_the_plans_table(role: dict[str, str], workbook: Path) -> None:
    execute(f"REVOKE INSERT ON {PLANS} FROM {ROLE}")
    summary = assert_refused_as_role(
        role,
        ("run_job", "--file", str(workbook), "--backfill-refs", "all"),
        f'no INSERT privilege on {PLANS} (columns "年金计划号", "计划全称"',
        f"GRANT INSERT ON {PLANS} TO <the role wdh connects as>",
    )
    inserted = {target["target"]: target["inserted"] for target in summary["backfill"]["targets"]}
    assert (inserted["plans"], inserted["portfolios"]) == (2, 2)  # the plan is shown


def test_role_without_delete_on_the_fact_table(role: dict[str, str], workbook: Path) -> None:
    execute(f"REVOKE DELETE ON {FACTS} FROM {ROLE}")
    assert_refused_as_role(
        role, ("run_job", "--file", str(workbook)), f"no DELETE privilege on {FACTS}", "or load with --mode append"
    )
    appended = run_job_process(role, "run_job", "--file", str(workbook), "--mode", "append", "--execute")
    assert appended.returncode == 0, appended.stderr  # append needs no DELETE
    assert len(contents()[FACTS]) == 2


def test_role_without_usage_on_the_schema(role: dict[str, str], workbook: Path) -> None:
    execute(f"REVOKE USAGE ON SCHEMA {SCHEMA} FROM {ROLE}")
    assert_refused_as_role(
        role,
        ("run_job", "--file", str(workbook), "--backfill-refs", "all"),
        f'no USAGE privilege on the schema "{SCHEMA}"',
    )


def test_role_without_update_for_fill_null_only(role: dict[str, str], workbook: Path) -> None:
    execute(f"INSERT INTO {PLANS} (\"年金计划号\") VALUES ('P0001')")
    execute(f"REVOKE UPDATE ON {PLANS} FROM {ROLE}")
    assert_refused_as_role(
        role,
        ("backfill_refs", "--file", str(workbook), "--targets", "plans", "--mode", "fill_null_only"),
        f'no UPDATE privilege on {PLANS} (columns "计划全称"',
    )


def test_role_without_usage_on_the_sequence_of_a_serial_id(role: dict[str, str], workbook: Path) -> None:
    """A warehouse whose fact id is serial (not identity): the COPY leaves id out, so its
    default calls nextval on a sequence the role was never granted."""
    sequence = f'"{SCHEMA}"."规模明细_id_seq"'
    execute(f'ALTER TABLE {FACTS} ALTER COLUMN "id" DROP IDENTITY')
    execute(f'CREATE SEQUENCE {sequence} OWNED BY {FACTS}."id"')
    execute(f"ALTER TABLE {FACTS} ALTER COLUMN \"id\" SET DEFAULT nextval('{sequence}')")
    assert_refused_as_role(
        role,
        ("run_job", "--file", str(workbook)),
        f'no USAGE privilege on the sequence {sequence}, which gives the column "id" of {FACTS} its value',
    )
    execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {ROLE}")
    granted = run_job_process(role, "run_job", "--file", str(workbook), "--execute")
    assert granted.returncode == 0, granted.stderr
    assert len(contents()[FACTS]) == 2
