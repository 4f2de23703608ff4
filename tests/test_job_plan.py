"""The job as one plan value (issue 12 item 1): ``job_plan`` only reads, ``job_apply`` writes the
plan it is given, and the statements a plan-only run shows are those applying it sends."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.db import connection, transaction

from facts.loading import FactMode
from jobs.job_apply import job_apply
from jobs.job_plan import job_plan, job_read
from jobs.job_request import JobRequest
from jobs.run_result import RunResult
from refs.models import AnnuityPlan, BackfillRun, RunMode
from tests.test_backfill import ROWS, run
from tests.workbooks import write_workbook
from wdh.config import get_config
from wdh.postgres import read_only_transaction

FILE_NAME = "【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx"
WRITE = re.compile(r"^(INSERT INTO|UPDATE|DELETE FROM|SELECT .* FOR UPDATE$)", re.DOTALL)


@contextmanager
def sent() -> Iterator[list[str]]:
    """The SQL text of every statement this connection sends meanwhile (values are bound apart)."""
    statements: list[str] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield statements


def template(sql: str) -> str:
    """A statement without its comment lines, one chunk's repeated groups written once: the rows
    of a multi-row VALUES, the key scopes OR-ed together in a DELETE."""
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    body = re.sub(r"(\([^()]*\))(?:, \1)+", r"\1", body)
    return re.sub(r"(\((?:[^()]|\([^()]*\))*\))(?: OR \1)+", r"\1", body)


def times(statement: str) -> int:
    """How often the plan says its statement is sent: its chunk count, else once."""
    found = re.search(r"in (\d+) (?:chunk|statement)\(s\)", statement)
    return int(found[1]) if found else 1


def warehouse_writes(statements: list[str]) -> Counter[str]:
    """The templates of the statements that write (or lock for writing) a warehouse table; wdh's
    own bookkeeping (audit record, fact archive: ``refs_*``; the session's temporary staging
    table, ``pg_temp``) aside."""
    return Counter(
        template(sql)
        for sql in statements
        if WRITE.match(template(sql)) and not re.match(r'(INSERT INTO|UPDATE|DELETE FROM) "(refs_|pg_temp")', sql)
    )


def assert_sends_what_it_showed(planned: list[str], statements: list[str]) -> None:
    shown = {template(s): times(s) for s in planned if template(s) and not template(s).startswith("COPY")}
    assert shown, planned
    assert warehouse_writes(statements) == shown


def test_plan_only_shows_the_statements_its_apply_sends_with_their_chunk_counts(
    warehouse: None, tmp_path: Path
) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    run("run_job", "--file", str(path), "--backfill-refs", "all", "--execute")  # scopes with rows to delete
    AnnuityPlan.objects.all().delete()
    planned = run("run_job", "--file", str(path), "--backfill-refs", "all", "--chunk-size", "2")
    inserts = [s.split("\n")[0] for s in planned["statements"] if '"mapping"."年金计划"' in s]
    assert inserts == ["-- 2 rows in 1 chunk(s) of 2", "-- the last 1 row(s) in 1 chunk(s)"]  # UNNEST, then VALUES
    with sent() as statements:
        applied = run("run_job", "--apply", str(planned["audit_id"]))
    assert applied["status"] == "succeeded"
    assert_sends_what_it_showed(planned["statements"], statements)
    assert applied["statements"] == planned["statements"]
    load = [s for s in planned["statements"] if 'FROM "pg_temp"."wdh_staged_annuity_performance"' in s]
    assert load == [applied["statements"][-1]] and load[0].startswith(f"-- {applied['facts']['inserted']} rows,")


def test_a_fill_plan_shows_the_lock_and_update_its_apply_sends(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    run("backfill_refs", "--file", str(path), "--execute")
    AnnuityPlan.objects.update(客户名称=None)
    planned = run("backfill_refs", "--file", str(path), "--targets", "plans", "--mode", "fill_null_only",
                  "--chunk-size", "2")  # fmt: skip
    assert sum(planned["backfill"]["targets"][0]["cells_filled"].values()) == 3
    with sent() as statements:
        applied = run("backfill_refs", "--apply", str(planned["audit_id"]))
    assert applied["status"] == "succeeded"
    assert_sends_what_it_showed(planned["statements"], statements)


def test_the_output_and_the_audit_record_are_rendered_from_the_same_result(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    out = StringIO()
    call_command("run_job", "--file", str(path), "--backfill-refs", "all", "--format", "json", verbosity=2,
                 stdout=out, stderr=StringIO())  # fmt: skip
    printed = json.loads(out.getvalue())
    assert BackfillRun.objects.get(pk=printed["audit_id"]).summary == printed
    reverted = run("run_job", "--file", str(path), "--backfill-refs", "all", "--execute")["audit_id"]
    out = StringIO()
    call_command("revert_run", str(reverted), "--format", "json", verbosity=2, stdout=out, stderr=StringIO())
    printed = json.loads(out.getvalue())
    assert BackfillRun.objects.get(pk=printed["audit_id"]).summary == printed


def test_job_plan_reads_only_and_job_apply_writes_exactly_that_plan(warehouse: None, tmp_path: Path) -> None:
    path = write_workbook(tmp_path / FILE_NAME, ROWS)
    request = JobRequest(command="run_job", domain="annuity_performance", execute=True, targets="all",
                         fact_mode=FactMode.DELETE_INSERT, files=(path,))  # fmt: skip
    domain = get_config().domain(request.domain)
    result = RunResult(request=request, mode=RunMode.EXECUTE)
    record = run("run_job", "--file", str(path))  # any run: the archive belongs to an audit record
    read = job_read(domain, request, progress=None, opened=result.opened.append)
    with read_only_transaction():  # a write here would fail: PostgreSQL refuses it (but for the temporary staging)
        plan = job_plan([read], request, config_digest="", steps=result)
    assert plan.saved is not None
    planned = {target.target: target.insert_keys() for target in plan.saved.targets}
    assert planned == {
        "plans": ["P0001", "P0002", "XNP596"],
        "portfolios": ["9078", "9003", "QTAN002", "9100"],
        "product_lines": ["PL202", "PL201"],
        "branches": ["G01", "G02"],
    }
    with transaction.atomic():
        outcome = job_apply(plan, run_id=record["audit_id"], steps=result)
    assert {target.target: target.keys for target in outcome.targets} == planned
    facts = outcome.facts[0]
    assert facts is not None and facts.inserted == plan.parts[0].batch.rows_valid == 4
    assert sorted(AnnuityPlan.objects.values_list("pk", flat=True)) == sorted(planned["plans"])
