"""The sample workbook: one synthetic monthly workbook shaped like the real ones, carrying the
sheet of every installed sheet type (each domain package writes its own, :mod:`facts.domain`).

Equal specs give byte-identical files. Writes files only; never touches the database. The
package itself is written by :mod:`facts.xlsx`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from facts.domain import domains_registered
from facts.sample_spec import DEFAULT_SPEC, SampleSpec
from facts.xlsx import write_package


def sample_file_name(year: int, month: int, version: int = 0) -> str:
    """The real files' name, e.g. ``【年金规模收入】26年2月年金业务规模明细(手工汇总)_V2.xlsx``."""
    suffix = f"_V{version}" if version else ""
    return f"【年金规模收入】{year % 100:02d}年{month}月年金业务规模明细(手工汇总){suffix}.xlsx"


def write_sample_workbook(path: Path, spec: SampleSpec = DEFAULT_SPEC) -> Path:
    """Write the sample to ``path`` (replaced whole; folders created) and return ``path``: one sheet
    per installed sheet type, in ``INSTALLED_APPS`` order. Files only."""
    sheets = [domain.sample_sheet(spec) for domain in domains_registered().values()]
    write_package(path, sheets, description=f"wdh sample: {spec}", created=date(spec.year, spec.month, 1))
    return path
