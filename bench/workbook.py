"""The benchmark's workbooks: realistic samples (ANNUITY_PERFORMANCE.md §2), generated once.

:func:`facts.sample.write_sample_workbook` gives byte-identical files for equal specs, so a
workbook is generated once per spec — and per version of the generator's source — into its own
folder under ``bench/results/workbooks/`` (git-ignored) and reused by later runs: the big cases
(twelve monthly workbooks, a 1,000,000-row one) take minutes to write. Each folder holds only
that file, so discovery (``--data-dir``) finds exactly it. Writes files only.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import domains.annuity_income.sample
import domains.annuity_performance.sample
import facts.sample
import facts.xlsx
from domains.annuity_performance.sample import existing_plan_codes, existing_portfolio_codes
from facts.sample import sample_file_name
from facts.sample import write_sample_workbook as sample_write
from facts.sample_spec import SampleSpec

REAL_BLANK_ROWS = 38_000  # formatted empty rows after the data in real files (§2)


@dataclass(frozen=True)
class Workbook:
    spec: SampleSpec
    path: Path
    plan_codes: tuple[str, ...]  # as cleansing yields them: the plan candidates
    portfolio_codes: tuple[str, ...]  # non-default portfolio codes: the portfolio candidates but QTAN00x

    @property
    def data_dir(self) -> Path:
        return self.path.parent

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@functools.cache
def generator_digest() -> str:
    """A digest of the generator's source: a cached workbook of an older generator is not reused."""
    modules = (facts.sample, facts.xlsx, domains.annuity_performance.sample, domains.annuity_income.sample)
    return hashlib.sha256("".join(inspect.getsource(module) for module in modules).encode()).hexdigest()


def workbook_for(
    rows: int, *, blank_rows: int, directory: Path, realities: bool = True, month: int | None = None
) -> Workbook:
    """The sample workbook of ``rows`` data rows (about rows/20 plans and rows/5 portfolios) of
    ``month`` (default: the sample's), written under ``directory`` unless an identical one is there
    already; ``realities=False``: the same layout with clean cells (the peers' workbook). Writes files only."""
    spec = SampleSpec(rows=rows, trailing_blank_rows=blank_rows, realities=realities)
    if month is not None:
        spec = SampleSpec(rows=rows, trailing_blank_rows=blank_rows, realities=realities, month=month)
    digest = hashlib.sha256((repr(spec) + generator_digest()).encode()).hexdigest()[:10]
    path = directory / f"rows-{rows}-{digest}" / sample_file_name(spec.year, spec.month)
    marker = path.with_name(".complete")
    if not (path.exists() and marker.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        sample_write(path, spec)
        marker.write_text(repr(spec), encoding="utf-8")
    return Workbook(spec, path, tuple(existing_plan_codes(spec)), tuple(existing_portfolio_codes(spec)))


def year_workbooks(rows: int, *, files: int, blank_rows: int, directory: Path) -> list[Workbook]:
    """A year's re-load: ``files`` monthly workbooks (January on) of ``rows`` rows each — the same
    plans and portfolios every month, as in a real year, each month its own file and 月度. Writes files only."""
    if not 1 <= files <= 12:
        raise ValueError(f"a year has 1 to 12 monthly workbooks, not {files}")
    return [
        workbook_for(rows, blank_rows=blank_rows, directory=directory, month=month) for month in range(1, files + 1)
    ]


def codes_union(workbooks: Sequence[Workbook]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every plan code and every non-default portfolio code of ``workbooks``, sorted."""
    plans = sorted({code for workbook in workbooks for code in workbook.plan_codes})
    portfolios = sorted({code for workbook in workbooks for code in workbook.portfolio_codes})
    return tuple(plans), tuple(portfolios)
