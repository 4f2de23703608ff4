"""wdh's whole job beside each peer configuration, on the same workbook, from the same state.

For each configuration of :data:`bench.peers.CONFIGS`, wdh's ``run_job --execute --backfill-refs
all`` and the peer run once each on identical starting states (:func:`bench.database.state_reset`
before each), in alternating order; wdh's figure is the median of its runs. Self-checks: wdh's run
succeeded and inserted every row, and every peer configuration loaded every row with no error —
a peer that loads fewer rows is not compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import stages
from bench.database import Seed, state_reset
from bench.harness import Check
from bench.peers import CONFIGS, PeerRun, peer_run, peers_install, ratio_text
from bench.report import median
from bench.workbook import Workbook, workbook_for
from wdh.config import get_config
from wdh.tables import DEFAULT_DOMAIN

TARGET_RATIO = 10.0  # the fastest peer configuration takes at least this many times wdh's whole job


@dataclass
class PeersRun:
    workbook: Workbook
    version: str
    wdh_seconds: list[float] = field(default_factory=list)
    peers: list[PeerRun] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def wdh_median(self) -> float:
        return median(self.wdh_seconds)

    def fastest(self) -> PeerRun | None:
        return min(self.peers, key=lambda peer: peer.seconds, default=None)

    def target_ratio(self) -> float | None:
        """The fastest peer's time over wdh's whole job (median), or None without a peer."""
        fastest = self.fastest()
        return None if fastest is None or not self.wdh_seconds else fastest.seconds / self.wdh_median


def peers_bench(rows: int, *, blank_rows: int, workdir: Path, say: Callable[[str], None]) -> PeersRun:
    """Install the peer if needed, then measure. Writes the benchmark database and the venv."""
    domain = get_config().domain(DEFAULT_DOMAIN)
    workbook = workbook_for(rows, blank_rows=blank_rows, directory=workdir, realities=False)
    seed = Seed.half_of(workbook.plan_codes, workbook.portfolio_codes)
    run = PeersRun(workbook, peers_install())
    for index, config in enumerate(CONFIGS):
        for side in ("peer", "wdh") if index % 2 else ("wdh", "peer"):
            state_reset(domain, seed)
            if side == "wdh":
                say(f"peers, {rows:,} rows: wdh's whole job ({index + 1}/{len(CONFIGS)})")
                _wdh(run)
            else:
                say(f"peers, {rows:,} rows: django-import-export {run.version}, {config.name}")
                _peer(run, peer_run(config, workbook.path))
    state_reset(domain, seed)
    return run


def _wdh(run: PeersRun) -> None:
    measured = stages.job_stage(run.workbook, execute=True)
    run.wdh_seconds.append(measured.seconds)
    status, inserted = measured.value["status"], measured.value["facts"]["inserted"]
    ok = status == "succeeded" and inserted == run.workbook.spec.rows
    _check(run, "peers: wdh's whole job inserted every row", ok, f"status {status}, {inserted} fact rows inserted")


def _peer(run: PeersRun, peer: PeerRun) -> None:
    run.peers.append(peer)
    rows = run.workbook.spec.rows
    ok = peer.loaded == rows and peer.invalid == 0
    detail = f"{peer.loaded} rows loaded, {peer.invalid} rows in error; workbook {rows}"
    _check(run, f"peers: {peer.config.name} loaded every row", ok, detail)


def _check(run: PeersRun, name: str, ok: bool, detail: str) -> None:
    if not any(check.name == name and check.ok == ok for check in run.checks):
        run.checks.append(Check(name, ok, detail))


def peers_table(run: PeersRun) -> list[str]:
    """The peers' part of the printed table, as lines of text."""
    spec, wdh = run.workbook.spec, run.wdh_median
    lines = [
        f"peers: django-import-export {run.version} · {spec.rows:,} rows + {spec.trailing_blank_rows:,} blank rows, "
        f"clean cells ({run.workbook.size / 1_000_000:.1f} MB) · each configuration once, "
        f"wdh median of {len(run.wdh_seconds)}",
        f"  {'configuration':<26}{'seconds':>10}{'rows/s':>11}{'loaded':>9}   {'peer / wdh whole job':>20}",
        f"  {'wdh whole job':<26}{wdh:>10.3f}{spec.rows / wdh:>11,.0f}{spec.rows:>9,}",
    ]
    for peer in run.peers:
        lines.append(
            f"  {peer.config.name:<26}{peer.seconds:>10.3f}{spec.rows / peer.seconds:>11,.0f}"
            f"{peer.loaded:>9,}   {ratio_text(peer.seconds, wdh):>20}"
        )
    ratio = run.target_ratio()
    verdict = "n/a" if ratio is None else ("met" if ratio >= TARGET_RATIO else "MISSED")
    value = "—" if ratio is None else f"{ratio:.2f}×"
    lines.append(f"  {'fastest peer ≥ 10× wdh whole job':<48} {value:>12}  {verdict}")
    return lines


def peers_json(run: PeersRun) -> dict[str, Any]:
    ratio = run.target_ratio()
    return {
        "package": f"django-import-export=={run.version}",
        "rows": run.workbook.spec.rows,
        "workbook": str(run.workbook.path),
        "wdh_whole_job_s": {"median": run.wdh_median, "runs": run.wdh_seconds},
        "configurations": [
            {
                "name": peer.config.name,
                "use_bulk": peer.config.use_bulk,
                "skip_diff": peer.config.skip_diff,
                "seconds": peer.seconds,
                "loaded": peer.loaded,
                "invalid": peer.invalid,
                "ratio_to_wdh": peer.seconds / run.wdh_median,
            }
            for peer in run.peers
        ],
        "target": {"name": "fastest peer ≥ 10× wdh whole job", "value": ratio, "limit": TARGET_RATIO,
                   "met": None if ratio is None else ratio >= TARGET_RATIO},
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in run.checks],
    }  # fmt: skip
