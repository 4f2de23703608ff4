"""The benchmark's workbooks: realistic samples (ANNUITY_PERFORMANCE.md §2), generated once.

:func:`facts.sample.write_sample_workbook` gives byte-identical files for equal specs, so a
workbook is generated once per spec into ``bench/results/workbooks/`` (git-ignored) and reused
by later runs. Its folder holds only that file, so discovery (``--data-dir``) finds exactly it.
Writes files only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

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


def workbook_for(rows: int, *, blank_rows: int, directory: Path, realities: bool = True) -> Workbook:
    """The sample workbook of ``rows`` data rows (about rows/20 plans and rows/5 portfolios),
    written under ``directory`` unless an identical one is there already; ``realities=False``:
    the same layout with clean cells (the peers' workbook). Writes files only."""
    spec = SampleSpec(rows=rows, trailing_blank_rows=blank_rows, realities=realities)
    digest = hashlib.sha256(repr(spec).encode()).hexdigest()[:10]
    path = directory / f"rows-{rows}-{digest}" / sample_file_name(spec.year, spec.month)
    marker = path.with_name(".complete")
    if not (path.exists() and marker.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        sample_write(path, spec)
        marker.write_text(repr(spec), encoding="utf-8")
    return Workbook(spec, path, tuple(existing_plan_codes(spec)), tuple(existing_portfolio_codes(spec)))
