"""``python -m bench.peak OUT ARGS…``: run ``manage.py ARGS…`` and write its peak RSS to OUT;
``python -m bench.peak OUT --read-sheet PATH SHEET``: the reader's own footprint — import what
``run_job`` imports, then read the sheet as the read floor does (:func:`bench.floors.read_floor`);
``--stream-sheet`` instead of ``--read-sheet``: read the sheet with wdh's own reader
(:func:`facts.excel.read_sheet`: its pre-scan, then the sheet whole or in pieces as ``run_job``
reads it) and pass over its rows one by one, keeping none — what reading costs ``run_job``.

OUT receives JSON: ``peak_rss_bytes`` and ``seconds``, the wall time of the command (Django's
set-up included) or of the read. The peak comes from the process itself (``VmHWM`` of
``/proc/self/status``): the ``ru_maxrss`` a parent gets from ``wait4()`` would include the
parent's own resident memory, which a child started by fork or vfork inherits into its
high-water mark before it execs. To it is added the most that a cleansing worker the run forked
held of its own (:func:`facts.cleansing_worker.workers_peak`: its ``VmHWM`` less what it shared
with the run when forked), so that a sheet read by two processes is weighed whole.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

READ_SHEET, STREAM_SHEET = "--read-sheet", "--stream-sheet"


def peak_rss_bytes() -> int:
    """This process's peak resident set size since it started (exec), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


def _read_sheet(path: str, sheet: str, *, stream: bool) -> None:
    """What the job imports (Django set up, the run_job command's modules), then the read floor
    (or, ``stream``, wdh's reader passing over the sheet's rows one by one)."""
    import django
    from django.core.management import load_command_class

    django.setup()
    load_command_class("refs", "run_job")
    from bench.floors import read_floor
    from facts.excel import read_sheet

    if stream:
        for _ in read_sheet(Path(path), sheet).iter_rows():
            pass
    else:
        read_floor(Path(path), sheet)


def main() -> None:
    out, *args = sys.argv[1:]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wdh.settings")
    started = time.perf_counter()
    try:
        if args[:1] in ([READ_SHEET], [STREAM_SHEET]):
            _read_sheet(*args[1:], stream=args[0] == STREAM_SHEET)
        else:
            from django.core.management import execute_from_command_line

            execute_from_command_line(["manage.py", *args])
    finally:
        from facts.cleansing_worker import workers_peak

        report = {
            "peak_rss_bytes": peak_rss_bytes() + workers_peak(),  # a cleansing worker's own memory too
            "seconds": time.perf_counter() - started,
        }
        Path(out).write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    main()
