"""Conflict warnings: a key whose rows disagree on a ``warn_on_conflict`` column, worded for people.

A portfolio under several plans is the usual case. Two kinds read differently:

- a key the configuration expects to be shared (the default portfolio codes of
  ``mappings.default_portfolio_code``, e.g. QTAN002 for every 单一计划 without a portfolio) gets one
  summary line with a count: listing its thousands of plans says nothing a person can use;
- any other key names at most ``SAMPLE`` values and a count in ``message``; ``detail`` names
  them all (for ``--verbosity 2`` and the audit record's "show all").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from facts.codes import HEAD_OFFICE_BRANCH_CODE
from wdh.config import DEFAULT_REFS, ColumnRule, DomainConfig, RefTarget

SAMPLE = 10  # values a conflict warning names before "and N more"
# A conflict on a column holding another target's key reads "appears under 3 plans (…)".
_TARGET_KEYED_BY = {target.key[0]: name for name, target in DEFAULT_REFS.items()}


@dataclass(frozen=True)
class DerivationWarning:
    """One key whose group holds several distinct values for a ``warn_on_conflict`` column."""

    target: str  # the declared target name, e.g. "portfolios"
    key: str  # the candidate key, e.g. a portfolio code
    column: str  # the reference column, e.g. 年金计划号
    values: tuple[str, ...]  # the distinct values seen, in first-seen order
    message: str  # one readable line: at most SAMPLE values named
    detail: str = ""  # the same naming every value; empty when ``message`` already does

    @property
    def full(self) -> str:
        """The warning with every value named (``message`` when it names them all)."""
        return self.detail or self.message


def expected_shared(domain: DomainConfig) -> dict[str, str]:
    """Keys the configuration means to be shared by many rows, each with why (its summary label):
    the default portfolio codes, and G00, the 机构代码 of every row without a branch."""
    shared = dict.fromkeys(domain.mappings.default_portfolio_code.values(), "default portfolio")
    return shared | {HEAD_OFFICE_BRANCH_CODE: "head-office default"}


def conflict_warning(
    target: RefTarget, rule: ColumnRule, key: str, values: tuple[str, ...], *, shared: Mapping[str, str]
) -> DerivationWarning:
    """The warning for ``key`` of ``target``, whose rows hold ``values`` for ``rule``'s column."""
    keyed = _TARGET_KEYED_BY.get(rule.column)
    what = keyed or f"distinct {rule.source} values"
    if key in shared:
        message = f"{key}: {shared[key]}, shared by {len(values):,} {what}; {rule.column} left as {values[0]}"
        return DerivationWarning(target.name, key, rule.column, values, message)
    head = f"{_singular(target.name)} {key} appears under {len(values):,} {what}"
    tail = f"{rule.column} = {values[0]} (first seen)"
    full = f"{head} ({', '.join(values)}); {tail}"
    if len(values) <= SAMPLE:
        return DerivationWarning(target.name, key, rule.column, values, full)
    named = f"{', '.join(values[:SAMPLE])} and {len(values) - SAMPLE:,} more"
    return DerivationWarning(target.name, key, rule.column, values, f"{head} ({named}); {tail}", detail=full)


def _singular(name: str) -> str:
    """A target's name for one of its rows: plans → plan, branches → branch, product_lines →
    product_line (a configured name that is not an English plural stays as it is)."""
    if name.endswith(("ches", "shes", "sses", "xes")):
        return name[:-2]
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name.removesuffix("s")
