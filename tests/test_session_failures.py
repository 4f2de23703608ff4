"""Failure messages that name what failed (issue 9 item 10): only a connection that cannot be made
says "cannot reach"; a missing privilege, a read-only database, an audit write that fails, an
over-long input and an output stream that cannot encode the summary each end as they should.

Each runs the command as a real child process against the test database, as a role the test
creates when it needs one without a privilege.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.conf import settings
from django.db import connection

from refs.models import BackfillRun, RunFile, RunStatus
from tests.processes import (
    Finished,
    finish,
    run_holder,
    run_job_process,
    session,
    start_job,
    wait_until,
    waits_on_lock,
    warehouse_contents,
)
from tests.scenario import FILE_NAME, JOB_ROWS, PLANS, job_args
from tests.test_backfill import run
from tests.workbooks import write_workbook

pytestmark = pytest.mark.slow
ROLE = "wdh_session_limited"
AUDIT = "refs_backfillrun"


@pytest.fixture
def limited_role(warehouse: None, subprocess_env: dict[str, str]) -> Iterator[tuple[dict[str, str], Any]]:
    """A login role with no privilege at all; ``grant(sql)`` gives it some. Yields the child's
    environment connecting as that role, and ``grant``."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE IF EXISTS {ROLE}")
        cursor.execute(f"CREATE ROLE {ROLE} LOGIN")
        cursor.execute(f"GRANT USAGE ON SCHEMA public, mapping, business TO {ROLE}")

    def grant(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql.format(role=ROLE))

    user = connection.settings_dict["USER"]
    url = subprocess_env["DATABASE_URL"].replace(f"postgresql://{user}", f"postgresql://{ROLE}")
    yield {**subprocess_env, "DATABASE_URL": url}, grant
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {ROLE}")
        cursor.execute(f"DROP ROLE {ROLE}")


def grant_audit(grant: Any, privileges: str) -> None:
    grant(f"GRANT {privileges} ON ALL TABLES IN SCHEMA public TO {{role}}")
    grant("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")


def assert_refused_start(done: Finished, *needles: str) -> None:
    """Exit 1 before any audit record: one sentence naming what failed, not "cannot reach"."""
    assert done.returncode == 1, done.stderr
    assert "CommandError: the database refused to create the run's audit record (refs_backfillrun): " in done.stderr
    assert "cannot reach" not in done.stderr and "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr
    assert not BackfillRun.objects.exists()


def test_a_role_without_insert_on_the_audit_table_is_named(
    limited_role: tuple[dict[str, str], Any], tmp_path: Path
) -> None:
    env, grant = limited_role
    grant_audit(grant, "SELECT, UPDATE")
    done = run_job_process(env, *job_args(write_workbook(tmp_path / FILE_NAME, JOB_ROWS)))
    assert_refused_start(done, "the database role lacks a privilege", "SQLSTATE 42501", AUDIT)


def test_a_read_only_database_is_named(warehouse: None, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    env = {**subprocess_env, "PGOPTIONS": "-c default_transaction_read_only=on"}
    done = run_job_process(env, *job_args(write_workbook(tmp_path / FILE_NAME, JOB_ROWS)))
    assert_refused_start(done, "the database is read-only", "SQLSTATE 25006")


def test_a_missing_privilege_on_a_warehouse_table_fails_the_run_naming_table_and_stage(
    limited_role: tuple[dict[str, str], Any], tmp_path: Path
) -> None:
    env, grant = limited_role
    grant_audit(grant, "SELECT, INSERT, UPDATE")
    grant("GRANT SELECT ON ALL TABLES IN SCHEMA mapping, business TO {role}")
    before = warehouse_contents()
    done = run_job_process(env, *job_args(write_workbook(tmp_path / FILE_NAME, JOB_ROWS)))
    # The preflight check finds the missing privilege before the first write: exit 2 with the fix.
    assert done.returncode == 2, done.stderr
    message = done.summary["error"]["message"]
    assert message.startswith("the database would refuse this run's writes")
    assert f"no INSERT privilege on {PLANS}" in message and "GRANT INSERT" in message
    assert "cannot reach" not in done.stderr and "Traceback" not in done.stderr
    record = BackfillRun.objects.get(pk=done.summary["audit_id"])
    assert (record.status, record.error) == (RunStatus.FAILED, message)
    assert warehouse_contents() == before


@pytest.mark.parametrize("mode", ["--plan-only", "--execute"])
def test_an_audit_record_that_cannot_be_finished_is_named(
    limited_role: tuple[dict[str, str], Any], tmp_path: Path, mode: str
) -> None:
    env, grant = limited_role
    grant_audit(grant, "SELECT, INSERT")  # the record can be created, never updated
    grant("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mapping, business TO {role}")
    before = warehouse_contents()
    args = [arg for arg in job_args(write_workbook(tmp_path / FILE_NAME, JOB_ROWS)) if arg != "--execute"]
    done = run_job_process(env, *args, mode)
    assert done.returncode == 1, done.stderr
    record = BackfillRun.objects.get()
    assert f"the end of audit record {record.pk} could not be written: the database role lacks a privilege" in (
        done.stderr
    )
    assert "SQLSTATE 42501" in done.stderr and "cannot reach" not in done.stderr and "Traceback" not in done.stderr
    assert record.status == RunStatus.RUNNING  # as the message says
    assert warehouse_contents() == before


def test_a_file_path_over_2000_characters_is_recorded_whole(warehouse: None, tmp_path: Path) -> None:
    folder = tmp_path
    while len(str(folder)) < 2100:
        folder = folder / ("d" * 200)  # each name under the 255-byte limit, the whole under PATH_MAX
    path = write_workbook(folder / FILE_NAME, JOB_ROWS)
    summary = run(*job_args(path))
    assert summary["status"] == "succeeded", summary["error"]
    assert list(RunFile.objects.filter(run_id=summary["audit_id"]).values_list("path", flat=True)) == [str(path)]


def test_an_over_long_domain_name_is_a_configuration_error(warehouse: None, subprocess_env: dict[str, str]) -> None:
    done = run_job_process(subprocess_env, "run_job", "--domain", "d" * 150)
    assert done.returncode == 2, done.stderr
    assert BackfillRun.objects.get(pk=done.summary["audit_id"]).status == RunStatus.FAILED


@pytest.mark.parametrize("encoding", ["latin-1", "gbk", "ascii"])
@pytest.mark.parametrize("output", ["text", "json"])
def test_an_output_encoding_never_changes_a_committed_runs_exit_code(
    warehouse: None, subprocess_env: dict[str, str], tmp_path: Path, encoding: str, output: str
) -> None:
    path = write_workbook(tmp_path / "数据" / FILE_NAME, JOB_ROWS)
    done = subprocess.run(
        [sys.executable, "manage.py", *job_args(path), "--format", output],
        cwd=settings.BASE_DIR, env={**subprocess_env, "PYTHONIOENCODING": encoding},
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(encoding, "replace")
    assert b"UnicodeEncodeError" not in done.stderr
    record = BackfillRun.objects.get()
    assert record.status == RunStatus.SUCCEEDED
    stdout = done.stdout.decode(encoding)
    assert str(record.pk) in stdout
    if encoding != "gbk":
        assert "\\u6570\\u636e" in stdout  # 数据, escaped where the stream cannot encode it


def allow_connections(allowed: bool) -> None:
    """Whether the test database accepts new connections (set from the maintenance database:
    PostgreSQL refuses it from a session of the database itself)."""
    params = connection.settings_dict
    other = psycopg2.connect(dbname="postgres", user=params["USER"], host=params["HOST"], port=params["PORT"] or None,
                             password=params["PASSWORD"] or None)  # fmt: skip
    other.autocommit = True
    with other, other.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{params["NAME"]}" ALLOW_CONNECTIONS {str(allowed).lower()}')
    other.close()


def test_a_database_gone_mid_run_says_the_record_exists_and_stays_running(
    seeded: dict[str, Any], job_file: Path, observer: Any, subprocess_env: dict[str, str]
) -> None:
    """The run's backend is terminated while it waits in the backfill, and no new connection is
    accepted (as with a server that went down): the message says the connection was lost and
    that audit record N could not be finished — not that the run could not start."""
    blocker = session()
    try:
        with blocker.cursor() as cursor:
            cursor.execute(f"INSERT INTO {PLANS} (\"年金计划号\") VALUES ('P0003')")
        process = start_job({**subprocess_env, "WDH_LOCK_TIMEOUT": "0"}, *job_args(job_file))
        pid = run_holder(observer, process)
        wait_until(lambda: waits_on_lock(observer, pid), what="run waits in its backfill")
        allow_connections(False)
        with observer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        done = finish(process)
    finally:
        allow_connections(True)
        blocker.close()
    assert done.returncode == 1, done.stderr
    record = BackfillRun.objects.get(pid=process.pid)
    assert "the connection to the database was lost during the run" in done.stderr
    assert f"the end of audit record {record.pk} could not be written: the connection to the database" in done.stderr
    assert "cannot reach the database to start the run" not in done.stderr and "Traceback" not in done.stderr
    assert record.status == RunStatus.RUNNING
    assert warehouse_contents() == seeded
