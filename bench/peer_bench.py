"""wdh's whole job beside each peer configuration, on the same workbook, from the same state.

In each of ``repeat`` rounds, for each configuration of :data:`bench.peers.CONFIGS`, wdh's
``run_job --execute --backfill-refs all`` and the peer run once each on identical starting states
(:func:`bench.database.state_reset` before each), in alternating order so that a noisy machine's
drift spreads over both; every figure is a median (a configuration's over its rounds, wdh's over
all its runs). Self-checks: wdh's run succeeded and inserted every row, and every peer run loaded
every row with no error — a peer that loads fewer rows is not compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import stages
from bench.database import Seed, state_reset
from bench.harness import Check
from bench.peers import CONFIGS, PeerConfig, PeerRun, peer_run, peers_install, ratio_text
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

    def configurations(self) -> list[PeerConfig]:
        """The configurations measured at least once, in :data:`CONFIGS` order."""
        return [config for config in CONFIGS if any(peer.config == config for peer in self.peers)]

    def peer_seconds(self, config: PeerConfig) -> list[float]:
        return [peer.seconds for peer in self.peers if peer.config == config]

    def peer_median(self, config: PeerConfig) -> float:
        return median(self.peer_seconds(config))

    def fastest(self) -> PeerConfig | None:
        """The configuration with the smallest median, or None without a peer run."""
        return min(self.configurations(), key=self.peer_median, default=None)

    def target_ratio(self) -> float | None:
        """The fastest configuration's median over wdh's whole job (median), or None."""
        fastest = self.fastest()
        return None if fastest is None or not self.wdh_seconds else self.peer_median(fastest) / self.wdh_median


def peers_bench(rows: int, *, repeat: int = 1, blank_rows: int, workdir: Path, say: Callable[[str], None]) -> PeersRun:
    """Install the peer if needed, then measure ``repeat`` rounds. Writes the benchmark database
    and the venv."""
    domain = get_config().domain(DEFAULT_DOMAIN)
    workbook = workbook_for(rows, blank_rows=blank_rows, directory=workdir, realities=False)
    seed = Seed.half_of(workbook.plan_codes, workbook.portfolio_codes)
    run = PeersRun(workbook, peers_install())
    pairs = [(round_, config) for round_ in range(repeat) for config in CONFIGS]
    for index, (round_, config) in enumerate(pairs):
        for side in ("peer", "wdh") if index % 2 else ("wdh", "peer"):
            state_reset(domain, seed)
            progress = f"peers, {rows:,} rows, round {round_ + 1}/{repeat}"
            if side == "wdh":
                say(f"{progress}: wdh's whole job")
                _wdh(run)
            else:
                say(f"{progress}: django-import-export {run.version}, {config.name}")
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
    rounds = max((len(run.peer_seconds(config)) for config in run.configurations()), default=0)
    lines = [
        f"peers: django-import-export {run.version} · {spec.rows:,} rows + {spec.trailing_blank_rows:,} blank rows, "
        f"clean cells ({run.workbook.size / 1_000_000:.1f} MB) · medians: each configuration of {rounds}, "
        f"wdh of {len(run.wdh_seconds)}",
        f"  {'configuration':<26}{'seconds':>10}{'rows/s':>11}{'loaded':>9}   {'peer / wdh whole job':>20}",
        f"  {'wdh whole job':<26}{wdh:>10.3f}{spec.rows / wdh:>11,.0f}{spec.rows:>9,}",
    ]
    for config in run.configurations():
        seconds, loaded = run.peer_median(config), min(p.loaded for p in run.peers if p.config == config)
        lines.append(
            f"  {config.name:<26}{seconds:>10.3f}{spec.rows / seconds:>11,.0f}"
            f"{loaded:>9,}   {ratio_text(seconds, wdh):>20}"
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
                "name": config.name,
                "use_bulk": config.use_bulk,
                "skip_diff": config.skip_diff,
                "seconds": {"median": run.peer_median(config), "runs": run.peer_seconds(config)},
                "loaded": [peer.loaded for peer in run.peers if peer.config == config],
                "invalid": [peer.invalid for peer in run.peers if peer.config == config],
                "ratio_to_wdh": run.peer_median(config) / run.wdh_median,
            }
            for config in run.configurations()
        ],
        "target": {"name": "fastest peer ≥ 10× wdh whole job", "value": ratio, "limit": TARGET_RATIO,
                   "met": None if ratio is None else ratio >= TARGET_RATIO},
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in run.checks],
    }  # fmt: skip
