"""A run's temporary folders are named for its process, and the folders of a process that has
ended — a run killed outright, which could not clean up — are removed by the next one made
(wdh/temp_folder.py). The process-level case: tests/test_cleansing_worker.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from wdh.temp_folder import temp_folder


def test_a_new_folder_removes_those_of_ended_processes_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / f"wdh-pieces-{int(ended.stdout)}-abc"  # its process has ended
    alive = tmp_path / f"wdh-copy-{1}-def"  # process 1 lives as long as the machine
    others = [tmp_path / "wdh-pieces-noid", tmp_path / "other-123-x", tmp_path / "wdh-pieces-999999999-file"]
    for folder in (gone, alive, *others[:2]):
        folder.mkdir()
        (folder / "piece.xlsx").write_bytes(b"x" * 1000)
    others[2].write_text("a file, not a folder")

    with temp_folder("pieces") as made:
        assert Path(made).name.startswith(f"wdh-pieces-{os.getpid()}-")
        assert not gone.exists()
        assert alive.exists() and all(path.exists() for path in others)
    assert not Path(made).exists()
