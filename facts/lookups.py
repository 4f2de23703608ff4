"""Warehouse data the cleansing consults: branch codes (组织架构) and plans' company ids.

Read from the warehouse by :func:`refs.lookup_reading.lookups_read`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lookups:
    """Warehouse data read before cleansing (empty when the table does not exist)."""

    branch_codes: Mapping[str, str] = field(default_factory=dict)  # 组织架构: 机构 → 机构代码
    plan_company_ids: Mapping[str, str] = field(default_factory=dict)  # 年金计划: 年金计划号 → company_id
