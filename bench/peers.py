"""The peer wdh is compared with: django-import-export loading the same workbook into the same
fact table, as a Django user would write it (``python -m bench --peers``).

The peer is installed for the benchmark only (``bench/requirements-peers.txt``, pinned), on
demand, into the running interpreter's environment; wdh and its tests never import it. Its
resource is the minimal one for the unmanaged fact model :class:`domains.annuity_performance.models.AnnuityPerformance`:
the header labels that name a fact column, a widget for the ``yyyymm`` month cell, nothing else —
no cleansing, no derivation, no reference backfill, no delete of the month, no audit record. It
reads the workbook itself, as the library's documentation shows: ``tablib.Dataset().load(file,
format="xlsx")`` (openpyxl in read-only mode, the first sheet), then ``import_data`` in one
transaction. Three configurations: the default (one ``save()`` per row), ``use_bulk``
(``bulk_create`` per 1,000 instances) and ``use_bulk`` with ``skip_diff=True``, its fastest.

The peer reads the workbook without the input realities (``SampleSpec(realities=False)``: same
layout, header, sheet, rows and blank rows, but clean cells), because a minimal resource would
fail on them; wdh's whole job is measured on that very file for the ratio.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

REQUIREMENTS = Path(__file__).with_name("requirements-peers.txt")
PACKAGE = "django-import-export"

# Header label (as the clean workbook has it, facts.sample.HEADER) → the fact column it fills.
PEER_COLUMNS: Mapping[str, str] = {
    **{name: name for name in (
        "月度", "业务类型", "计划类型", "计划代码", "计划名称", "组合类型", "组合代码", "组合名称", "客户名称",
        "期初资产规模", "期末资产规模", "供款", "流失", "待遇支付", "投资收益", "当期收益率", "机构代码",
    )},
    "流失(含待遇支付)": "流失_含待遇支付",
    "机构": "机构名称",
    "集团企业客户号": "年金账户号",
}  # fmt: skip


@dataclass(frozen=True)
class PeerConfig:
    name: str
    use_bulk: bool
    skip_diff: bool


CONFIGS = (
    PeerConfig("default", use_bulk=False, skip_diff=False),
    PeerConfig("use_bulk", use_bulk=True, skip_diff=False),
    PeerConfig("use_bulk + skip_diff", use_bulk=True, skip_diff=True),
)


@dataclass(frozen=True)
class PeerRun:
    config: PeerConfig
    seconds: float  # reading the workbook and importing it, to the commit
    loaded: int  # rows in the fact table afterwards
    invalid: int  # rows import-export reported as errors or invalid


def pinned_version() -> str:
    """The version of django-import-export that ``requirements-peers.txt`` pins."""
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == PACKAGE:
            return version.strip()
    raise RuntimeError(f"{REQUIREMENTS} pins no {PACKAGE}")


def peers_install() -> str:
    """Install the pinned peer (``pip install -r requirements-peers.txt``) unless that version is
    there already; returns its version. Writes the running interpreter's environment."""
    wanted = pinned_version()
    try:
        if importlib.metadata.version(PACKAGE) == wanted:
            return wanted
    except importlib.metadata.PackageNotFoundError:
        pass
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
    importlib.invalidate_caches()
    return importlib.metadata.version(PACKAGE)


def month_value(value: Any) -> date | None:
    """The 月度 cell as the clean workbook has it (``202602``, or a date) → the month's first day."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return date(value.year, value.month, 1)
    number = int(value)
    return date(number // 100, number % 100, 1)


def peer_resource(config: PeerConfig) -> Any:
    """A fresh ModelResource for the fact model in ``config``. Needs the peer installed."""
    from import_export import fields, resources, widgets

    from domains.annuity_performance.models import AnnuityPerformance

    class MonthWidget(widgets.Widget):  # type: ignore[misc]
        def clean(self, value: Any, row: Any = None, **kwargs: Any) -> date | None:
            return month_value(value)

    declared: dict[str, Any] = {
        column: fields.Field(attribute=column, column_name=header)
        for header, column in PEER_COLUMNS.items()
        if header != column
    }
    declared["月度"] = fields.Field(attribute="月度", column_name="月度", widget=MonthWidget())

    class Meta:
        model = AnnuityPerformance
        fields = ("id", *PEER_COLUMNS.values())
        use_bulk = config.use_bulk
        skip_diff = config.skip_diff
        batch_size = 1000

    def before_import(self: Any, dataset: Any, **kwargs: Any) -> None:
        while len(dataset) and all(value is None or not str(value).strip() for value in dataset[-1]):
            del dataset[-1]  # the formatted empty rows after the data

    namespace = {**declared, "Meta": Meta, "before_import": before_import}
    resource_class = type("FactPeerResource", (resources.ModelResource,), namespace)
    return resource_class()


def peer_run(config: PeerConfig, path: Path) -> PeerRun:
    """Read ``path`` with tablib and import it with ``config``, in one transaction (committed).
    Writes the fact table, which should be empty before."""
    import tablib

    from domains.annuity_performance.models import AnnuityPerformance

    resource = peer_resource(config)
    started = time.perf_counter()
    with path.open("rb") as handle:
        dataset = tablib.Dataset().load(handle, format="xlsx")
    result = resource.import_data(dataset, dry_run=False, raise_errors=False, use_transactions=True)
    seconds = time.perf_counter() - started
    invalid = len(result.row_errors()) + len(result.invalid_rows)
    return PeerRun(config, seconds, AnnuityPerformance.objects.count(), invalid)


def ratio_text(peer_seconds: float, wdh_seconds: float) -> str:
    """How many times wdh's whole job fits into the peer's time, e.g. ``12.3×``."""
    if wdh_seconds <= 0:
        return "—"
    return f"{peer_seconds / wdh_seconds:.1f}×"
