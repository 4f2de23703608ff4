"""The thread that COPYs cleansed chunks into the staging table while the reading thread cleanses
the next one (issue 13 item 2): PostgreSQL parses and stores chunk k while Python cleanses k+1.

It uses the run's own session (a temporary table belongs to one session): psycopg2 lets threads
share a connection, never a cursor, and the reading thread does not touch the connection while
the writer runs (the lookups are read before). At most :data:`IN_FLIGHT` chunks wait or are being
copied, so memory stays bounded: the reading thread blocks when the writer falls behind.

A failure of the writer is never lost: the next hand-off, or the end of the reading, raises it
in the reading thread (as Django's DatabaseError, like any statement of the run). When the
reading thread fails instead (a refused file, a signal: the run's cancel interrupts the COPY
under way), its exception wins, and the writer is told to stop. Either way the thread is joined
before the reading returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from django.db import connection

from facts.fact_staging import FactStaging
from wdh.interruption import despite_signals

IN_FLIGHT = 2  # chunks handed over and not yet copied: one being copied, one waiting
WAKE_SECONDS = 0.05  # how often an idle writer looks whether the reading is done
WRITER = "wdh-staging-writer"  # the thread's name (facts/cleansing_worker.py forks beside it)

_Chunk = tuple[int, Sequence[dict[str, Any]], Sequence[str | None]]


class StagingWriter:
    """``with StagingWriter(staging) as writer: writer.put(rows, pending)`` — each chunk copied
    in order by one thread; leaving the block waits for the last COPY and joins the thread."""

    def __init__(self, staging: FactStaging) -> None:
        self.staging = staging
        connection.ensure_connection()
        self._raw = connection.connection
        self._wrap = connection.wrap_database_errors
        self._queue: queue.Queue[_Chunk] = queue.Queue(maxsize=IN_FLIGHT - 1)
        self._done = threading.Event()  # the reading handed over its last chunk
        self._finished = threading.Event()  # the writer took its last chunk: the session is free
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name=WRITER, daemon=True)
        self.error: BaseException | None = None
        self.copied = 0

    def __enter__(self) -> StagingWriter:
        self._thread.start()
        return self

    def put(self, rows: Sequence[dict[str, Any]], pending: Sequence[str | None]) -> None:
        """Hand ``rows`` over (blocks while IN_FLIGHT chunks are in flight); raises the writer's
        error if it failed."""
        self._raise_error()
        if rows:
            self._queue.put((self.staging.rows + 1, rows, pending))
            self.staging.rows += len(rows)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._abandoned = True  # the reading failed: what still waits is not copied
        despite_signals(self._done.set)  # idempotent, so a signal inside it cannot leave the thread waiting
        # Not Thread.join alone: a signal's exception inside it (Python 3.11) marks a running
        # thread stopped, and the reading thread would use the session while the COPY runs.
        despite_signals(self._finished.wait)
        self._thread.join()
        if exc_type is None:
            self._raise_error()
            if self.copied != self.staging.rows:
                raise RuntimeError(f"staging: {self.staging.rows} row(s) handed over, {self.copied} copied")

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self._take_chunks()
        finally:
            self._finished.set()

    def _take_chunks(self) -> None:
        while True:
            try:
                chunk = self._queue.get(timeout=WAKE_SECONDS)
            except queue.Empty:
                if self._done.is_set():
                    return  # every chunk handed over was taken
                continue
            if self.error is None and not self._abandoned:  # else drain, so that no put() waits forever
                self._copy(*chunk)
            del chunk  # the chunk's rows are freed as soon as they are copied

    def _copy(self, start: int, rows: Sequence[dict[str, Any]], pending: Sequence[str | None]) -> None:
        try:
            with self._wrap, self._raw.cursor() as cursor:
                self.copied += self.staging.copy(cursor, start, rows, pending)
        except BaseException as error:  # handed to the reading thread, never lost
            self.error = error
