"""What the sample workbook holds (:class:`SampleSpec`): rows, plans, portfolios, month, seed and
the input realities. A value only; :mod:`facts.sample` writes the workbook, and each domain
package's ``sample`` module writes its sheet from the spec (:attr:`facts.domain.Domain.sample_sheet`).
"""

from __future__ import annotations

from dataclasses import dataclass

from wdh.errors import InputError

EXCEL_MAX_ROWS = 1_048_576


@dataclass(frozen=True)
class SampleSpec:
    """What to generate. Invalid values raise :class:`~wdh.errors.InputError`."""

    rows: int = 300  # data rows
    plans: int | None = None  # distinct plan codes; default max(8, rows // 20)
    portfolios: int | None = None  # distinct non-default portfolio codes; default max(10, rows // 5)
    year: int = 2026
    month: int = 2
    seed: int = 20260201
    trailing_blank_rows: int = 2000  # formatted but empty rows after the data (real files: ~38,000)
    realities: bool = True  # header variants, mixed 月度 forms, placeholders, F-prefixes …

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise InputError(f"sample: {problem}")

    def _problem(self) -> str | None:
        if self.rows < 1:
            return f"rows must be at least 1, not {self.rows}"
        if self.plans is not None and self.plans < 1:
            return f"plans must be at least 1, not {self.plans}"
        if self.portfolios is not None and self.portfolios < 0:
            return f"portfolios must be 0 or more, not {self.portfolios}"
        if not 1 <= self.month <= 12:
            return f"month must be 1..12, not {self.month}"
        if not 2000 <= self.year <= 2099:
            return f"year must be 2000..2099 (file names and 月度 text carry two digits), not {self.year}"
        if self.trailing_blank_rows < 0:
            return f"trailing_blank_rows must be 0 or more, not {self.trailing_blank_rows}"
        if 1 + self.rows + self.trailing_blank_rows > EXCEL_MAX_ROWS:
            return f"header, rows and trailing blank rows exceed Excel's {EXCEL_MAX_ROWS:,} rows"
        return None

    @property
    def plan_count(self) -> int:
        return self.plans if self.plans is not None else max(8, self.rows // 20)

    @property
    def portfolio_count(self) -> int:
        return self.portfolios if self.portfolios is not None else max(10, self.rows // 5)


DEFAULT_SPEC = SampleSpec()
