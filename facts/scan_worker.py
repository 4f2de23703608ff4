"""The sheet pre-scan on both cores: the marks pass in a worker process, beside the extent pass.

The pre-scan (facts/sheet_scan.py) makes two kinds of checks on each block of a sheet's XML:
its form and far cells (the *extent*, which must be known before calamine may read the sheet)
and its values and marks (which only the cells' use needs). :func:`scan_split` runs the marks
pass in a forked worker process while this process runs the extent pass and then, still while
the worker scans, whatever the caller has to do next (calamine's parse of the sheet): reading a
sheet costs about the longer of the two instead of their sum. :class:`ScanBegun` is the same
scan in two steps, so that a caller can begin the next sheet's while this one's worker still runs
(facts/workbook.py checks a batch's workbooks so).

Exactly as one pass would: the failure reported is the one a single pass over both would have
met first (the least block, then the step), raised as it was; the worker reads the part in the
same bounded blocks, sends back only its marks and whether the rows can be cut into pieces
(:class:`~facts.sheet_form.RowOrder`: ``meanwhile`` runs before it is known), and is always
reaped — on success, on failure, and when SIGTERM or SIGINT interrupts the run
(wdh/interruption.py: the exception it raises in this process ends the worker on its way up).
The worker leaves the signals to this process, drops its copy of the database session it
inherits by the fork without a word to the server (wdh/worker_process.py: a run killed while it
scans ends its session at once), closes its copy of the pipe's reading end (a run that died
makes its send fail, never wait), only reads the file, and ends as multiprocessing's forked
processes do (``os._exit``). Reads files only.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Generic, TypeVar

from facts.sheet_form import RowOrder
from facts.sheet_scan import READING, Mark, ScanStop, SheetScan, scan_pass
from wdh.interruption import WATCHER
from wdh.worker_process import forkable_beside, reap_worker, start_worker, worker_started

T = TypeVar("T")
_CONTEXT = multiprocessing.get_context("fork")  # the worker shares this process's code and settings


@dataclass(frozen=True)
class SplitScan(Generic[T]):
    """Both passes' findings, and what the caller did meanwhile (``None`` when it was not asked)."""

    scan: SheetScan  # far cells and row places (extent pass), marks and row order (marks pass)
    meanwhile: T | None


def scan_split(path: Path, part: str, meanwhile: Callable[[SheetScan], T] | None = None) -> SplitScan[T]:
    """The pre-scan of sheet part ``part`` of the package at ``path``: the marks pass in a worker
    process, the extent pass here, then ``meanwhile(extent scan)`` here while the worker goes on.
    Raises the first failure of a single pass over both (the package's error, or a
    :class:`~facts.sheet_form.ScanRefusal`); an error of ``meanwhile`` is raised as it is, once
    the worker has ended (the scan found nothing before it, or it would not have run)."""
    begun = ScanBegun(path, part)
    value = begun.meanwhile(meanwhile)
    return SplitScan(begun.finished(), value)


class ScanBegun:
    """A sheet's pre-scan begun: its extent pass done here, its marks pass under way in a worker
    process (or done here too, where no worker can be forked) — or, not ``here``, both passes
    under way in the worker, as one pass, for a caller that has nothing to do with the extent
    meanwhile. :meth:`finished` waits for the worker and gives the scan or raises its first
    failure; :meth:`abandon` ends the worker. One or the other must be called: several scans can
    be under way at once, each with its worker (facts/workbook.py checks the workbooks of a
    batch so, one beside the other)."""

    def __init__(self, path: Path, part: str, *, here: bool = True) -> None:
        """Fork the worker, then run the extent pass here when ``here`` (:attr:`stop`: where it
        stopped, if it did)."""
        self.stop: ScanStop | None = None
        self._receiver: Connection | None = None
        self._worker: BaseProcess | None = None
        self.scan = SheetScan()  # not here: the worker's, when it answers
        try:
            if _forkable():
                self._fork(path, part, here)
                if not here:
                    return
            try:  # the extent pass here; the marks pass too where no worker runs it
                with zipfile.ZipFile(path) as archive, archive.open(part) as stream:
                    size = archive.getinfo(part).file_size
                    self.scan = scan_pass(stream, extent=True, marks=self._worker is None, size=size)
            except ScanStop as own:
                self.stop = own
        except BaseException:
            self.abandon()
            raise

    def _fork(self, path: Path, part: str, here: bool) -> None:
        receiver, sender = _CONTEXT.Pipe(duplex=False)
        self._receiver = receiver
        self._worker = _CONTEXT.Process(target=_marks_worker, args=(path, part, receiver, sender, here), daemon=True)
        try:
            start_worker(self._worker)
        finally:
            sender.close()

    def meanwhile(self, step: Callable[[SheetScan], T] | None) -> T | None:
        """``step(extent scan)`` while the worker goes on, unless the extent pass stopped (or no
        ``step``); what it raises is raised once the worker has ended."""
        if step is None or self.stop is not None:
            return None
        try:
            return step(self.scan)
        except BaseException:
            self.abandon()
            raise

    def finished(self) -> SheetScan:
        """The whole scan, once the worker has answered; raises the first failure of a single
        pass over both. The worker has ended when it returns or raises."""
        try:
            stop, answer = self.stop, None
            if self._receiver is not None:
                answer = _received(self._receiver)
                if isinstance(answer, ScanStop) and (stop is None or answer.position < stop.position):
                    stop = answer
            if stop is not None:
                raise stop.error from None
            if isinstance(answer, SheetScan):
                self.scan = answer
            elif answer is not None:
                assert not isinstance(answer, ScanStop)
                self.scan.marks, self.scan.order = answer
            return self.scan
        finally:
            self.abandon()

    def abandon(self) -> None:
        """End the worker if it still runs and wait for it (idempotent)."""
        receiver, worker, self._receiver, self._worker = self._receiver, self._worker, None, None
        if receiver is not None:
            receiver.close()
        if worker is not None:
            reap_worker(worker)


def _forkable() -> bool:
    """Whether every other thread of this process is the signal watcher."""
    return forkable_beside(WATCHER)


def _received(receiver: Connection) -> tuple[list[Mark], RowOrder] | SheetScan | ScanStop:
    try:
        answer: tuple[list[Mark], RowOrder] | SheetScan | ScanStop = receiver.recv()
    except EOFError:  # the worker died without a word (killed, out of memory)
        return ScanStop(0, READING, MemoryError("the sheet's pre-scan ended without a result"))
    return answer


def _marks_worker(path: Path, part: str, receiver: Connection, sender: Connection, here: bool) -> None:
    """The worker: the marks pass, its result (the marks and whether the rows can be cut) — or,
    when the extent pass is not run ``here``, both passes and the whole scan — or where and why
    it stopped, sent back."""
    worker_started()  # signals, and no copy of the run's database session (wdh/worker_process.py)
    receiver.close()  # this process only sends: a send to a run that died fails, it does not wait for ever
    answer: tuple[list[Mark], RowOrder] | SheetScan | ScanStop
    try:
        with zipfile.ZipFile(path) as archive, archive.open(part) as stream:
            scan = scan_pass(stream, extent=not here, marks=True, size=archive.getinfo(part).file_size)
        # not here: the whole scan, but for the pass's own state (the rows seen, the last row's cells)
        answer = (scan.marks, scan.order) if here else dataclasses.replace(scan, rows=bytearray(), row_cells=set())
    except ScanStop as stop:
        answer = stop
    except Exception as exc:  # opening the package, which the parent has just opened itself
        answer = ScanStop(0, READING, exc)
    try:
        try:
            sender.send(answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an error that cannot travel
            assert isinstance(answer, ScanStop)
            sender.send(ScanStop(answer.block, answer.step, RuntimeError(f"{type(exc).__name__}: {answer.error}")))
    except OSError:  # the run stopped listening (it failed, or was stopped): there is no one to tell
        pass
    finally:
        sender.close()
