"""Identifiers and injection, against the database: every schema, table and column name the
configuration supplies may hold ``"``, ``;``, spaces, SQL keywords and Chinese — the whole job
works and nothing else in the database is touched; a name the database layer cannot carry is
refused with its key path; cell values that look like SQL are stored verbatim.

The test builds its own statements with psycopg2's ``sql.Identifier``, never with the code
under test, so a quoting mistake cannot hide behind itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from psycopg2 import sql

from jobs.warehouse import warehouse_apply, warehouse_ddl
from tests.test_backfill import by_target, run, run_failing
from tests.workbooks import write_workbook
from wdh.config import DomainConfig
from wdh.errors import ConfigError

FILE_NAME = "2026年2月年金终稿数据.xlsx"
NAMES = {
    "facts schema": 'biz"; DROP SCHEMA "mapping" CASCADE; --',
    "facts table": "规模 明细; SELECT 1",
    "plans schema": "select",
    "plans table": '年金"计划 ; DELETE FROM "mapping"."年金计划"',
    "portfolios schema": "ORDER BY",
    "portfolios table": '组合 计划"',
    "branches schema": "from",
    "branches table": '组织"架构 )',
    "branch name column": '机构 名"称; --',
    "branch code column": "code) ; DROP TABLE wdh_sentinel; --",
}
SENTINEL = "wdh_sentinel"


def ident(*parts: str) -> str:
    """``"a"."b"`` as psycopg2 quotes it (independent of wdh.identifiers)."""
    connection.ensure_connection()
    return str(sql.Identifier(*parts).as_string(connection.connection))


def select(table: str, columns: str = "*", where: str = "") -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} {where} ORDER BY 1")
        return list(cursor.fetchall())


def exists(qualified: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [qualified])
        return bool(cursor.fetchone()[0])


@pytest.fixture
def hostile(warehouse: None, use_config: Any) -> Iterator[DomainConfig]:
    """Every configurable name hostile; the tables created, a branch mapped, a sentinel table."""

    def edit(domain: dict[str, Any]) -> None:
        domain["facts"].update(schema=NAMES["facts schema"], table=NAMES["facts table"])
        for target in ("plans", "portfolios"):
            domain["refs"][target].update(schema=NAMES[f"{target} schema"], table=NAMES[f"{target} table"])
        domain["branches"] = {
            "schema": NAMES["branches schema"],
            "table": NAMES["branches table"],
            "name_column": NAMES["branch name column"],
            "code_column": NAMES["branch code column"],
        }

    domain = use_config(edit)
    warehouse_apply(warehouse_ddl(domain))
    branches = ident(NAMES["branches schema"], NAMES["branches table"])
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {SENTINEL} (note text)")
        cursor.execute(f"INSERT INTO {SENTINEL} VALUES ('untouched')")
        cursor.execute(
            f"INSERT INTO {branches} ({ident(NAMES['branch name column'])}, {ident(NAMES['branch code column'])}) "
            "VALUES (%s, %s)",
            ["某分公司", "G88"],
        )
    yield domain
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SENTINEL}")
        for key in ("facts schema", "plans schema", "portfolios schema", "branches schema"):
            cursor.execute(f"DROP SCHEMA IF EXISTS {ident(NAMES[key])} CASCADE")


def test_hostile_names_from_configuration_work_and_inject_nothing(hostile: DomainConfig, tmp_path: Path) -> None:
    facts = ident(NAMES["facts schema"], NAMES["facts table"])
    plans = ident(NAMES["plans schema"], NAMES["plans table"])
    portfolios = ident(NAMES["portfolios schema"], NAMES["portfolios table"])
    assert (hostile.facts.qualified, hostile.refs["plans"].qualified_name) == (facts, plans)
    rows = [
        {"计划代码": "P0001", "组合代码": "1", "机构": "某分公司", "机构代码": "G01"},
        {"计划代码": "P0002", "组合代码": "2"},
    ]
    workbook = write_workbook(tmp_path / FILE_NAME, rows)
    args = ("run_job", "--file", str(workbook), "--backfill-refs", "all")

    planned = run(*args)
    assert planned["status"] == "planned"
    assert any(facts in statement for statement in planned["statements"])
    assert any(plans in statement for statement in planned["statements"])
    first = run(*args, "--execute")
    again = run(*args, "--execute")

    assert first["status"] == again["status"] == "succeeded"
    assert by_target(first)["plans"]["keys"] == ["P0001", "P0002"] and by_target(again)["plans"]["inserted"] == 0
    assert (first["facts"]["deleted"], first["facts"]["inserted"]) == (0, 2)
    assert (again["facts"]["deleted"], again["facts"]["inserted"]) == (2, 2)  # DELETE through the hostile name
    assert select(facts, '"计划代码", "机构代码"') == [("P0001", "G88"), ("P0002", "G01")]  # the branch table read
    assert [row[0] for row in select(plans)] == ["P0001", "P0002"]
    assert [row[0] for row in select(portfolios)] == ["1", "2"]
    assert select(SENTINEL) == [("untouched",)]
    for table in ('"mapping"."年金计划"', '"mapping"."组合计划"', '"business"."规模明细"'):
        assert exists(table) and select(table) == []  # the default tables: neither dropped nor written


@pytest.mark.parametrize(
    ("key", "path"),
    [
        (("facts", "table"), "domains.annuity_performance.facts.table"),
        (("refs", "plans", "schema"), "domains.annuity_performance.refs.plans.schema"),
        (("branches", "code_column"), "domains.annuity_performance.branches.code_column"),
    ],
)
def test_a_name_with_a_percent_sign_is_refused_with_its_key_path(
    warehouse: None, use_config: Any, tmp_path: Path, key: tuple[str, ...], path: str
) -> None:
    """psycopg2 would read ``%s`` in a name as a placeholder, and Django does not escape it."""

    def edit(domain: dict[str, Any]) -> None:
        node = domain
        for part in key[:-1]:
            node = node[part]
        node[key[-1]] = "年金%s计划"

    with pytest.raises(ConfigError, match="parameter placeholder"):
        use_config(edit)
    workbook = write_workbook(tmp_path / FILE_NAME, [{"计划代码": "P0001"}])
    error, summary = run_failing("run_job", "--file", str(workbook), "--execute", "--backfill-refs", "all")
    assert error.returncode == 2
    assert path in str(error) and "'年金%s计划' contains '%'" in str(error)
    assert summary["status"] == "failed"
    assert select('"mapping"."年金计划"') == [] and select('"business"."规模明细"') == []


SQL_LOOKING = {  # codes without whitespace: a code loses all of it (facts.codes)
    "计划代码": 'P1\');DROP/**/TABLE"MAPPING"."年金计划";--',
    "计划名称": '\'); DELETE FROM "mapping"."年金计划"; --',
    "组合代码": "Q'||(SELECT/**/1)||'",
    "组合名称": "Robert'); DROP TABLE Students;--",
    "组合类型": "1' OR '1'='1",
    "机构": "%s %%\\N\\.",  # 主拓机构 is varchar(10)
    "客户名称": '"; COPY x FROM PROGRAM \'id\'; -- ,"a,b"',
}


def test_cell_values_that_look_like_sql_are_stored_verbatim(warehouse: None, tmp_path: Path) -> None:
    workbook = write_workbook(tmp_path / FILE_NAME, [SQL_LOOKING])
    args = ("run_job", "--file", str(workbook), "--backfill-refs", "all", "--verbosity", "2")
    planned = run(*args)
    executed = run(*args, "--execute")

    assert executed["status"] == "succeeded"
    for value in SQL_LOOKING.values():  # values are bound, never part of a statement
        assert not any(value in statement for statement in planned["statements"] + executed["statements"])
    fact = select(
        '"business"."规模明细"', '"计划代码", "计划名称", "组合代码", "组合名称", "组合类型", "机构名称", "年金账户名"'
    )
    assert fact == [
        (
            SQL_LOOKING["计划代码"], SQL_LOOKING["计划名称"], SQL_LOOKING["组合代码"], SQL_LOOKING["组合名称"],
            SQL_LOOKING["组合类型"], SQL_LOOKING["机构"], SQL_LOOKING["客户名称"],
        )
    ]  # fmt: skip
    assert select('"mapping"."年金计划"', '"年金计划号", "计划全称"') == [
        (SQL_LOOKING["计划代码"], SQL_LOOKING["计划名称"])
    ]
    assert select('"mapping"."组合计划"', '"组合代码", "组合名称", "组合类型"') == [
        (SQL_LOOKING["组合代码"], SQL_LOOKING["组合名称"], SQL_LOOKING["组合类型"])
    ]
    assert by_target(executed)["plans"]["keys"] == [SQL_LOOKING["计划代码"]]
