"""The progress line of a job command on a terminal: one neutral line, redrawn in place, and
erased before anything else is written, so it never runs into a log line or the summary.

Only commands use it (services report through their ``progress`` callback). The line is
erased before every record a ``wdh`` log handler emits while the line is active, and when the
``with`` block ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from wdh.escaping import printable

ERASE = "\r\033[K"  # carriage return, then erase to the end of the line (ANSI EL)
LOGGER = "wdh"


class ProgressLine:
    """A callable ``(step, done, total)`` that draws ``step`` and its count on one line.

    ``write`` must put text on the terminal as it is (no colour, no newline added).
    """

    def __init__(self, write: Callable[[str], None], flush: Callable[[], None]) -> None:
        self._write = write
        self._flush = flush
        self.shown = False

    def __call__(self, step: str, done: int, total: int | None) -> None:
        self._write(ERASE + printable(step) + _count(done, total))  # a file name may hold ESC
        self._flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line if it is drawn; the cursor is left at the start of the empty line."""
        if self.shown:
            self._write(ERASE)
            self._flush()
            self.shown = False

    @contextmanager
    def active(self) -> Iterator[ProgressLine]:
        """Draw progress inside the block; log records of ``wdh`` erase the line first."""
        guard = _EraseBeforeRecord(self)
        handlers = logging.getLogger(LOGGER).handlers
        for handler in handlers:
            handler.addFilter(guard)
        try:
            yield self
        finally:
            for handler in handlers:
                handler.removeFilter(guard)
            self.clear()


def _count(done: int, total: int | None) -> str:
    if total:
        return f": {done:,}/{total:,}"
    return f": {done:,} rows" if done else ""


class _EraseBeforeRecord(logging.Filter):
    """Lets every record through, erasing the progress line before the handler writes it."""

    def __init__(self, line: ProgressLine) -> None:
        super().__init__()
        self._line = line

    def filter(self, record: logging.LogRecord) -> bool:
        self._line.clear()
        return True
