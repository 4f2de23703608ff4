"""Reference targets declared, not coded (issue 11 items 3 and 5): any number per domain, in
dependency order (``after``); 产品线 and 组织架构 shipped beside 年金计划 and 组合计划; the command
choices, the admin and the DDL follow the declarations; the fact table's foreign keys known from
the catalog before any write. Real PostgreSQL throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.utils import timezone

from jobs.warehouse import warehouse_apply, warehouse_ddl
from refs.checks import refs_problems
from refs.models import BackfillRun, reference_model
from tests.test_backfill import run, run_failing
from tests.workbooks import write_workbook
from wdh.config import get_config
from wdh.errors import ConfigError
from wdh.identifiers import quote_ident
from wdh.tables import DEFAULT_DOMAIN

SCHEMA = "wdh_declared"
RUN_SCHEMA = json.loads((Path(settings.BASE_DIR) / "wdh" / "run_schema.json").read_text(encoding="utf-8"))
ROWS: list[dict[str, Any]] = [
    {"计划代码": "P0001", "计划名称": "甲计划", "组合代码": "9078", "业务类型": "企年投资",
     "机构": "北京分公司", "机构代码": "G01"},
    {"计划代码": "P0001", "计划名称": "甲计划", "组合代码": "F9003", "业务类型": "企年受托",
     "机构": "上海分公司", "机构代码": "G02"},
    {"计划代码": "P0002", "计划名称": "乙计划", "组合代码": None, "计划类型": "单一计划", "业务类型": "企年投资",
     "机构": None, "机构代码": None},
]  # fmt: skip
KEYS = {  # what the rows derive, per target in dependency order
    "plans": ["P0001", "P0002"],
    "portfolios": ["9078", "9003", "QTAN002"],
    "product_lines": ["PL201", "PL202"],
    "branches": ["G01", "G02", "G00"],
}


def execute_sql(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def contents(domain: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every reference row, and the fact rows without their ids (delete_insert gives new ones)."""
    tables = [target.qualified_name for target in domain.refs.values()]
    found = {table: execute_sql(f"SELECT * FROM {table} ORDER BY 1") for table in tables}
    facts = execute_sql(f"SELECT * FROM {domain.facts.qualified} ORDER BY 计划代码, 组合代码, 业务类型")
    return found | {domain.facts.qualified: [row[1:] for row in facts]}


def keys_by_target(summary: dict[str, Any]) -> dict[str, list[str]]:
    return {entry["target"]: entry["keys"] for entry in summary["backfill"]["targets"]}


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "data" / "2026年2月年金终稿数据.xlsx", ROWS)


def own_schema_domain(use_config: Any, *, foreign_keys: bool) -> Any:
    """Every warehouse table of the domain in a schema of this test, as ``warehouse_ddl`` makes it."""

    def edit(domain: dict[str, Any]) -> None:
        domain["facts"]["schema"] = domain["branches"]["schema"] = SCHEMA
        for target in domain["refs"].values():
            target["schema"] = SCHEMA

    domain = use_config(edit)
    warehouse_apply(warehouse_ddl(domain, foreign_keys=foreign_keys))
    return domain


@pytest.fixture
def own_schema(warehouse: None) -> Iterator[None]:
    yield
    execute_sql(f"DROP SCHEMA IF EXISTS {quote_ident(SCHEMA)} CASCADE")


def test_the_shipped_configuration_declares_four_targets_in_dependency_order() -> None:
    domain = get_config().domain(DEFAULT_DOMAIN)
    assert list(domain.refs) == ["plans", "portfolios", "product_lines", "branches"]
    assert domain.refs["portfolios"].after == ("plans",)
    assert [t.name for t in domain.targets("branches, plans,portfolios")] == ["plans", "portfolios", "branches"]
    product_lines, branches = domain.refs["product_lines"], domain.refs["branches"]
    assert (product_lines.qualified_name, product_lines.key) == ('"mapping"."产品线"', ("产品线代码",))
    assert (branches.qualified_name, branches.key) == ('"mapping"."组织架构"', ("机构代码",))
    assert domain.branches is not None and domain.branches.qualified == branches.qualified_name  # one table


def test_execute_inserts_exactly_the_missing_rows_of_all_four_targets_then_nothing(
    warehouse: None, workbook: Path
) -> None:
    domain = get_config().domain(DEFAULT_DOMAIN)
    product_lines, branches = domain.refs["product_lines"], domain.refs["branches"]
    execute_sql(f"INSERT INTO {product_lines.qualified_name} (产品线代码, 产品线) VALUES ('PL201', '企年投资')")
    execute_sql(f"INSERT INTO {branches.qualified_name} (机构代码, 机构) VALUES ('G01', '北京分公司')")
    args = ("run_job", "--backfill-refs", "all", "--file", str(workbook))
    planned = run(*args)
    executed = run(*args, "--execute")
    missing = KEYS | {"product_lines": ["PL202"], "branches": ["G02", "G00"]}
    assert keys_by_target(planned) == keys_by_target(executed) == missing
    assert [t["target"] for t in executed["backfill"]["targets"]] == list(KEYS)  # dependency order
    assert planned["statements"] == executed["statements"]
    jsonschema.validate(executed, RUN_SCHEMA)  # the declared names are valid targets of wdh.run
    assert execute_sql(f"SELECT * FROM {product_lines.qualified_name} ORDER BY 1") == [
        ("PL201", "企年投资", None, None, None, None),
        ("PL202", "企年受托", None, None, None, None),
    ]
    assert execute_sql(f"SELECT 机构代码, 机构 FROM {branches.qualified_name} ORDER BY 1") == [
        ("G00", None),  # the head office of rows without a branch: no name to give it
        ("G01", "北京分公司"),
        ("G02", "上海分公司"),
    ]
    facts = execute_sql(f"SELECT 计划代码, 产品线代码, 机构代码 FROM {domain.facts.qualified} ORDER BY 1, 2, 3")
    assert facts == [("P0001", "PL201", "G01"), ("P0001", "PL202", "G02"), ("P0002", "PL201", "G00")]
    before = contents(domain)
    again = run(*args, "--execute")
    assert [t["inserted"] for t in again["backfill"]["targets"]] == [0, 0, 0, 0]
    assert contents(domain) == before
    run_record = BackfillRun.objects.get(pk=executed["audit_id"])
    assert run_record.targets == "all"
    assert list(run_record.target_results.values_list("target", flat=True)) == list(KEYS)


def test_targets_are_comma_separated_declared_names_processed_in_dependency_order(
    warehouse: None, workbook: Path
) -> None:
    summary = run("backfill_refs", "--targets", "branches,plans", "--file", str(workbook))
    assert [t["target"] for t in summary["backfill"]["targets"]] == ["plans", "branches"]
    assert summary["backfill"]["targets"][1]["table"] == '"mapping"."组织架构"'
    with pytest.raises(CommandError, match="unknown target 'plan' \\(declared: plans, portfolios, product_lines"):
        call_command("backfill_refs", "--targets", "plans,plan", stdout=StringIO(), stderr=StringIO())


def test_after_moves_a_target_behind_the_ones_it_names(use_config: Any) -> None:
    """use_config writes the targets sorted by name: branches first, unless it comes after another."""
    assert list(use_config(lambda domain: None).refs) == ["branches", "plans", "portfolios", "product_lines"]
    domain = use_config(lambda domain: domain["refs"]["branches"].update(after=["product_lines"]))
    assert list(domain.refs) == ["plans", "portfolios", "product_lines", "branches"]
    assert [t.name for t in domain.targets("all")] == list(domain.refs)


@pytest.mark.parametrize(
    ("edit", "path", "problem"),
    [
        pytest.param(
            lambda refs: refs["plans"].update(after=["branches"]) or refs["branches"].update(after=["portfolios"]),
            "refs.branches.after",  # the first in the file (use_config writes its keys sorted)
            "the targets' after lists form a cycle: branches → portfolios → plans → branches",
            id="cycle",
        ),
        pytest.param(
            lambda refs: refs["branches"].update(after=["product_lines", "plan"]),
            "refs.branches.after[1]",
            "unknown target 'plan' (declared targets: plans, portfolios, product_lines)",
            id="unknown name",
        ),
        pytest.param(
            lambda refs: refs["branches"].update(after=["branches"]),
            "refs.branches.after[0]",
            "'branches' cannot come after itself",
            id="itself",
        ),
        pytest.param(
            lambda refs: refs["branches"].pop("columns"),
            "refs.branches.columns",
            "required key is missing",
            id="a declared target names its columns",
        ),
        pytest.param(
            lambda refs: refs["branches"]["other_columns"].update({"机构": "text"}),
            "refs.branches.other_columns.机构",
            "'机构' is derived under columns",
            id="other column derived",
        ),
    ],
)
def test_configuration_errors_name_the_key_path(use_config: Any, edit: Any, path: str, problem: str) -> None:
    def change(domain: dict[str, Any]) -> None:
        edit(domain["refs"])

    with pytest.raises(ConfigError) as caught:
        use_config(change)
    assert caught.value.path == f"domains.{DEFAULT_DOMAIN}.{path}"
    assert caught.value.problem.startswith(problem)


def test_the_branch_lookup_reads_the_branches_target_by_its_key(use_config: Any) -> None:
    """组织架构 is both the cleansing's branch lookup and a backfilled target: the lookup's code is
    the target's key, so the rows the backfill inserts are those the lookup reads next month."""
    with pytest.raises(ConfigError) as caught:
        use_config(lambda domain: domain["branches"].update(code_column="机构", name_column="机构代码"))
    assert caught.value.path == f"domains.{DEFAULT_DOMAIN}.branches.code_column"
    assert (
        caught.value.problem == "'机构' is not the key of refs.branches, which backfills the same table (key: 机构代码)"
    )
    with pytest.raises(ConfigError) as caught:
        use_config(lambda domain: domain["branches"].update(name_column="名称"))
    assert caught.value.path == f"domains.{DEFAULT_DOMAIN}.branches.name_column"
    assert "'名称' is not a column of refs.branches" in caught.value.problem


def test_other_columns_of_a_target_with_an_explicit_model_must_be_its_columns(use_config: Any) -> None:
    domain = use_config(lambda domain: domain["refs"]["plans"].update(other_columns={"计划编号": "text"}))
    assert refs_problems(domain) == [
        (f"domains.{DEFAULT_DOMAIN}.refs.plans.other_columns.计划编号", "not a column of 年金计划's model")
    ]


def test_a_new_target_is_a_configuration_change_plus_its_ddl(use_config: Any, own_schema: None, workbook: Path) -> None:
    """A third table (client accounts, keyed by 年金账户名 here) needs no code: its model, DDL,
    choices and backfill come from its declaration."""

    def edit(domain: dict[str, Any]) -> None:
        domain["refs"]["accounts"] = {
            "schema": SCHEMA,
            "table": "账户",
            "key": ["账户名"],
            "after": ["plans"],
            "updatable": ["计划数"],
            "columns": {
                "账户名": {"from": "年金账户名", "agg": "key"},
                "计划数": {"from": "计划代码", "agg": "count_distinct"},
            },
            "other_columns": {"备注": "text"},
        }

    domain = use_config(edit)
    target = domain.refs["accounts"]
    assert [f.column for f in reference_model(target)._meta.concrete_fields] == ["账户名", "计划数", "备注"]
    warehouse_apply(warehouse_ddl(domain))
    summary = run("backfill_refs", "--targets", "accounts", "--execute", "--file", str(workbook))
    assert summary["backfill"]["targets"][0]["inserted"] == 0  # the workbook names no account: no candidate
    rows = [dict(ROWS[0], 客户名称="甲公司"), dict(ROWS[2], 客户名称="甲公司")]
    other = write_workbook(workbook.parent / "2026年3月年金终稿数据.xlsx", rows)
    summary = run("backfill_refs", "--targets", "accounts", "--execute", "--file", str(other))
    assert keys_by_target(summary) == {"accounts": ["甲公司"]}
    assert execute_sql(f"SELECT * FROM {target.qualified_name}") == [("甲公司", 2, None)]


def test_foreign_keys_of_all_four_targets_are_created_once(use_config: Any, own_schema: None) -> None:
    domain = own_schema_domain(use_config, foreign_keys=True)
    warehouse_apply(warehouse_ddl(domain, foreign_keys=True))  # a second time: a no-op
    found = execute_sql(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = %s::regnamespace ORDER BY 1, 2",
        [SCHEMA],
    )
    table = f'{SCHEMA}."规模明细"'
    assert found == [  # as PostgreSQL spells them: it quotes names that are not plain ASCII
        (f'{SCHEMA}."组合计划"', f'FOREIGN KEY ("年金计划号") REFERENCES {SCHEMA}."年金计划"("年金计划号")'),
        (table, f'FOREIGN KEY ("产品线代码") REFERENCES {SCHEMA}."产品线"("产品线代码")'),
        (table, f'FOREIGN KEY ("机构代码") REFERENCES {SCHEMA}."组织架构"("机构代码")'),
        (table, f'FOREIGN KEY ("组合代码") REFERENCES {SCHEMA}."组合计划"("组合代码")'),
        (table, f'FOREIGN KEY ("计划代码") REFERENCES {SCHEMA}."年金计划"("年金计划号")'),
    ]


def test_fact_keys_missing_from_a_referenced_table_are_refused_with_the_flag_that_fixes_them(
    use_config: Any, own_schema: None, workbook: Path
) -> None:
    domain = own_schema_domain(use_config, foreign_keys=True)
    before = contents(domain)
    args = ("run_job", "--backfill-refs", "plans,portfolios", "--file", str(workbook))
    for extra in ((), ("--execute",)):
        error, summary = run_failing(*args, *extra)
        message = summary["error"]["message"]
        assert error.returncode == 2 and summary["error"]["stage"] == "preflight"
        assert f'"规模明细_产品线代码_fk" (产品线代码 → "{SCHEMA}"."产品线"): 2 key(s)' in message
        assert "(PL201, PL202); add --backfill-refs product_lines" in message
        assert f'"规模明细_机构代码_fk" (机构代码 → "{SCHEMA}"."组织架构"): 3 key(s)' in message
        assert "(G00, G01, G02); add --backfill-refs branches" in message
        assert "规模明细_计划代码_fk" not in message  # backfilled by this run
        assert contents(domain) == before
    executed = run("run_job", "--backfill-refs", "all", "--file", str(workbook), "--execute")
    assert keys_by_target(executed) == KEYS
    assert executed["facts"]["inserted"] == len(ROWS)


def test_the_admin_lists_the_declared_tables(admin_client: Client, warehouse: None) -> None:
    branches = get_config().domain(DEFAULT_DOMAIN).refs["branches"]
    execute_sql(f"INSERT INTO {branches.qualified_name} (机构代码, 机构) VALUES ('G31', '内蒙'), ('G99', NULL)")
    page = admin_client.get("/admin/declared/branches/", {"attention": "yes"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "G99" in text and "G31" not in text
    change = admin_client.get("/admin/declared/branches/G31/change/")
    assert change.status_code == 200 and "内蒙" in change.content.decode()
    assert admin_client.get("/admin/declared/productlines/").status_code == 200
    BackfillRun.objects.bulk_create(
        BackfillRun(command="backfill_refs", targets=targets, started_at=timezone.now(), pid=1, config_path="-")
        for targets in ("all", "plans,branches", "plans", "")
    )
    listed = admin_client.get("/admin/refs/backfillrun/", {"target": "branches"})
    assert sorted(run.targets for run in listed.context["cl"].result_list) == ["all", "plans,branches"]
