"""What a person at a terminal and cron see (issue 10 item 7), from real ``manage.py`` processes:
a neutral progress line that is erased before the next line, the size of the workbook while it
is read, ``--verbosity 0`` printing nothing but errors, and an honest run context."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from refs.models import BackfillRun, RunContext
from tests.test_backfill import ROWS
from tests.workbooks import write_workbook

pytestmark = pytest.mark.slow

FILE_NAME = "2026年2月年金终稿数据.xlsx"
ESCAPE = re.compile(r"\033\[[0-9;]*[A-Za-z]")
ERASE_LINE = "\033[K"


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / FILE_NAME, ROWS)


@pytest.fixture
def env(subprocess_env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in subprocess_env.items() if key != "WDH_RUN_CONTEXT"}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py args`` with no terminal at all (as under cron or CI)."""
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(
        command, cwd=settings.BASE_DIR, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )


def manage_on_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """``manage.py args`` with stderr on a pseudo-terminal; its exit code and every byte it drew."""
    leader, follower = pty.openpty()
    command = [sys.executable, "manage.py", *args]
    child = subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    drawn = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        assert ready, "the child drew nothing for 120 s"
        try:
            block = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            block = b""
        if not block:
            break
        drawn += block
    os.close(leader)
    return child.wait(timeout=60), drawn.decode()


def screen(drawn: str) -> list[str]:
    """The lines a terminal shows after ``drawn``: carriage return, erase-line and newline obeyed."""
    lines, cursor = [""], 0
    for token in re.split(r"(\r|\n|\033\[K)", drawn):
        if token == "\r":
            cursor = 0
        elif token == "\n":
            lines.append("")
            cursor = 0
        elif token == ERASE_LINE:
            lines[-1] = lines[-1][:cursor]
        else:
            lines[-1] = lines[-1][:cursor] + token + lines[-1][cursor + len(token) :]
            cursor += len(token)
    return [line for line in lines if line]


def test_progress_is_neutral_shows_the_size_read_and_is_erased_before_the_log_line(
    warehouse: None, workbook: Path, env: dict[str, str]
) -> None:
    code, drawn = manage_on_terminal(env, "run_job", "--file", str(workbook), "--backfill-refs", "all", "--execute")
    assert code == 0, drawn
    assert f"reading {FILE_NAME} (1/1, " in drawn and " KB)" in drawn  # the size while calamine parses
    assert f"loading {len(ROWS)} fact rows" in drawn
    assert set(ESCAPE.findall(drawn)) == {ERASE_LINE}  # no colour: progress is not an error
    run = BackfillRun.objects.get()
    log_line = rf"\d{{4}}-\d\d-\d\d [\d:,]+ INFO wdh\.jobs run {run.pk} run_job execute: succeeded \(exit 0\)"
    shown = screen(drawn)
    assert len(shown) == 1 and re.fullmatch(log_line, shown[0]), shown
    assert run.via == RunContext.TERMINAL


def test_verbosity_0_prints_nothing_but_errors(warehouse: None, workbook: Path, env: dict[str, str]) -> None:
    done = manage(env, "run_job", "--file", str(workbook), "--backfill-refs", "all", "--execute", "-v", "0")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert BackfillRun.objects.get().facts_inserted == len(ROWS)  # it ran, silently
    failed = manage(env, "run_job", "--file", str(workbook.with_name("absent.xlsx")), "--execute", "-v", "0")
    assert failed.returncode == 2 and failed.stdout == ""
    assert "absent.xlsx" in failed.stderr and "INFO" not in failed.stderr


@pytest.mark.parametrize(
    ("declared", "context"),
    [(None, RunContext.NON_INTERACTIVE), ("cron", RunContext.CRON), ("non-interactive", RunContext.NON_INTERACTIVE)],
)
def test_a_run_without_a_terminal_is_cron_only_when_the_environment_says_so(
    warehouse: None, workbook: Path, env: dict[str, str], declared: str | None, context: RunContext
) -> None:
    if declared is not None:
        env["WDH_RUN_CONTEXT"] = declared
    done = manage(env, "backfill_refs", "--file", str(workbook))
    assert done.returncode == 0, done.stderr
    assert BackfillRun.objects.get().via == context


def test_an_unknown_run_context_is_refused_before_the_run(warehouse: None, workbook: Path, env: dict[str, str]) -> None:
    done = manage({**env, "WDH_RUN_CONTEXT": "crontab"}, "backfill_refs", "--file", str(workbook), "--execute")
    assert done.returncode == 2
    assert "WDH_RUN_CONTEXT='crontab' is not a run context; set one of terminal, non-interactive, cron" in done.stderr
    assert not BackfillRun.objects.exists()


def test_the_readme_crontab_line_declares_cron() -> None:
    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    cron_block = readme.split("```cron\n", 1)[1].split("```", 1)[0]
    assert "WDH_RUN_CONTEXT=cron" in cron_block
