"""An operator's SIGTERM or SIGINT during a run: stop the run, roll it back, record it.

While :func:`interruptible` is active, the first SIGTERM or SIGINT

- cancels the statement the run's backend is executing (from a helper thread, because the main
  thread may be blocked inside libpq, where no Python signal handler can run), and
- raises :class:`RunInterrupted` in the main thread as soon as it runs Python code again.

Either way the open transaction rolls back. ``RunInterrupted`` derives from ``BaseException``
so that no ``except Exception`` on the way up (a reader wrapping a library's errors) turns the
operator's request into a row or file error. Once :meth:`Interruption.hold` is called — the run
is committing, or recording its end — signals are only noted: a commit under way finishes or
fails on its own, and the record of the run gets written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)

# The thread that turns a signal into a cancel of the running statement. It spends its life
# blocked reading its wake-up pipe, holding no lock, so a process may fork beside it
# (facts/scan_worker.py forks only beside this thread).
WATCHER = "wdh-signal-watcher"


class RunInterrupted(BaseException):  # a request to stop, not an error: no ``except Exception`` catches it
    """The run received SIGTERM or SIGINT; ``signal_name`` says which."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"interrupted by {signal_name}")


class Interruption:
    """What :func:`interruptible` observed: the first signal's name, and whether it may raise."""

    def __init__(self) -> None:
        self.signal_name = ""
        self.signal_stage = ""  # what the run was doing when the signal came (``where``)
        self.armed = True
        self.cancel: Callable[[], None] = lambda: None  # set once the run's session is connected
        self.where: Callable[[], str] = lambda: ""  # the run's stage: the one an interrupted run names

    def hold(self) -> None:
        """From now on a signal is only noted: the run is committing or recording its end."""
        self.armed = False

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if a signal came while armed and its exception was lost
        — raised where Python ignores exceptions (an at-fork hook, a finalizer): called before the
        run commits or records its end, so that no signal is lost whatever it interrupted."""
        if self.signal_name and self.armed:
            raise RunInterrupted(self.signal_name)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name:
            return  # a second Ctrl-C while the run rolls back and records its end
        self.signal_name = signal.Signals(signum).name
        self.signal_stage = self.where()  # named even if the exception below is lost on the way
        if self.armed:
            raise RunInterrupted(self.signal_name)

    def _cancel_on_wakeup(self, wakeup: int) -> None:
        while os.read(wakeup, 1):  # one byte per signal; empty once the write end is closed
            if self.armed:
                with contextlib.suppress(Exception):  # no statement running, or the connection is gone
                    self.cancel()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT held back (pending) inside the block, delivered as it ends: around a
    fork, whose at-fork hooks (logging's, multiprocessing's) would swallow the exception the
    handler raises. A worker forked inside it starts with them held: it lets them through once
    its own handlers are set (wdh/worker_process.py)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def interruptible() -> Iterator[Interruption]:
    """Handle SIGTERM and SIGINT as described in the module docstring. The caller sets
    ``cancel`` to what cancels the run's current statement (callable from another thread).
    Outside the main thread (where Python cannot handle signals) nothing is installed."""
    interruption = Interruption()
    if threading.current_thread() is not threading.main_thread():
        yield interruption
        return
    wakeup, notify = os.pipe()
    os.set_blocking(notify, False)
    previous_fd = signal.set_wakeup_fd(notify, warn_on_full_buffer=False)
    previous = {signum: signal.signal(signum, interruption._handle) for signum in SIGNALS}
    watcher = threading.Thread(target=interruption._cancel_on_wakeup, args=(wakeup,), daemon=True, name=WATCHER)
    watcher.start()
    try:
        yield interruption
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(notify)
        watcher.join(timeout=5)
        os.close(wakeup)


def despite_signals(step: Callable[[], object]) -> None:
    """Run ``step`` to its end even when a signal's handler raises inside it (the run's
    RunInterrupted, raised once), then raise what was raised: a thread waited for is always
    waited for to its end (facts/staging_writer.py, facts/sheet_ahead.py)."""
    raised: BaseException | None = None
    while True:
        try:
            step()
            break
        except BaseException as error:  # retried; the first is raised once the step is done
            raised = raised or error
    if raised is not None:
        raise raised
