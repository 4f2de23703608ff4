"""What ``backfill_refs`` and ``run_job`` share: their common flags, the progress display,
rendering the result, and turning its end into the documented exit code."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from refs.audit import run_context
from wdh.errors import ExitCode
from wdh.jobs import JobRequest, RunResult, job_run
from wdh.progress import LOGGER, ProgressLine
from wdh.report import result_json, result_text
from wdh.tables import DEFAULT_DOMAIN


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive_int.__name__ = "positive integer"  # argparse names the type in its error message


def sheet_choice(text: str) -> str | int:
    """A sheet name, or a 0-based index when the text is a whole number."""
    return int(text) if text.isdigit() else text


class JobCommand(BaseCommand):
    """Base of the two job commands: parse, build a :class:`JobRequest`, run, render."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--domain", default=DEFAULT_DOMAIN, help="Configured domain (default: %(default)s).")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--plan-only", action="store_true", help="Show what would be done; write nothing (default).")
        mode.add_argument("--execute", action="store_true", help="Write to the warehouse, in one transaction.")
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
            "--chunk-size", type=positive_int, default=1000, help="Keys per statement (default: %(default)s)."
        )
        parser.add_argument(
            "--format", choices=["text", "json"], default="text", help="Output format (default: %(default)s)."
        )

    def request_kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        return {
            "domain": options["domain"],
            "execute": options["execute"],
            "data_dir": options["data_dir"],
            "files": tuple(options["files"]),
            "max_files": options["max_files"],
            "sheet": options["sheet"],
            "chunk_size": options["chunk_size"],
            "argv": tuple(sys.argv),
            "options": {key: _plain(value) for key, value in options.items() if key not in {"stdout", "stderr"}},
        }

    def run_request(self, request: JobRequest, options: dict[str, Any]) -> RunResult:
        verbosity = options["verbosity"]
        as_json = options["format"] == "json"
        try:
            run_context()
        except ValueError as exc:
            raise CommandError(str(exc), returncode=int(ExitCode.USER_ERROR)) from exc
        line = ProgressLine(self._write_plain, self.stderr.flush)
        show_progress = not as_json and verbosity > 0 and self.stderr.isatty()
        with line.active(), _log_level(verbosity):
            result = self._run(request, line if show_progress else None)
        if as_json:
            self.stdout.write(json.dumps(result_json(result, verbosity=verbosity), ensure_ascii=False, indent=2))
        elif verbosity > 0:
            self._text(result, verbosity)
        return result

    def _run(self, request: JobRequest, progress: ProgressLine | None) -> RunResult:
        try:
            return job_run(request, progress=progress, render=lambda r: result_json(r, verbosity=2))
        except DatabaseError as exc:  # before the audit record exists: nothing was done
            raise CommandError(
                f"cannot reach the database to start the run ({' '.join(str(exc).split())}); "
                "nothing was read or written and no audit record could be kept. Check that the "
                "server is up and DATABASE_URL is right, then run again.",
                returncode=int(ExitCode.FAILURE),
            ) from exc

    def _write_plain(self, text: str) -> None:
        """Progress is neither an error nor a notice: no style (stderr's default is bold red)."""
        self.stderr.write(text, style_func=_unstyled, ending="")

    def _text(self, result: RunResult, verbosity: int) -> None:
        if not result.request.execute and verbosity >= 1 and result.statements:
            self.stdout.write("-- statements an execute run would send:")
            for statement in result.statements:
                self.stdout.write(statement + ";")
        for line in result_text(result, verbosity=verbosity):
            self.stdout.write(line)

    def finish(self, result: RunResult, *, check: bool = False) -> None:
        """Raise the documented exit code (success returns normally)."""
        if result.exit_code != ExitCode.SUCCESS:
            raise CommandError(f"{result.error} [audit record {result.audit_id}]", returncode=int(result.exit_code))
        if check and result.pending:
            raise CommandError(
                "the plan is not empty: references are missing or fillable (--check)",
                returncode=int(ExitCode.CHANGES_PENDING),
            )


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
