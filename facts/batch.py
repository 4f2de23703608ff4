"""The month's batch: discover the workbooks, read the configured sheet, cleanse every row by
the rules of the domain's sheet type (:mod:`facts.domain`).

Reads files only (the warehouse lookups the cleansing needs are read beforehand and passed in).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facts.cleansing import ReferenceLimit, RowError, check_columns, cleanse_sheet
from facts.codes import CodeSpellings
from facts.company_ids import PendingCompanyIds
from facts.discovery import SourceFile, discover, discover_files
from facts.domain import domain_get
from facts.duplicates import ScopeClaims, check_unchanged, distinct_digests, file_state
from facts.excel import CellError, check_workbooks, read_sheet
from facts.lookups import Lookups
from facts.source_rows import source_rows_complete
from wdh.config import DomainConfig
from wdh.errors import InputError

Progress = Callable[[str, int, int | None], None]
ERROR_SAMPLE = 5  # row errors quoted in the message when the batch is rejected


@dataclass(frozen=True)
class SourceSummary:
    path: Path
    size: int
    sha256: str
    sheet: str
    rows_read: int
    rows_valid: int
    header: tuple[str, ...] = ()  # as written in the file: the columns of RowError.source


@dataclass
class FactBatch:
    files: list[SourceSummary] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    company_id_missing: int = 0
    warnings: list[str] = field(default_factory=list)  # discovery's and the reader's (hidden sheet, cells ignored)
    spellings: CodeSpellings = field(default_factory=CodeSpellings)  # of every sheet's code cells
    pending_company_ids: PendingCompanyIds = field(default_factory=PendingCompanyIds)


class MostlyInvalidError(InputError):
    """More than half of the rows failed cleansing: the run is refused. ``batch`` keeps the
    files and row errors read so far, so the run's record keeps its rejected rows too."""

    def __init__(self, message: str, *, batch: FactBatch) -> None:
        super().__init__(message)
        self.batch = batch


def batch_read(
    domain: DomainConfig,
    *,
    data_dir: Path | None,
    files: list[Path],
    max_files: int | None,
    sheet: str | int | None,
    lookups: Lookups,
    progress: Progress | None = None,
    opened: Callable[[Path], None] | None = None,
    reference_limits: Sequence[ReferenceLimit] = (),
) -> FactBatch:
    """Read and cleanse the selected workbooks. Raises InputError for unusable input, when two
    files have the same content or rows of the same delete scope (facts/duplicates.py), and when
    more than half of the non-blank rows fail cleansing (ANNUITY_PERFORMANCE.md §3). Warns when a
    file's rows are for another month than its name says. ``opened(path)`` is called as each
    workbook is opened, so a failed run can name it."""
    batch = FactBatch()
    rules = domain_get(domain.name).sheet
    discovery = discover(domain, data_dir=data_dir, files=files, max_files=max_files)
    batch.warnings += discovery.warnings
    sources = discovery.files
    states = [file_state(source.path) for source in sources]  # before hashing, checked after reading
    digests = distinct_digests([source.path for source in sources])  # before the slow reading
    claims = ScopeClaims(domain.facts.pk)
    for index, (source, digest, state) in enumerate(zip(sources, digests, states, strict=True), start=1):
        if progress:
            # calamine parses the sheet in one call with no count to show: its size says how long.
            size = _size_text(source.path.stat().st_size)
            progress(f"reading {source.path.name} ({index}/{len(sources)}, {size})", 0, None)
        if opened:
            opened(source.path)
        data = read_sheet(
            source.path,
            domain.sheet if sheet is None else sheet,
            sheet_key=f"domains.{domain.name}.sheet",
            renames=rules.renames,
        )
        check_columns(data, rules)
        cleansed = cleanse_sheet(
            data,
            rules=rules,
            mappings=domain.mappings,
            lookups=lookups,
            progress=_row_progress(progress, f"cleansing {source.path.name}"),
            reference_limits=reference_limits,
            spellings=batch.spellings,
        )
        check_unchanged(source.path, state)
        claims.claim(source.path, cleansed.rows)
        batch.files.append(
            SourceSummary(
                path=source.path,
                size=state[2] if state else 0,
                sha256=digest,
                sheet=data.sheet,
                rows_read=cleansed.rows_read,
                rows_valid=len(cleansed.rows),
                header=data.raw_header,
            )
        )
        batch.warnings += _other_months(source, cleansed.rows)
        batch.rows += cleansed.rows
        batch.errors += source_rows_complete(data, cleansed.errors)
        batch.rows_read += cleansed.rows_read
        batch.company_id_missing += cleansed.company_id_missing
        batch.warnings += data.warnings
        batch.warnings += (f"{source.path.name}, sheet {data.sheet!r}: {warning}" for warning in cleansed.warnings)
        batch.pending_company_ids.merge(cleansed.pending_company_ids)
    _reject_empty(batch)
    _reject_mostly_invalid(batch)
    return batch


def batch_check(
    domain: DomainConfig, *, data_dir: Path | None, files: list[Path], max_files: int | None, sheet: str | int | None
) -> None:
    """Check, reading the files only, that every selected workbook is within the reader's limits
    (:func:`facts.excel.check_workbook`); raises InputError naming the file. What it found is
    kept for :func:`batch_read`, which then scans none of them again (facts/workbook.py)."""
    sources = discover_files(domain, data_dir=data_dir, files=files, max_files=max_files)
    sheet_name = domain.sheet if sheet is None else sheet
    check_workbooks([source.path for source in sources], sheet_name, sheet_key=f"domains.{domain.name}.sheet")


def _other_months(source: SourceFile, rows: Sequence[dict[str, Any]]) -> list[str]:
    """A warning when rows are for another month than the file or folder name says: a file
    named for September holding April would reload April, which may be right (a correction)
    or the wrong file — a person must look."""
    if source.year_month is None:
        return []
    months = Counter((row["月度"].year, row["月度"].month) for row in rows)
    other = {month: count for month, count in sorted(months.items()) if month != source.year_month}
    if not other:
        return []
    listed = ", ".join(f"{_month(month)}: {count} rows" for month, count in other.items())
    named = _month(source.year_month)
    return [
        f"{source.path.name}: its file or folder name says {named}, but {sum(other.values())} of its "
        f"{len(rows)} rows are for other months ({listed}); check that this is the month's workbook"
    ]


def _month(year_month: tuple[int, int]) -> str:
    return f"{year_month[0]}-{year_month[1]:02d}"


def _reject_empty(batch: FactBatch) -> None:
    """A header with no data rows below it is the wrong file or an unfinished export: the run
    would "succeed" having loaded nothing, and cron would report success."""
    if not batch.rows_read:
        where = "; ".join(f"{source.path}, sheet {source.sheet!r}" for source in batch.files)
        raise InputError(
            f"{where}: no data rows below the header, so nothing to load; "
            "check that this is the month's workbook and the right sheet"
        )


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{max(size // 1000, 1)} KB"


def _row_progress(progress: Progress | None, step: str) -> Callable[[int], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda done: report(step, done, None)


def _reject_mostly_invalid(batch: FactBatch) -> None:
    if batch.rows_read and len(batch.errors) * 2 > batch.rows_read:
        sample = "\n".join(f"  {describe_row_error(error)}" for error in batch.errors[:ERROR_SAMPLE])
        raise MostlyInvalidError(
            f"{len(batch.errors)} of {batch.rows_read} non-blank rows failed cleansing (more than half); "
            f"the run stops and writes nothing. First errors:\n{sample}",
            batch=batch,
        )


def describe_row_error(error: RowError) -> str:
    where = f"{Path(error.file).name} [{error.sheet}] row {error.row}, column {error.column}"
    value = str(error.value) if isinstance(error.value, CellError) else error.value  # '#N/A', not its repr
    return f"{where}: {error.message} (value {value!r})"
