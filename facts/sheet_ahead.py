"""The next workbook's sheet loaded ahead, by a thread, while this one's rows are cleansed.

Loading a sheet (:func:`facts.workbook.load_sheet`) is mostly calamine's parse of it (of its first
piece, for a sheet read in pieces or shared with a worker: facts/sheet_pieces.py), during which
calamine lets go of the GIL. In a batch of several workbooks, each was loaded only once the one
before was read: about a third of a second per 50,000-row workbook with one core idle. A
:class:`SheetAhead` loads the next one beside the reading of this one (facts/batch.py starts it
once this workbook's worker is forked: a fork beside a running thread would copy its locks).

Exactly as loading it then: the file is checked and loaded by the same functions; what they
raise is raised by :meth:`SheetAhead.loaded`, when the workbook is due — after every row of the
ones before. A run that stops first (a failure, a signal) waits for the thread and lets go of
what it loaded (:meth:`SheetAhead.abandon`): its cells, and a sheet in pieces' temporary files.
Reads files only (and writes a big sheet's pieces).
"""

from __future__ import annotations

import threading
from pathlib import Path

from facts.sheet_pieces import PiecedSheet
from facts.workbook import LoadedSheet, check_file, load_sheet
from wdh.interruption import despite_signals

LOADER = "wdh-sheet-loader"  # the thread's name


class SheetAhead:
    """``load_sheet(path, sheet, sheet_key)`` under way in a thread; :meth:`loaded` or
    :meth:`abandon` must follow."""

    def __init__(self, path: Path, sheet: str | int, sheet_key: str) -> None:
        self.path = path
        self._loaded: LoadedSheet | None = None
        self._error: BaseException | None = None
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._load, args=(sheet, sheet_key), name=LOADER, daemon=True)
        self._thread.start()

    def _load(self, sheet: str | int, sheet_key: str) -> None:
        try:
            check_file(self.path)
            self._loaded = load_sheet(self.path, sheet, sheet_key)
        except BaseException as error:  # raised by loaded(), in the reading thread
            self._error = error
        finally:
            self._ended.set()

    def loaded(self) -> LoadedSheet:
        """The loaded sheet, once the thread has ended; raises what the loading raised (or a
        signal's exception while it waited: what was loaded is let go then)."""
        try:
            self._wait()
        except BaseException:
            self.abandon()
            raise
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        loaded, self._loaded = self._loaded, None
        assert loaded is not None
        return loaded

    def abandon(self) -> None:
        """Wait for the thread and let go of what it loaded (the reading stopped before it was due)."""
        self._wait()
        loaded, self._loaded, self._error = self._loaded, None, None
        if loaded is not None and isinstance(loaded.cells, PiecedSheet):
            loaded.cells.close()

    def _wait(self) -> None:
        # Not Thread.join alone: a signal's exception inside it (Python 3.11) marks a running
        # thread stopped; the loading is bounded (one sheet's parse).
        despite_signals(self._ended.wait)
        self._thread.join()
