"""A worker process forked from a run (facts/scan_worker.py, facts/cleansing_worker.py): how the
run forks it (:func:`start_worker`) and ends it (:func:`reap_worker`), and what it does first
(:func:`worker_started`), so that it never outlives its use, holds nothing of the run's, and
costs the run no signal.

- The fork: SIGTERM and SIGINT are held back while it happens (``signals_held``: an at-fork hook
  would swallow the exception the run's handler raises, and the run would go on to its end), and
  the collector's objects are frozen, so that the worker's collections leave this process's
  pages alone.

- Signals: it ignores SIGINT (Ctrl-C reaches the whole process group: the run decides), dies by
  SIGTERM (how the run ends it), and writes nothing to the run's wake-up pipe
  (wdh/interruption.py); the run forks it with both held back (``signals_held``), and it lets
  them through once its own handlers are set.
- The database: its copies of the run's database sockets are replaced by ``/dev/null``, without a
  word to the server. Otherwise a worker whose run was killed (``kill -9``) kept the run's
  session open — its backend alive, its advisory lock held — for as long as the worker lived.
  The run's own session is untouched (the socket stays open in the run), and nothing in the
  worker can write to it by mistake: a write would go to ``/dev/null``.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
from multiprocessing.process import BaseProcess

from django.db import connections

from wdh.interruption import SIGNALS, signals_held


def forkable_beside(*threads: str) -> bool:
    """Whether every other thread of this process is one of ``threads`` (by name): threads whose
    state a forked copy of this process may hold without harm (one that held a lock as the fork
    happened would leave it held in the worker for ever)."""
    here = threading.current_thread()
    return all(thread is here or thread.name in threads for thread in threading.enumerate())


def start_worker(worker: BaseProcess) -> None:
    """Start (fork) ``worker`` as the module docstring says. A signal that came meanwhile is raised
    as this returns: the caller reaps the worker on its way up (:func:`reap_worker`)."""
    gc.freeze()
    try:
        with signals_held():
            worker.start()
    finally:
        gc.unfreeze()


def reap_worker(worker: BaseProcess) -> None:
    """End ``worker`` if it still runs (the run stopped early) and wait for it; nothing if it never started."""
    if worker.ident is None:
        return
    if worker.is_alive():
        worker.terminate()
    worker.join()


def worker_started() -> None:
    """Set up the worker process that has just been forked (module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # held while the run forked (signals_held)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for wrapper in connections.all(initialized_only=True):
            raw = wrapper.connection
            if raw is not None and not raw.closed:
                os.dup2(null, raw.fileno())
    finally:
        os.close(null)
