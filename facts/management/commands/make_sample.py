"""``manage.py make_sample``: write a synthetic monthly workbook shaped like the real ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from facts.domain import domains_registered
from facts.sample import sample_file_name, write_sample_workbook
from facts.sample_spec import DEFAULT_SPEC, SampleSpec
from wdh.config import get_config
from wdh.errors import ExitCode, InputError, WdhError
from wdh.tables import DEFAULT_DOMAIN


class Command(BaseCommand):
    help = (
        "Write a synthetic monthly workbook, one sheet per installed sheet type (规模明细, 收入明细), with "
        "the realities of the real files (header variants, mixed 月度 forms, numeric and F-prefixed "
        "组合代码, placeholders, missing optional columns, trailing formatted rows) and print its path. "
        "The same options always give the same bytes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        d = DEFAULT_SPEC
        parser.add_argument("--rows", type=int, default=d.rows, help="Data rows of each sheet (default: %(default)s).")
        parser.add_argument("--plans", type=int, help="Distinct plan codes (default: max(8, rows / 20)).")
        parser.add_argument(
            "--portfolios", type=int, help="Distinct non-default portfolio codes (default: max(10, rows / 5))."
        )
        parser.add_argument(
            "--year", type=int, default=d.year, help="Year of 月度 and the file name (default: %(default)s)."
        )
        parser.add_argument("--month", type=int, default=d.month, help="Month, 1..12 (default: %(default)s).")
        parser.add_argument("--seed", type=int, default=d.seed, help="Random seed (default: %(default)s).")
        parser.add_argument(
            "--trailing-blank-rows", type=int, default=d.trailing_blank_rows,
            help="Formatted empty rows after the data (default: %(default)s).",
        )  # fmt: skip
        parser.add_argument("--clean", action="store_true", help="Leave out the realities: a tidy workbook.")
        parser.add_argument(
            "--out", type=Path,
            help="A folder (the file gets the real files' name) or an .xlsx path "
                 f"(default: the base_dir of domain {DEFAULT_DOMAIN}).",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            spec = SampleSpec(
                rows=options["rows"], plans=options["plans"], portfolios=options["portfolios"], year=options["year"],
                month=options["month"], seed=options["seed"], trailing_blank_rows=options["trailing_blank_rows"],
                realities=not options["clean"],
            )  # fmt: skip
            target = self._target(options["out"], spec)
            path = write_sample_workbook(target, spec)
        except WdhError as exc:
            raise CommandError(str(exc), returncode=exc.exit_code) from exc
        except OSError as exc:
            raise CommandError(f"cannot write the sample workbook: {exc}", returncode=ExitCode.USER_ERROR) from exc
        if options["verbosity"] > 0:
            sheets = ", ".join(domain.sample_sheet(spec).name for domain in domains_registered().values())
            self.stderr.write(
                f"Wrote {spec.rows} rows for {spec.year}-{spec.month:02d} on each sheet ({sheets}), "
                f"{spec.trailing_blank_rows} formatted empty rows after the data."
            )
        self.stdout.write(str(path))

    def _target(self, out: Path | None, spec: SampleSpec) -> Path:
        """``--out`` as given when it names an .xlsx file; otherwise that folder (or base_dir) + the real name."""
        if out is not None and out.suffix.lower() == ".xlsx":
            return out
        if out is not None and out.suffix.lower() in (".xls", ".xlsm"):
            raise InputError(f"--out {out}: the sample is an .xlsx workbook; name it .xlsx or give a folder")
        folder = out if out is not None else get_config().domain(DEFAULT_DOMAIN).base_dir
        return folder / sample_file_name(spec.year, spec.month)
