"""The whole workbook in one run (issue 11 item 4): ``--domain all`` (or the flag repeated) reads
every configured domain's sheet, backfills each reference table once from the candidates merged
across the domains (refs.candidate_merge), then loads each domain's facts — one lock, one
transaction, all or nothing — on real PostgreSQL with the sample workbook of both sheets."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse

from domains.annuity_income.models import AnnuityIncome
from domains.annuity_performance.models import AnnuityPerformance
from facts.sample import sample_file_name, write_sample_workbook
from facts.sample_spec import SampleSpec
from refs.candidate_merge import DomainDerivation, candidates_merged, target_differences
from refs.derivation import derive_candidates
from refs.models import AnnuityPlan, BackfillRun, Portfolio, RunStatus
from tests.test_backfill import by_target, run, run_failing, table_rows
from wdh.config import get_config

SCHEMA = json.loads((Path(settings.BASE_DIR) / "wdh" / "run_schema.json").read_text(encoding="utf-8"))
DOMAINS = ["annuity_performance", "annuity_income"]  # the shipped configuration's order
REFERENCE_TABLES = ['"mapping"."年金计划"', '"mapping"."组合计划"', '"mapping"."产品线"', '"mapping"."组织架构"']


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write_sample_workbook(folder / sample_file_name(2026, 2), SampleSpec())
    return folder


def _warehouse() -> list[list[tuple[Any, ...]]]:
    """Every reference table and both fact tables, as rows (fact rows without their identity id)."""
    facts = [
        sorted(repr(row[1:]) for row in table_rows(model._meta.db_table))
        for model in (AnnuityPerformance, AnnuityIncome)
    ]
    return [table_rows(table) for table in REFERENCE_TABLES] + [[(row,) for row in rows] for rows in facts]


def _keys(summary: dict[str, Any]) -> dict[str, set[str]]:
    return {name: set(target["keys"]) for name, target in by_target(summary).items()}


def test_all_domains_in_one_run_union_of_references_both_fact_tables_and_a_rerun_changes_nothing(
    warehouse: None, sample_dir: Path, admin_client: Client
) -> None:
    common = ["--data-dir", str(sample_dir), "--backfill-refs", "all", "--verbosity", "2"]
    alone = {name: run("run_job", "--domain", name, *common) for name in DOMAINS}  # plan-only each
    union = {name: _keys(alone["annuity_performance"])[name] | _keys(alone["annuity_income"])[name] for name in
             _keys(alone["annuity_performance"])}  # fmt: skip
    assert union["plans"] - _keys(alone["annuity_performance"])["plans"]  # the income sheet adds plans

    planned = run("run_job", "--domain", "all", *common)
    repeated = run("run_job", "--domain", "annuity_income", "--domain", "annuity_performance", *common)
    jsonschema.validate(planned, SCHEMA)
    assert planned["schema"] == "wdh.run/2" and planned["status"] == "planned" and planned["facts"] is None
    assert [part["domain"] for part in planned["domains"]] == DOMAINS == [p["domain"] for p in repeated["domains"]]
    assert planned["backfill"] == repeated["backfill"] and planned["statements"] == repeated["statements"]
    assert _warehouse() == [[] for _ in range(6)]  # plan-only wrote nothing

    executed = run("run_job", "--domain", "all", *common, "--execute")
    jsonschema.validate(executed, SCHEMA)
    assert executed["status"] == "succeeded" and executed["domain"] == "all"
    for name, keys in _keys(executed).items():  # each key once: the union of both domains' candidates
        assert keys == union[name]
        assert len(by_target(executed)[name]["keys"]) == len(keys)
    assert set(AnnuityPlan.objects.values_list("年金计划号", flat=True)) == union["plans"]
    assert set(Portfolio.objects.values_list("组合代码", flat=True)) == union["portfolios"]
    parts = {part["domain"]: part for part in executed["domains"]}
    assert parts["annuity_performance"]["facts"]["inserted"] == AnnuityPerformance.objects.count() > 0
    assert parts["annuity_income"]["facts"]["inserted"] == AnnuityIncome.objects.count() > 0
    for name in DOMAINS:  # each part as the domain alone reads it: its files, sheet, rows, row errors
        assert parts[name]["rows"]["valid"] == alone[name]["rows"]["valid"]
        assert parts[name]["row_errors"] == alone[name]["row_errors"]["count"]
        assert parts[name]["files"] == [{"path": f["path"], "sheet": f["sheet"]} for f in alone[name]["files"]]

    # plan-only predicted the execute exactly: the same writes, in the same statements
    predicted = {key: planned[key] for key in ("backfill", "statements")}
    assert predicted == {key: executed[key] for key in ("backfill", "statements")}
    assert [p["facts"]["inserted"] for p in planned["domains"]] == [p["facts"]["inserted"] for p in executed["domains"]]

    record = BackfillRun.objects.get(pk=executed["audit_id"])  # one audit record shows each domain's part
    assert record.domain == "all" and record.summary["domains"] == executed["domains"]
    assert record.facts_inserted == AnnuityPerformance.objects.count() + AnnuityIncome.objects.count()
    text = StringOut()
    call_command("show_run", str(record.pk), stdout=text)
    for name in DOMAINS:
        assert f"  domain {name}: " in text.getvalue()
    page = admin_client.get(reverse("admin:refs_backfillrun_change", args=[record.pk])).content.decode()
    assert "Domains (2), in one transaction" in page
    assert all(f"{name}: " in page for name in DOMAINS)

    before = _warehouse()
    second = run("run_job", "--domain", "all", *common, "--execute")
    assert second["status"] == "succeeded"
    assert [target["inserted"] for target in second["backfill"]["targets"]] == [0, 0, 0, 0]
    assert _warehouse() == before


class StringOut:
    """A stdout for call_command that keeps what was written."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


def test_a_failure_in_the_second_domains_fact_load_leaves_both_fact_tables_and_every_reference_unchanged(
    warehouse: None, sample_dir: Path, tmp_path: Path
) -> None:
    table = AnnuityIncome._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION public.wdh_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
        )
        cursor.execute(f"CREATE TRIGGER wdh_refuse BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION wdh_refuse()")
    try:
        error, summary = run_failing(
            "run_job", "--domain", "all", "--data-dir", str(sample_dir), "--backfill-refs", "all", "--execute"
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER wdh_refuse ON {table}")
            cursor.execute("DROP FUNCTION public.wdh_refuse()")
    jsonschema.validate(summary, SCHEMA)
    assert error.returncode == 1 and summary["status"] == "failed"
    assert "refused by the test" in summary["error"]["message"]
    assert summary["error"]["stage"] == "facts annuity_income"  # the first domain's load had gone through
    assert summary["backfill"]["targets"] == [] and [p["facts"] for p in summary["domains"]] == [None, None]
    assert _warehouse() == [[] for _ in range(6)]  # rolled back: the references and the first load too
    assert BackfillRun.objects.get(pk=summary["audit_id"]).status == RunStatus.FAILED


def test_backfill_refs_for_all_domains_writes_the_references_only(warehouse: None, sample_dir: Path) -> None:
    done = run("backfill_refs", "--domain", "all", "--data-dir", str(sample_dir), "--targets", "all", "--execute")
    jsonschema.validate(done, SCHEMA)
    assert done["status"] == "succeeded" and done["facts"] is None
    assert [(part["domain"], part["facts"]) for part in done["domains"]] == [(name, None) for name in DOMAINS]
    assert AnnuityPlan.objects.count() == by_target(done)["plans"]["inserted"] > 0
    assert AnnuityPerformance.objects.count() == AnnuityIncome.objects.count() == 0
    again = run("backfill_refs", "--domain", "all", "--data-dir", str(sample_dir), "--targets", "all", "--check")
    assert again["exit_code"] == 0 and [t["inserted"] for t in again["backfill"]["targets"]] == [0, 0, 0, 0]
    error, refused = run_failing("revert_run", str(done["audit_id"]), "--execute")  # not supported: said so
    assert error.returncode == 2 and "revert_run takes back a run of one domain only" in refused["error"]
    assert AnnuityPlan.objects.count() == by_target(done)["plans"]["inserted"]


def test_a_plan_of_several_domains_is_not_saved_and_apply_refuses_it(warehouse: None, sample_dir: Path) -> None:
    planned = run("run_job", "--domain", "all", "--data-dir", str(sample_dir), "--backfill-refs", "all")
    assert planned["status"] == "planned"
    with pytest.raises(CommandError) as refused:
        run("run_job", "--apply", str(planned["audit_id"]))
    assert refused.value.returncode == 2
    message = str(refused.value)
    assert "planned the domains all" in message and "--execute" in message
    assert AnnuityPlan.objects.count() == AnnuityPerformance.objects.count() == 0


def test_one_sheet_for_several_domains_is_refused(warehouse: None, sample_dir: Path) -> None:
    args = ["--domain", "all", "--data-dir", str(sample_dir), "--sheet", "收入明细", "--execute"]
    error, summary = run_failing("run_job", *args)
    assert error.returncode == 2 and "--sheet names one domain's sheet" in summary["error"]["message"]
    assert AnnuityIncome.objects.count() == AnnuityPerformance.objects.count() == AnnuityPlan.objects.count() == 0


def _rows(**columns: list[Any]) -> list[dict[str, Any]]:
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def test_the_merge_precedence_first_domain_first_blanks_filled_groups_merged_and_disagreements_warned() -> None:
    """Pure: each domain derives by its own rules; the configuration's first domain wins per
    column, a later one fills what it left blank, 管理资格 joins both domains' business types."""
    config = get_config()
    performance, income = (config.domain(name).refs["plans"] for name in DOMAINS)
    month = date(2026, 2, 1)
    first = derive_candidates(
        _rows(计划代码=["P1", "P2"], 计划名称=["甲计划", None], 计划类型=["集合计划", "单一计划"],
              客户名称=["甲", None], company_id=[None, None], 机构代码=["G01", "G02"], 机构名称=["北京", "上海"],
              业务类型=["企年受托", "企年投资"], 期末资产规模=[Decimal(1), Decimal(2)], 月度=[month, month]),
        performance,
    )  # fmt: skip
    second = derive_candidates(
        _rows(计划代码=["P2", "P1", "P3"], 计划名称=["乙计划", "甲计划（收入）", "丙计划"],
              计划类型=["单一计划", "集合计划", "集合计划"], 客户名称=["乙", "甲", None],
              company_id=["600000002", None, None], 机构代码=["G02", "G01", "G03"],
              机构名称=["上海", "北京", "广州"], 业务类型=["企年受托", "职年受托", "企年投资"],
              固费=[Decimal(1), Decimal(1), Decimal(1)], 月度=[month, month, month]),
        income,
    )  # fmt: skip
    merged = candidates_merged([DomainDerivation(DOMAINS[0], first), DomainDerivation(DOMAINS[1], second)])
    assert list(merged.candidates) == ["P1", "P2", "P3"]  # first-seen, the first domain's keys first
    assert merged.candidates["P1"]["计划全称"] == "甲计划"  # the first domain's value kept
    assert merged.candidates["P2"]["计划全称"] == "乙计划"  # blank in the first: the second's fills it
    assert merged.candidates["P2"]["company_id"] == "600000002"
    assert merged.candidates["P1"]["管理资格"] == "企年受托+职年受托"  # the groups merged
    assert merged.candidates["P2"]["管理资格"] == "企年受托+企年投资"  # sorted, as one group joins them
    (warning,) = [w for w in merged.warnings if w.key == "P1"]
    assert warning.column == "计划全称" and "甲计划（收入）" in warning.message and "annuity_income" in warning.message
    assert not [w for w in merged.warnings if w.key == "P2"]  # filling a blank is no disagreement
    quiet = candidates_merged([DomainDerivation(DOMAINS[0], first), DomainDerivation(DOMAINS[1], second)],
                              shared={"P1"})  # fmt: skip
    assert not [w for w in quiet.warnings if w.key == "P1"]  # a key meant to be shared: its summary says it
    swapped = candidates_merged([DomainDerivation(DOMAINS[1], second), DomainDerivation(DOMAINS[0], first)])
    assert swapped.candidates["P1"]["计划全称"] == "甲计划（收入）"  # the order decides, deterministically


def test_a_target_two_domains_declare_differently_is_a_configuration_error() -> None:
    config = get_config()
    plans = config.domain(DOMAINS[0]).refs["plans"]
    portfolios = config.domain(DOMAINS[1]).refs["portfolios"]
    assert target_differences([(DOMAINS[0], plans), (DOMAINS[1], config.domain(DOMAINS[1]).refs["plans"])]) == []
    other_key = type(plans)(**{**plans.__dict__, "updatable": plans.updatable[:-1]})
    ((path, problem),) = target_differences([(DOMAINS[0], plans), (DOMAINS[1], other_key)])
    assert path == f"domains.{DOMAINS[1]}.refs.plans" and f"domains.{DOMAINS[0]}.refs.plans" in problem
    renamed = type(portfolios)(**{**portfolios.__dict__, "name": "groups"})
    ((path, problem),) = target_differences([(DOMAINS[0], config.domain(DOMAINS[0]).refs["portfolios"]),
                                             (DOMAINS[1], renamed)])  # fmt: skip
    assert path == f"domains.{DOMAINS[1]}.refs.groups" and "under another name" in problem
