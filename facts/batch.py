"""The month's batch: discover the workbooks, read the configured sheet, cleanse every row by
the rules of the domain's sheet type (:mod:`facts.domain`) — file by file and chunk by chunk, so
memory grows with a chunk, never with the batch (issue 13 item 1): each chunk's valid rows are
handed to the run's sinks (its candidate folds) and to the staging table (:mod:`facts.fact_staging`,
copied by :mod:`facts.staging_writer` while the next chunk is cleansed), then dropped. Only
aggregates stay: counts, delete scopes, months, pending company ids per plan, the row errors.

Reads files (the warehouse lookups the cleansing needs are read beforehand and passed in);
writes only the session's staging table.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from facts.cleansing import ReferenceLimit, RowError, SheetCleansing, check_columns
from facts.cleansing_worker import cleansed_chunks
from facts.codes import CodeSpellings
from facts.column_rows import columns_of
from facts.company_ids import PendingCompanyIds
from facts.discovery import SourceFile, discover, discover_files
from facts.domain import domain_get
from facts.duplicates import Scope, ScopeClaims, check_unchanged, distinct_digests, file_state
from facts.excel import CellError, check_workbooks, checks_forget, read_sheet
from facts.fact_staging import FactStaging
from facts.lookups import Lookups
from facts.row_errors import RowErrors
from facts.sheet_ahead import SheetAhead
from facts.source_rows import source_rows_complete
from facts.staging_writer import StagingWriter
from facts.workbook import LoadedSheet, check_kept
from wdh.config import DomainConfig
from wdh.errors import InputError

Progress = Callable[[str, int, int | None], None]
ERROR_SAMPLE = 5  # row errors quoted in the message when the batch is rejected
CHUNK_ROWS = 10_000  # rows cleansed and handed on at a time: what memory holds of a batch's rows
_MONTH = "月度"  # a fact row's month: the first day of it (facts.cleansing.parse_month)


@dataclass(frozen=True)
class SourceSummary:
    path: Path
    size: int
    sha256: str
    sheet: str
    rows_read: int
    rows_valid: int
    header: tuple[str, ...] = ()  # as written in the file: the columns of RowError.source


class RowSink(Protocol):
    """What takes each chunk's valid rows while the batch is read (a candidate fold): it must keep
    what it needs of them, never the rows."""

    def add(self, rows: list[dict[str, Any]]) -> None: ...


@dataclass
class FactBatch:
    """What reading the batch keeps: the files, counts, row errors, warnings and aggregates. The
    valid rows themselves went by, chunk by chunk, to the sinks and the staging table."""

    files: list[SourceSummary] = field(default_factory=list)
    errors: RowErrors = field(default_factory=RowErrors)  # the first few in memory, the rest in a temporary file
    rows_read: int = 0
    rows_valid: int = 0
    company_id_missing: int = 0
    warnings: list[str] = field(default_factory=list)  # discovery's and the reader's (hidden sheet, cells ignored)
    spellings: CodeSpellings = field(default_factory=CodeSpellings)  # of every sheet's code cells
    pending_company_ids: PendingCompanyIds = field(default_factory=PendingCompanyIds)
    scopes: list[Scope] = field(default_factory=list)  # the valid rows' distinct delete scopes, first seen first
    staging: FactStaging | None = None  # where the valid rows are, in order (None: not staged)


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
    sinks: Sequence[RowSink] = (),
    staging: FactStaging | None = None,
) -> FactBatch:
    """Read and cleanse the selected workbooks, file by file and CHUNK_ROWS rows at a time: each
    chunk's valid rows go to every sink and, by a writer thread, to ``staging`` (when given), and
    are then dropped. Raises InputError for unusable input, when two files have the same content
    or rows of the same delete scope (facts/duplicates.py), and when more than half of the
    non-blank rows fail cleansing (ANNUITY_PERFORMANCE.md §3). Warns when a file's rows are for
    another month than its name says. ``opened(path)`` is called as each workbook is opened, so a
    failed run can name it. Reads files; writes only ``staging`` (the session's temporary table)."""
    batch = FactBatch(staging=staging)
    discovery = discover(domain, data_dir=data_dir, files=files, max_files=max_files)
    batch.warnings += discovery.warnings
    sources = discovery.files
    states = [file_state(source.path) for source in sources]  # before hashing, checked after reading
    digests = distinct_digests([source.path for source in sources])  # before the slow reading
    claims = ScopeClaims(domain.facts.pk)
    sheet_name = domain.sheet if sheet is None else sheet
    sheet_key = _sheet_key(domain)
    ahead: list[SheetAhead] = []  # the next workbook's sheet, loaded while this one is read
    with StagingWriter(staging) if staging is not None else _Unstaged() as writer:
        try:
            for index, (source, digest, state) in enumerate(zip(sources, digests, states, strict=True), start=1):
                if progress:
                    # calamine parses the sheet in one call with no count to show: its size says how long.
                    size = _size_text(source.path.stat().st_size)
                    progress(f"reading {source.path.name} ({index}/{len(sources)}, {size})", 0, None)
                if opened:
                    opened(source.path)
                loaded = ahead.pop().loaded() if ahead else None
                following = sources[index].path if index < len(sources) else None

                def load_next(path: Path | None = following) -> None:
                    if path is not None and check_kept(path, sheet_name):  # else its scan's worker forks then
                        ahead.append(SheetAhead(path, sheet_name, sheet_key))

                _file_read(
                    domain, source, sheet_name, lookups, progress, reference_limits, sinks, claims, writer, batch,
                    loaded, load_next,
                )  # fmt: skip
                check_unchanged(source.path, state)
                batch.files[-1] = dataclasses.replace(batch.files[-1], size=state[2] if state else 0, sha256=digest)
        finally:
            for left in ahead:
                left.abandon()
    batch.scopes = claims.scopes
    _reject_empty(batch)
    _reject_mostly_invalid(batch)
    return batch


def _file_read(
    domain: DomainConfig,
    source: SourceFile,
    sheet_name: str | int,
    lookups: Lookups,
    progress: Progress | None,
    reference_limits: Sequence[ReferenceLimit],
    sinks: Sequence[RowSink],
    claims: ScopeClaims,
    writer: StagingWriter | _Unstaged,
    batch: FactBatch,
    loaded: LoadedSheet | None,
    load_next: Callable[[], None],
) -> None:
    """One workbook's sheet (``loaded`` already, or loaded now), chunk by chunk, into ``batch``'s
    counts and the sinks and writer; ``load_next()`` is called once its cleansing is under way
    (its worker forked: facts/sheet_ahead.py). The sheet is closed as its read ends — its cells
    and temporary files let go in this code, not by the garbage collector, where a signal's
    exception would be lost (facts/sheet_pieces.py)."""
    rules = domain_get(domain.name).sheet
    with contextlib.closing(
        read_sheet(source.path, sheet_name, sheet_key=_sheet_key(domain), renames=rules.renames, loaded=loaded)
    ) as data:
        check_columns(data, rules)
        cleansing = SheetCleansing(
            data, rules=rules, mappings=domain.mappings, lookups=lookups, spellings=batch.spellings,
            progress=_row_progress(progress, f"cleansing {source.path.name}"), reference_limits=reference_limits,
        )  # fmt: skip
        months: Counter[tuple[int, int]] = Counter()
        valid = 0
        errors = RowErrors()  # the file's, completed with their rows' cells below
        with cleansed_chunks(cleansing, CHUNK_ROWS) as chunks:  # the sheet's second part by a worker, when big
            load_next()
            for chunk in chunks:
                for sink in sinks:
                    sink.add(chunk.rows)
                claims.claim(source.path, chunk.rows)
                if source.year_month is not None:
                    (days,) = columns_of(chunk.rows, [_MONTH])
                    for day, count in Counter(days).items():  # a pass in C, then per distinct 月度
                        months[day.year, day.month] += count
                valid += len(chunk.rows)
                errors += chunk.errors
                writer.put(chunk.rows, chunk.pending)
                del chunk  # its rows live on only in the writer's queue, until copied
        batch.files.append(
            SourceSummary(
                path=source.path, size=0, sha256="", sheet=data.sheet, rows_read=cleansing.rows_read, rows_valid=valid,
                header=data.raw_header,
            )
        )  # fmt: skip
        batch.warnings += _other_months(source, months, valid)
        batch.errors.extend(source_rows_complete(data, errors))
        batch.rows_read += cleansing.rows_read
        batch.rows_valid += valid
        batch.company_id_missing += cleansing.company_id_missing
        batch.warnings += data.warnings
        batch.warnings += (f"{source.path.name}, sheet {data.sheet!r}: {warning}" for warning in cleansing.warnings())
        batch.pending_company_ids.merge(cleansing.pending)


class _Unstaged:
    """The writer of a batch read without a staging table (no fact step): the rows are dropped."""

    def __enter__(self) -> _Unstaged:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def put(self, rows: Sequence[dict[str, Any]], pending: Sequence[str | None]) -> None:
        return None


def batch_check(
    domain: DomainConfig, *, data_dir: Path | None, files: list[Path], max_files: int | None, sheet: str | int | None
) -> None:
    """Check, reading the files only, that every selected workbook is within the reader's limits
    (:func:`facts.excel.check_workbook`); raises InputError naming the file. What it found is
    kept for :func:`batch_read`, which then scans none of them again (facts/workbook.py)."""
    sources = discover_files(domain, data_dir=data_dir, files=files, max_files=max_files)
    sheet_name = domain.sheet if sheet is None else sheet
    check_workbooks([source.path for source in sources], sheet_name, sheet_key=_sheet_key(domain))


def _sheet_key(domain: DomainConfig) -> str:
    """The configuration key of the sheet ``domain`` reads: what a missing sheet's message tells to set."""
    return f"domains.{domain.name}.sheet"


def batch_check_forget() -> None:
    """Drop what :func:`batch_check` kept (a parsed sheet among it) — for a run that ends before
    its reading takes it."""
    checks_forget()


def _other_months(source: SourceFile, months: Counter[tuple[int, int]], rows: int) -> list[str]:
    """A warning when rows are for another month than the file or folder name says: a file
    named for September holding April would reload April, which may be right (a correction)
    or the wrong file — a person must look. ``months``: the file's valid rows per month."""
    if source.year_month is None:
        return []
    other = {month: count for month, count in sorted(months.items()) if month != source.year_month}
    if not other:
        return []
    listed = ", ".join(f"{_month(month)}: {count} rows" for month, count in other.items())
    named = _month(source.year_month)
    return [
        f"{source.path.name}: its file or folder name says {named}, but {sum(other.values())} of its "
        f"{rows} rows are for other months ({listed}); check that this is the month's workbook"
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
