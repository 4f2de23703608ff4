"""Cleansing a sheet's rows into fact rows: the machinery every sheet type shares.

Pure: reads neither files nor the database. The warehouse data some rules need (branch codes,
plans' company ids) comes in as :class:`~facts.lookups.Lookups`, read beforehand.

A sheet type (:mod:`facts.domain`) gives its :class:`SheetRules`: header renames, required
columns and a row cleaner, whose field rules raise :class:`CellProblem` for a bad value (a cell as
text is :mod:`facts.cells`; the codes used as keys are :mod:`facts.codes`). :func:`cleanse_sheet`
turns that into a :class:`RowError` with file, sheet, Excel row number, column and raw value,
and leaves the row out. Only the FIRST problem of a row is reported, in fact-column order, so
there is one error per rejected row and the "more than half of the rows failed" rule can compare
the two counts.

Speed (100,000 rows in well under two seconds on a slow machine): row cleaners memoise every
text rule per distinct input (:class:`Memo`).
"""

from __future__ import annotations

import itertools
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from facts.categories import UnmappedBusinessTypes
from facts.cells import MAX_LENGTH as MAX_LENGTH  # re-exported: these lived here before facts.cells
from facts.cells import PLACEHOLDERS as PLACEHOLDERS
from facts.cells import CellProblem as CellProblem
from facts.cells import clean_text as clean_text
from facts.cells import fit as fit
from facts.cells import reject_special, shown_value
from facts.codes import CodeSpellings
from facts.company_ids import PendingCompanyIds, PendingRows
from facts.customer_names import clean_customer_name
from facts.excel import SheetData
from facts.lookups import Lookups
from wdh.config import Mappings
from wdh.errors import InputError

PROGRESS_EVERY = 5000  # rows between progress callbacks

_MONTH_FORMATS = (
    re.compile(r"(\d{4})(\d{2})"),  # 202602
    re.compile(r"(\d{4}|\d{2})年(\d{1,2})月"),  # 2024年11月, 24年11月
    re.compile(r"(\d{4})[-/.](\d{1,2})"),  # 2024-11, 2024/11, 2024.11
)


@dataclass(frozen=True)
class RowError:
    """A rejected row: where (row number as Excel shows it), the raw value, and the problem."""

    file: str
    sheet: str
    row: int
    column: str
    value: Any
    message: str
    # The row's cells as read, aligned to the sheet's header, for the rejected-rows workbook
    # (refs/rejects.py); empty until facts/source_rows.py completes it.
    source: tuple[Any, ...] = field(default=(), repr=False, compare=False)


@dataclass
class CleansedSheet:
    rows: list[dict[str, Any]]  # keys exactly the domain's fact columns, in table order
    errors: list[RowError]
    rows_read: int  # non-blank rows seen
    company_id_missing: int  # valid rows left without company_id (reported, never invented)
    spellings: CodeSpellings  # of the code cells, shared by the sheets of one batch
    pending_company_ids: PendingRows  # single-plan rows 年金计划 may still give a company_id
    warnings: list[str] = field(default_factory=list)  # the row cleaner's (RowCleaner.warnings)


# --- field rules ----------------------------------------------------------------------------


def parse_month(value: Any) -> date:
    """月度 → the first day of its month."""
    reject_special(value, "a month")
    if isinstance(value, date):  # datetime too
        year, month = value.year, value.month
    elif isinstance(value, int | float):
        if not float(value).is_integer():
            raise CellProblem(f"{shown_value(value)!r} is not a month (expected YYYYMM)")
        year, month = divmod(int(value), 100)
    else:
        year, month = _month_text(clean_text(value))
    if not 1900 <= year <= 2100:
        raise CellProblem(f"year {year} is outside 1900–2100")
    if not 1 <= month <= 12:
        raise CellProblem(f"month {month} is outside 1–12")
    return date(year, month, 1)


def _month_text(text: str | None) -> tuple[int, int]:
    if text is None:
        raise CellProblem("月度 is empty")
    compact = "".join(unicodedata.normalize("NFKC", text).split())
    for pattern in _MONTH_FORMATS:
        match = pattern.fullmatch(compact)
        if match:
            year, month = match.groups()
            return int(year) + (2000 if len(year) == 2 else 0), int(month)
    raise CellProblem(
        f"{shown_value(text)!r} is not a month (expected YYYYMM, YYYY年M月, YY年M月, YYYY-M, YYYY/M or YYYY.M)"
    )


def fitted_text(value: Any, column: str) -> str | None:
    """A text cell, cleaned and checked against its fact column's width."""
    return fit(clean_text(value), column)


def customer_names(value: Any) -> tuple[str | None, str | None]:
    """(客户名称 cleaned, 年金账户名: the name before cleaning) of a 客户名称 cell."""
    raw = fit(clean_text(value), "年金账户名")
    return fit(clean_customer_name(raw), "客户名称"), raw


# --- the sheet ------------------------------------------------------------------------------


class RowCleaner(Protocol):
    """One sheet's rules bound to its column positions, the mappings and the lookups."""

    company_id_missing: int  # valid rows so far left without company_id
    pending: PendingCompanyIds  # single-plan rows 年金计划 may still give a company_id
    unmapped: UnmappedBusinessTypes  # kept rows whose 业务类型 has no 产品线代码

    def fact_row(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The fact row of one sheet row; raises :class:`RowProblem` at its first bad cell."""
        ...

    def warnings(self) -> list[str]:
        """What a person should know of the rows cleansed so far (kept rows with a gap)."""
        ...


CleanerFactory = Callable[[tuple[str, ...], Mappings, Lookups, CodeSpellings], RowCleaner]


@dataclass(frozen=True)
class SheetRules:
    """What a sheet type says about its sheet: how its headers are renamed once normalised
    (older names → the fact column's), the columns it cannot do without, and its row cleaner
    (built from the sheet's normalised header, the mappings, the lookups and the spellings)."""

    renames: Mapping[str, str]
    required: tuple[str, ...]
    cleaner: CleanerFactory

    def spellings(self, column: str) -> tuple[str, ...]:
        """The header texts read as ``column``: itself and its older names."""
        return (column, *(old for old, new in self.renames.items() if new == column))


def check_columns(sheet: SheetData, rules: SheetRules) -> None:
    """Raise InputError naming the file, the sheet, the missing required columns and those present."""
    missing = [" or ".join(rules.spellings(name)) for name in rules.required if name not in sheet.header]
    if missing:
        present = ", ".join(name for name in sheet.header if name) or "none"
        raise InputError(
            f"{sheet.path}: sheet {sheet.sheet!r} lacks the required column(s) {'; '.join(missing)} "
            f"(columns present: {present})"
        )


@dataclass(frozen=True)
class ReferenceLimit:
    """A fact column whose value of one row becomes a reference column's value as it is
    (aggregations key / first / most_frequent / max_by), and that column's width."""

    source: str  # fact column
    column: str  # reference column, e.g. "年金计划.主拓代码"
    max_length: int


CHUNK_ROWS = 10_000  # rows cleansed between two hand-offs (facts.batch streams them on, chunk by chunk)


@dataclass
class CleansedChunk:
    """The next rows of a sheet, cleansed: its valid rows with the pending plan code of each
    (:class:`PendingCompanyIds`), its row errors in sheet order, and how many rows it read."""

    rows: list[dict[str, Any]]
    pending: list[str | None]  # per row of ``rows``: its plan code when 年金计划 may still give its company_id
    errors: list[RowError]
    rows_read: int


class SheetCleansing:
    """A sheet cleansed chunk by chunk (:meth:`chunks`), so that no more than one chunk of its
    rows is held at a time; after the last chunk, :attr:`rows_read`, :attr:`company_id_missing`,
    :attr:`pending` (counts per plan) and :meth:`warnings` describe the whole sheet."""

    def __init__(
        self,
        sheet: SheetData,
        *,
        rules: SheetRules,
        mappings: Mappings,
        lookups: Lookups,
        progress: Callable[[int], None] | None = None,
        reference_limits: Sequence[ReferenceLimit] = (),
        spellings: CodeSpellings | None = None,
    ) -> None:
        check_columns(sheet, rules)
        self.sheet = sheet
        self.spellings = CodeSpellings() if spellings is None else spellings
        self.cleaner = rules.cleaner(sheet.header, mappings, lookups, self.spellings)
        self.progress = progress
        self.reference_limits = reference_limits
        self.widths = _narrowest(reference_limits)  # one pass per fact column, not per limit
        self.rows_read = 0

    @property
    def company_id_missing(self) -> int:
        return self.cleaner.company_id_missing

    @property
    def pending(self) -> PendingCompanyIds:
        return self.cleaner.pending

    def warnings(self) -> list[str]:
        return self.cleaner.warnings()

    def chunks(
        self, size: int = CHUNK_ROWS, part: Iterator[tuple[int, tuple[Any, ...]]] | None = None
    ) -> Iterator[CleansedChunk]:
        """The sheet's non-blank rows (or ``part`` of them) cleansed, ``size`` rows read
        per chunk (the last may hold fewer). ``progress(rows read so far)`` is called every
        PROGRESS_EVERY rows and at the end."""
        sheet, cleaner, progress = self.sheet, self.cleaner, self.progress
        fact_row = cleaner.fact_row
        stream = sheet.iter_rows() if part is None else part
        while True:
            rows: list[dict[str, Any]] = []
            numbers: list[int] = []  # the sheet row of each valid row, for the reference limits
            errors: list[RowError] = []
            read, before = 0, self.rows_read
            keep, place = rows.append, numbers.append
            for read, (number, values) in enumerate(itertools.islice(stream, size), start=1):
                try:
                    keep(fact_row(values))
                    place(number)
                except RowProblem as problem:
                    column, value, message = problem.args
                    shown = shown_value(value)
                    errors.append(RowError(str(sheet.path), sheet.sheet, number, column, shown, message, source=values))
                if progress is not None and not (before + read) % PROGRESS_EVERY:
                    progress(before + read)
            self.rows_read += read
            if not read:
                break
            limits = self.reference_limits
            if limits and not widths_fit(rows, self.widths):
                rows, errors = _reference_limit_errors(sheet, rows, numbers, errors, limits)
            yield CleansedChunk(rows, cleaner.pending.take(rows), errors, read)
            if read < size:
                break
        if progress is not None:
            progress(self.rows_read)


def cleanse_sheet(
    sheet: SheetData,
    *,
    rules: SheetRules,
    mappings: Mappings,
    lookups: Lookups,
    progress: Callable[[int], None] | None = None,
    reference_limits: Sequence[ReferenceLimit] = (),
    spellings: CodeSpellings | None = None,
) -> CleansedSheet:
    """Cleanse every non-blank row of ``sheet`` at once (:class:`SheetCleansing`'s chunks,
    gathered), after check_columns. No I/O beyond the sheet's own row stream.

    ``reference_limits`` (given when the run backfills references): a row whose value would not
    fit the reference column derived from it is a row error, not a database error later.

    ``spellings`` collects the spellings of the code cells (give one to share across sheets)."""
    cleansing = SheetCleansing(
        sheet, rules=rules, mappings=mappings, lookups=lookups, progress=progress,
        reference_limits=reference_limits, spellings=spellings,
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    pending = PendingRows()
    for chunk in cleansing.chunks():
        rows += chunk.rows
        errors += chunk.errors
        for row, plan_code in zip(chunk.rows, chunk.pending, strict=True):
            if plan_code is not None:
                pending.rows.setdefault(plan_code, []).append(row)
    return CleansedSheet(
        rows, errors, cleansing.rows_read, cleansing.company_id_missing, cleansing.spellings, pending,
        cleansing.warnings(),
    )  # fmt: skip


def _narrowest(limits: Sequence[ReferenceLimit]) -> list[tuple[str, int]]:
    """``(fact column, the narrowest width it must fit)`` for each fact column limited: a value
    fits all of its column's limits when it fits the narrowest."""
    widths: dict[str, int] = {}
    for limit in limits:
        widths[limit.source] = min(widths.get(limit.source, limit.max_length), limit.max_length)
    return list(widths.items())


def widths_fit(rows: Iterable[Mapping[str, Any]], widths: Iterable[tuple[str, int]]) -> bool:
    """Whether no value of ``rows`` is longer than its column's width: one pass in C per column.
    False also when that pass cannot tell (a row without the column, a value without a length):
    the caller's row-by-row check then decides, and names the offender."""
    try:
        return all(max(map(len, filter(None, map(operator.itemgetter(column), rows))), default=0) <= width
                   for column, width in widths)  # fmt: skip
    except (KeyError, TypeError):
        return False


def _reference_limit_errors(
    sheet: SheetData,
    rows: list[dict[str, Any]],
    numbers: list[int],
    errors: list[RowError],
    limits: Sequence[ReferenceLimit],
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """The rows that fit the reference limits, and the errors with one for each row that does
    not, in sheet order (each row has one error at most: the cleansing's or this one)."""
    kept: list[dict[str, Any]] = []
    found: list[RowError] = []
    for number, row in zip(numbers, rows, strict=True):
        try:
            _check_reference_limits(row, limits)
            kept.append(row)
        except RowProblem as problem:
            column, value, message = problem.args
            found.append(RowError(str(sheet.path), sheet.sheet, number, column, shown_value(value), message))
    return kept, sorted([*errors, *found], key=lambda error: error.row)


class RowProblem(Exception):
    """A row's first bad cell; args: column, value, message."""


def _check_reference_limits(row: dict[str, Any], limits: Sequence[ReferenceLimit]) -> None:
    for limit in limits:
        value = row.get(limit.source)
        if isinstance(value, str) and len(value) > limit.max_length:
            raise RowProblem(
                limit.source,
                value,
                f"{limit.source} is {len(value)} characters; {limit.column}, derived from it, "
                f"holds at most {limit.max_length}",
            )


class Memo(dict[Any, Any]):
    """``memo[key]`` is ``compute(key)``, computed on the first miss and then remembered. A
    CellProblem becomes a RowProblem naming ``column`` and the cell (``key[0]`` of a tuple key).

    ``True == 1 == 1.0`` and ``False == 0 == 0.0`` share one dict slot but clean differently (a
    TRUE cell is not the number 1), so a cell equal to 0 or 1 is never stored.

    Bounded: once it holds ``LIMIT`` values it is emptied and fills again, so that a column of
    700,000 distinct customer names does not keep them all for the whole run. A value computed
    again is the same (every rule is a function of its key; the spellings a rule records are
    recorded once), so only the time of computing it again is spent.
    """

    LIMIT = 1 << 15  # values held at most: more than a 100,000-row month's distinct values of a column

    def __init__(self, column: str, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.column, self.compute = column, compute

    def __missing__(self, key: Any) -> Any:
        cell = key[0] if type(key) is tuple else key  # the rest of a tuple key is cleaned text
        try:
            value = self.compute(key)
        except CellProblem as problem:
            raise RowProblem(self.column, cell, str(problem)) from None
        if not (cell == 0 or cell == 1):
            if len(self) >= self.LIMIT:
                self.clear()
            self[key] = value
        return value
