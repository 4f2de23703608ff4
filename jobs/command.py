"""What ``backfill_refs`` and ``run_job`` share: their common flags, the progress display,
rendering the result, and turning its end into the documented exit code."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from facts.domain import domains_registered
from facts.loading import FactMode
from jobs.job_request import JobRequest
from jobs.job_run import job_run
from jobs.report import result_json, result_text
from jobs.run_ending import RunNotStartedError
from jobs.run_result import RunResult
from jobs.startup import StartupCommand
from refs.audit import run_context
from refs.backfill import BackfillMode
from refs.models import RunMode
from refs.plan_lifecycle import plans_approved
from refs.saved_plans import plan_load
from wdh.domain_choice import domain_value
from wdh.errors import ExitCode, InputError
from wdh.escaping import json_printable, printable
from wdh.interruption import RunInterrupted
from wdh.progress import LOGGER, ProgressLine
from wdh.tables import DEFAULT_DOMAIN


def domain_help() -> str:
    """``--domain``'s help: the installed sheet types, each a configured domain of that name."""
    names = ", ".join(domains_registered())
    return (
        f"Configured domain, one of the installed sheet types: {names}; repeat the flag, or give all, "
        f"to process several domains' sheets in one run (default: {DEFAULT_DOMAIN})."
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive_int.__name__ = "positive integer"  # argparse names the type in its error message


def sheet_choice(text: str) -> str | int:
    """A sheet name, or a 0-based index when the text is a whole number."""
    return int(text) if text.isdigit() else text


class JobCommand(StartupCommand):
    """Base of the two job commands: parse, build a :class:`JobRequest`, run, render. A broken
    configuration is the run's own failure (exit 2, audit record), not a system-check stop."""

    applies_approved = False  # offers --apply-approved (run_job: what cron runs)

    def execute(self, *args: Any, **options: Any) -> str | None:
        _escape_unencodable(sys.stdout, sys.stderr)
        return super().execute(*args, **options)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--domain", action="append", help=domain_help())
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--plan-only",
            action="store_true",
            help="Show what would be done; nothing is written to the warehouse (an audit record is) (default).",
        )
        mode.add_argument("--execute", action="store_true", help="Write to the warehouse, in one transaction.")
        mode.add_argument(
            "--apply",
            type=positive_int,
            metavar="RUN_ID",
            help="Write exactly the plan plan-only run RUN_ID saved, with its files and options; "
            "refused (exit 2, nothing written) when anything changed since.",
        )
        if self.applies_approved:
            mode.add_argument(
                "--apply-approved",
                action="store_true",
                help="Apply every approved, unapplied saved plan, oldest first, each in its own transaction "
                "(for cron); exit 2 when any was refused.",
            )
        parser.add_argument("--data-dir", type=Path, help="Search this folder instead of the configured base_dir.")
        parser.add_argument(
            "--file",
            type=Path,
            action="append",
            dest="files",
            default=[],
            metavar="PATH",
            help="Read this workbook (repeatable); bypasses discovery.",
        )
        parser.add_argument("--max-files", type=positive_int, help="Read at most N of the selected workbooks.")
        parser.add_argument(
            "--sheet", type=sheet_choice, help="Sheet name or 0-based index (default: configured sheet)."
        )
        parser.add_argument(
            "--chunk-size",
            type=positive_int,
            default=1000,
            help="Rows per backfill INSERT (default: %(default)s); its reads, row locks and fill updates are one "
            "statement per target.",
        )
        parser.add_argument(
            "--format", choices=["text", "json"], default="text", help="Output format (default: %(default)s)."
        )

    def request_kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        """The :class:`JobRequest` fields every job command shares. Paths are made absolute
        here, once, so the run and its audit record name the files a relative path meant."""
        options = {
            **options,
            "data_dir": _absolute(options["data_dir"]),
            "files": list(map(_absolute, options["files"])),
        }
        return {
            "domain": domain_value(options["domain"] or [DEFAULT_DOMAIN]),
            "execute": options["execute"],
            "data_dir": options["data_dir"],
            "files": tuple(options["files"]),
            "max_files": options["max_files"],
            "sheet": options["sheet"],
            "chunk_size": options["chunk_size"],
            "argv": tuple(sys.argv),
            "working_dir": os.getcwd(),
            "options": {key: _plain(value) for key, value in options.items() if key not in {"stdout", "stderr"}},
        }

    def apply_request(self, command: str | None, options: dict[str, Any], *, run_id: int | None = None) -> JobRequest:
        """``--apply RUN_ID``: the request the saved plan was made with, to execute, by ``command``
        (``None``: the command that planned it). Reads the database; a run that cannot be
        applied is a CommandError (exit 2) before any run starts."""
        self.require_database()
        run_id = run_id or options["apply"]
        try:
            saved = plan_load(run_id)
        except InputError as exc:
            raise CommandError(str(exc), returncode=int(ExitCode.USER_ERROR)) from exc
        if command is not None and saved.command != command:
            raise CommandError(
                f"--apply {run_id}: run {run_id} was planned by {saved.command}; apply it with "
                f"manage.py {saved.command} --apply {run_id}",
                returncode=int(ExitCode.USER_ERROR),
            )
        planned = saved.request
        shared = self.request_kwargs(options)
        return JobRequest(
            command=saved.command,
            domain=planned["domain"],
            execute=True,
            applies=run_id,
            targets=planned["targets"],
            backfill_mode=BackfillMode(planned["backfill_mode"]),
            fact_mode=FactMode(planned["fact_mode"]) if planned["fact_mode"] else None,
            skip_facts=planned["skip_facts"],
            files=tuple(Path(source.path) for source in saved.files),
            sheet=planned["sheet"],
            chunk_size=planned["chunk_size"],
            argv=shared["argv"],
            options=shared["options"],
            working_dir=shared["working_dir"],
        )

    def apply_approved(self, options: dict[str, Any]) -> None:
        """``--apply-approved``: apply every approved plan, oldest first, each as its own apply
        run (own lock, own transaction, own audit record). A refused plan (exit 2) is recorded
        ``refused`` by its run and the next one goes ahead; a run that ends otherwise (locked,
        interrupted, failed) stops the loop and leaves the rest approved for the next time."""
        self.require_database()
        as_json = options["format"] == "json"
        outcomes: list[dict[str, Any]] = []
        for run_id in plans_approved():
            try:
                request = self.apply_request(None, options, run_id=run_id)
            except CommandError as exc:  # reviewed, superseded or applied since the list was read
                outcomes.append({"plan": run_id, "audit_id": None, "status": "skipped", "exit_code": None})
                outcomes[-1]["error"] = str(exc)
                continue
            result = self.run_request(request, options, output=not as_json)
            code = int(result.exit_code)
            outcomes.append(
                {"plan": run_id, "audit_id": result.audit_id, "status": str(result.status), "exit_code": code}
            )
            outcomes[-1]["error"] = result.error
            if code and not as_json:
                self.stderr.write(f"{printable(result.error, newlines=True)} [audit record {result.audit_id}]")
            if code not in {ExitCode.SUCCESS, ExitCode.USER_ERROR}:
                break
        exit_code = approved_exit_code(outcomes)
        stopped = exit_code not in {ExitCode.SUCCESS, ExitCode.USER_ERROR}
        if as_json:
            document = {"apply_approved": outcomes, "exit_code": exit_code}
            self.stdout.write(json_printable(json.dumps(document, ensure_ascii=False, indent=2)))
        else:
            for line in approved_text(outcomes, left=len(plans_approved()) if stopped else 0):
                self.stdout.write(printable(line))
        if exit_code:
            raise CommandError(_approved_error(outcomes), returncode=exit_code)

    def run_request(self, request: JobRequest, options: dict[str, Any], *, output: bool = True) -> RunResult:
        """Run ``request`` and print its result (``output``: ``False`` prints nothing, for a
        caller that prints its own summary; the run's log line is written either way)."""
        verbosity = options["verbosity"]
        as_json = options["format"] == "json"
        try:
            run_context()
        except ValueError as exc:
            raise CommandError(str(exc), returncode=int(ExitCode.USER_ERROR)) from exc
        self.require_database()
        line = ProgressLine(self._write_plain, self.stderr.flush)
        show_progress = not as_json and verbosity > 0 and self.stderr.isatty()
        with line.active(), _log_level(verbosity):
            result = self._run(request, line if show_progress else None)
        if not output:
            return result
        if as_json:
            document = json.dumps(result_json(result, verbosity=verbosity), ensure_ascii=False, indent=2)
            self.stdout.write(json_printable(document))
        elif verbosity > 0:
            self._text(result, verbosity)
        return result

    def _run(self, request: JobRequest, progress: ProgressLine | None) -> RunResult:
        try:
            return job_run(request, progress=progress)
        except RunNotStartedError as exc:  # before the audit record exists: nothing was done
            raise CommandError(str(exc), returncode=int(exc.exit_code)) from exc
        except RunInterrupted as exc:
            raise CommandError(
                f"{exc} before the run started; nothing was read or written", returncode=int(ExitCode.FAILURE)
            ) from exc

    def _write_plain(self, text: str) -> None:
        """Progress is neither an error nor a notice: no style (stderr's default is bold red)."""
        self.stderr.write(text, style_func=_unstyled, ending="")

    def _text(self, result: RunResult, verbosity: int) -> None:
        if result.mode is RunMode.PLAN_ONLY and verbosity >= 1 and result.statements:
            self.stdout.write("-- statements an execute run would send:")
            for statement in result.statements:
                self.stdout.write(printable(statement, newlines=True) + ";")
        for line in result_text(result, verbosity=verbosity):
            self.stdout.write(line)

    def finish(self, result: RunResult) -> None:
        """Raise the documented exit code (success returns normally)."""
        if result.exit_code == ExitCode.CHANGES_PENDING:
            raise CommandError(
                f"the plan is not empty: references are missing or fillable (--check) [audit record {result.audit_id}]",
                returncode=int(ExitCode.CHANGES_PENDING),
            )
        if result.exit_code != ExitCode.SUCCESS:
            message = printable(result.error, newlines=True)
            raise CommandError(f"{message} [audit record {result.audit_id}]", returncode=int(result.exit_code))


def approved_exit_code(outcomes: list[dict[str, Any]]) -> int:
    """--apply-approved's exit: the code of a run that stopped the loop (1 or 3), else 2 when a
    plan was refused, else 0 (everything applied, or nothing to do). Pure."""
    codes = [outcome["exit_code"] for outcome in outcomes if outcome["exit_code"] is not None]
    stopped = [code for code in codes if code not in {ExitCode.SUCCESS, ExitCode.USER_ERROR}]
    if stopped:
        return int(stopped[-1])
    return int(ExitCode.USER_ERROR) if ExitCode.USER_ERROR in codes else int(ExitCode.SUCCESS)


def approved_text(outcomes: list[dict[str, Any]], *, left: int) -> list[str]:
    """--apply-approved's summary: one line per approved plan, then what is left. Pure."""
    if not outcomes:
        return ["apply-approved: no approved plan to apply"]
    lines = [f"apply-approved: {len(outcomes)} approved plan(s)"]
    for outcome in outcomes:
        plan, run = outcome["plan"], outcome["audit_id"]
        if outcome["status"] == "skipped":
            lines.append(f"  plan {plan}: skipped, {outcome['error']}")
        elif outcome["exit_code"] == ExitCode.SUCCESS:
            lines.append(f"  plan {plan}: applied by run {run}")
        elif outcome["exit_code"] == ExitCode.USER_ERROR:
            lines.append(f"  plan {plan}: refused by run {run}: {_first_line(outcome['error'])}")
        else:
            lines.append(f"  plan {plan}: not applied, run {run} ended {outcome['status']}; it stays approved")
    if left:
        lines.append(f"  stopped: {left} approved plan(s) left for the next --apply-approved")
    return lines


def _approved_error(outcomes: list[dict[str, Any]]) -> str:
    refused = [f"{o['plan']} (run {o['audit_id']})" for o in outcomes if o["exit_code"] == ExitCode.USER_ERROR]
    stopped = [o for o in outcomes if o["exit_code"] not in {None, ExitCode.SUCCESS, ExitCode.USER_ERROR}]
    parts = [f"refused plan(s) {', '.join(refused)}: see each run's reason; plan again"] if refused else []
    if stopped:
        parts.append(f"stopped at plan {stopped[-1]['plan']}: {_first_line(stopped[-1]['error'])}")
    return "--apply-approved: " + "; ".join(parts)


def _first_line(text: str) -> str:
    return next(iter(text.splitlines()), "")


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.absolute()


def _escape_unencodable(*streams: Any) -> None:
    """Write what the stream's encoding cannot represent (PYTHONIOENCODING=latin-1, a gbk
    console) as backslash escapes: the output of a committed run must never fail, and with it
    turn the exit code of the run into 1."""
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


@contextmanager
def _log_level(verbosity: int) -> Iterator[None]:
    """``--verbosity 0`` prints nothing but errors: the run's INFO and WARNING log lines too."""
    logger = logging.getLogger(LOGGER)
    level = logger.level
    if verbosity == 0:
        logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)


def _unstyled(text: str) -> str:
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
