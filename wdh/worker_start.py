"""What a worker process forked from a run does first (facts/scan_worker.py,
facts/cleansing_worker.py), so that it never outlives its use or holds what is the run's.

- Signals: it ignores SIGINT (Ctrl-C reaches the whole process group: the run decides), dies by
  SIGTERM (how the run ends it), and writes nothing to the run's wake-up pipe
  (wdh/interruption.py).
- The database: its copies of the run's database sockets are replaced by ``/dev/null``, without a
  word to the server. Otherwise a worker whose run was killed (``kill -9``) kept the run's
  session open — its backend alive, its advisory lock held — for as long as the worker lived.
  The run's own session is untouched (the socket stays open in the run), and nothing in the
  worker can write to it by mistake: a write would go to ``/dev/null``.
"""

from __future__ import annotations

import os
import signal

from django.db import connections


def worker_started() -> None:
    """Set up the worker process that has just been forked (module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for wrapper in connections.all(initialized_only=True):
            raw = wrapper.connection
            if raw is not None and not raw.closed:
                os.dup2(null, raw.fileno())
    finally:
        os.close(null)
