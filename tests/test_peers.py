"""The peer harness of ``python -m bench --peers`` is wired correctly. Not a timing test, and it
installs nothing: the pure parts (pin, column map, month widget, medians, verdict) run always;
the import itself only where django-import-export is installed already, and is skipped otherwise."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from bench.peer_bench import TARGET_RATIO, PeersRun, peers_json, peers_table
from bench.peers import CONFIGS, PACKAGE, PEER_COLUMNS, REQUIREMENTS, PeerRun, month_value, pinned_version, ratio_text
from bench.workbook import Workbook
from domains.annuity_performance.models import FACT_COLUMNS
from domains.annuity_performance.sample import HEADER
from facts.sample import write_sample_workbook
from facts.sample_spec import SampleSpec

BASE_DIR = Path(__file__).resolve().parent.parent


def test_the_peer_is_pinned_for_the_benchmark_only() -> None:
    pins = dict(line.split("==") for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines() if "==" in line)
    assert pins[PACKAGE] == pinned_version() and set(pins) == {PACKAGE, "tablib", "diff-match-patch"}
    runtime = (BASE_DIR / "requirements.txt").read_text(encoding="utf-8").lower()
    assert PACKAGE not in runtime and "tablib" not in runtime


def test_the_resource_maps_workbook_headers_onto_distinct_fact_columns() -> None:
    assert set(PEER_COLUMNS) <= set(HEADER)
    assert set(PEER_COLUMNS.values()) <= set(FACT_COLUMNS)
    assert len(set(PEER_COLUMNS.values())) == len(PEER_COLUMNS)


@pytest.mark.parametrize(
    ("cell", "month"),
    [(202602, date(2026, 2, 1)), ("202612", date(2026, 12, 1)), (date(2026, 2, 17), date(2026, 2, 1)), (None, None)],
)
def test_the_month_widget_gives_the_first_of_the_month(cell: object, month: date | None) -> None:
    assert month_value(cell) == month


def _run(tmp_path: Path, wdh: list[float], peers: dict[str, list[float]]) -> PeersRun:
    path = tmp_path / "workbook.xlsx"
    path.write_bytes(b"x")
    workbook = Workbook(SampleSpec(rows=100, trailing_blank_rows=0, realities=False), path, (), ())
    by_name = {config.name: config for config in CONFIGS}
    runs = [PeerRun(by_name[name], s, 100, 0) for name, seconds in peers.items() for s in seconds]
    return PeersRun(workbook, "4.4.3", wdh_seconds=wdh, peers=runs)


def test_ratios_are_medians_and_the_target_is_judged_on_the_fastest_configuration(tmp_path: Path) -> None:
    run = _run(tmp_path, [2.0, 1.0, 9.0], {"default": [40.0, 20.0, 30.0], "use_bulk + skip_diff": [5.0, 4.0, 50.0]})

    assert run.wdh_median == 2.0 and run.fastest() is CONFIGS[2]
    assert run.target_ratio() == 2.5 < TARGET_RATIO
    lines = peers_table(run)
    assert len(lines) == 3 + 2 + 1  # title, column heads, wdh; the two measured configurations; verdict
    assert "medians: each configuration of 3, wdh of 3" in lines[0]
    assert lines[3].split()[:2] == ["default", "30.000"] and lines[3].endswith("15.0×")
    assert lines[-1].endswith("2.50×  MISSED")
    document = json.loads(json.dumps(peers_json(run), ensure_ascii=False))
    assert [c["name"] for c in document["configurations"]] == ["default", "use_bulk + skip_diff"]
    assert document["configurations"][0]["seconds"] == {"median": 30.0, "runs": [40.0, 20.0, 30.0]}
    assert document["target"]["met"] is False and document["target"]["value"] == 2.5


def test_the_target_is_met_at_ten_times_and_absent_without_a_peer(tmp_path: Path) -> None:
    assert "10.00×  met" in "\n".join(peers_table(_run(tmp_path, [1.0], {"use_bulk": [10.0]})))
    empty = _run(tmp_path, [1.0], {})
    assert empty.target_ratio() is None and "n/a" in peers_table(empty)[-1]
    assert ratio_text(5.0, 0.0) == "—" and ratio_text(5.0, 2.0) == "2.5×"


def test_every_configuration_imports_every_row_of_a_clean_workbook(warehouse: None, tmp_path: Path) -> None:
    pytest.importorskip("import_export", reason="django-import-export is installed by python -m bench --peers only")
    from bench.peers import peer_run
    from domains.annuity_performance.models import AnnuityPerformance

    spec = SampleSpec(rows=60, trailing_blank_rows=5, realities=False)
    path = write_sample_workbook(tmp_path / "workbook.xlsx", spec)
    for config in CONFIGS:
        AnnuityPerformance.objects.all().delete()
        peer = peer_run(config, path)
        assert (peer.loaded, peer.invalid) == (60, 0), config.name
    assert AnnuityPerformance.objects.filter(月度=date(2026, 2, 1)).count() == 60
