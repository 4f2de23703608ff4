"""``python -m bench.peak OUT ARGS…``: run ``manage.py ARGS…`` and write its peak RSS to OUT.

The peak comes from the process itself (``VmHWM`` of ``/proc/self/status``): the ``ru_maxrss``
a parent gets from ``wait4()`` would include the parent's own resident memory, which a child
started by fork or vfork inherits into its high-water mark before it execs.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path


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


def main() -> None:
    out, *args = sys.argv[1:]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wdh.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["manage.py", *args])
    finally:
        Path(out).write_text(str(peak_rss_bytes()), encoding="utf-8")


if __name__ == "__main__":
    main()
