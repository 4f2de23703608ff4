"""A sheet's reading and cleansing on both cores: its second piece parsed and cleansed by a
worker process while this process cleanses the first (issue 13 item 2).

A sheet of :data:`~facts.sheet_pieces.SHARED_ROWS` rows or more that would be read whole is cut
into two pieces (facts/sheet_pieces.py) where the two processes' work below comes out about
even. calamine parses the first here
(during the check, beside the pre-scan's worker); when the cleansing starts, a worker forked from
this process parses the second and cleanses its rows while this process cleanses the rows of the
first and hands them on. The worker writes its chunks, pickled, to an unnamed temporary file —
so that it never waits for this process, and neither holds more than a chunk of its rows — and
says on a pipe as each is written; once done with its own rows, this process takes the
worker's chunks in order as they come, then adds what the worker's rows added to the counts and
warnings: the row cleaner's (rows without a company_id, pending plans, unmapped 业务类型), the code
spellings, the blank rows and the cells outside the table — in that order, so that everything
that follows sees exactly what one process reading the whole sheet gives: the same rows, errors
and pending codes in sheet order (only where one chunk ends differs), the same counts and the
same warnings in the same order.

A failure in the worker's rows (an exception, or the worker's death) is raised here when its
chunks are due, as one process would have met it: after every row above. A failure here ends the
worker. The worker ignores SIGINT (the parent decides), dies by SIGTERM, drops its copy of the
run's database session without a word to the server (wdh/worker_process.py) and of the pipe's
reading end — so that a run killed outright (``kill -9``) ends its session, its advisory lock
with it, at once, and its worker's next hand-off fails and ends it — never touches the staging
writer's queue, and ends as multiprocessing's forked processes do (``os._exit``): a fork beside
the run's signal watcher and its staging writer (idle, or in a COPY) is safe. It leaves behind no
file but what the first piece's reading removes (facts/sheet_pieces.py).

A sheet read whole or in more pieces, one whose header lies in its second piece, and a process
with other threads (or none to spare) are cleansed here alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import operator
import os
import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import IO, Any, cast

from facts.cleansing import CHUNK_ROWS, CleansedChunk, SheetCleansing
from facts.codes import CodeSpellings
from facts.column_rows import ColumnRows
from facts.company_ids import PendingCompanyIds
from facts.excel import RowsTally
from facts.staging_writer import WRITER
from wdh.errors import InputError
from wdh.interruption import WATCHER
from wdh.worker_process import forkable_beside, reap_worker, start_worker, worker_started

_peaks: list[int] = []  # each worker's own peak memory (workers_peak)
_CONTEXT = multiprocessing.get_context("fork")  # the worker shares the parsed sheet and this process's code


@dataclass(frozen=True)
class PartTally:
    """What the worker's part added, beside its chunks: sent back when they are all written."""

    company_id_missing: int
    pending: PendingCompanyIds  # its counts per plan (its chunks carry their rows' plan codes)
    unmapped: dict[str, int]  # UnmappedBusinessTypes.counts, in first-seen order
    spellings: CodeSpellings  # the spellings the part saw (a fresh collection in the worker)
    rows: RowsTally
    peak: int  # the worker's own peak memory, bytes (:func:`workers_peak`)


@contextlib.contextmanager
def cleansed_chunks(cleansing: SheetCleansing, size: int = CHUNK_ROWS) -> Iterator[Iterator[CleansedChunk]]:
    """``with cleansed_chunks(cleansing) as chunks:`` — :meth:`SheetCleansing.chunks`, the
    sheet's second piece cleansed by a worker when it has one (module docstring). Leaving the
    block ends the worker if it still runs."""
    at = _shared_from(cleansing)
    if at is None:
        yield cleansing.chunks(size)
        return
    with tempfile.TemporaryFile(prefix="wdh-cleansed-") as spool:
        receiver, sender = _CONTEXT.Pipe(duplex=False)
        worker = _CONTEXT.Process(target=_work, args=(cleansing, at, size, spool, receiver, sender), daemon=True)
        try:
            try:
                start_worker(worker)
                started = True
            except OSError:  # no process to be had (a limit on processes, no memory): all of it here
                started = False
            finally:
                sender.close()
            if not started:
                yield cleansing.chunks(size)
                return
            own = cleansing.chunks(size, cleansing.sheet.rows_before(at))  # after the fork: the worker takes the rest
            yield _joined(cleansing, own, _Part(receiver, spool, at))
        finally:
            receiver.close()
            reap_worker(worker)


def _shared_from(cleansing: SheetCleansing) -> int | None:
    """The row the worker's part starts at, or ``None`` when the sheet is cleansed here alone."""
    sheet = cleansing.sheet
    at = sheet.worker_from
    if at is None or at <= sheet.header_row + 1 or not _forkable():
        return None
    return at


def _forkable() -> bool:
    """Whether every other thread of this process is the signal watcher or the staging writer."""
    return forkable_beside(WATCHER, WRITER)


@dataclass(frozen=True)
class _Part:
    """The worker's part as this process reads it: the pipe that says what is ready, the spool."""

    receiver: Connection
    spool: IO[bytes]
    at: int  # its first row


def _joined(cleansing: SheetCleansing, own: Iterator[CleansedChunk], part: _Part) -> Iterator[CleansedChunk]:
    """This process's chunks, then the worker's as it writes them, then its tally added."""
    yield from own
    offset = 0
    while not isinstance(answer := _received(cleansing, part), PartTally):
        chunk = _unpacked(_read_at(part.spool, offset, answer))
        offset += answer
        cleansing.rows_read += chunk.rows_read
        if cleansing.progress is not None:
            cleansing.progress(cleansing.rows_read)
        yield chunk
    cleaner = cleansing.cleaner
    cleaner.company_id_missing += answer.company_id_missing
    cleaner.pending.merge(answer.pending)
    cleaner.unmapped.counts.update(answer.unmapped)
    cleansing.spellings.merge(answer.spellings)
    cleansing.sheet.rows_joined(answer.rows)
    _peaks.append(answer.peak)


def workers_peak() -> int:
    """The most memory a cleansing worker of this process held of its own, in bytes (the benchmark
    adds it to this process's peak, bench/peak.py): its peak resident memory, counted from its
    start (the fork copies the high-water mark of this process, which the worker resets), less
    what it held then — the pages it shares with this process."""
    return max(_peaks, default=0)


def _peak_reset() -> int:
    """Reset this process's high-water mark of resident memory (Linux: ``5`` to
    ``/proc/self/clear_refs``) to what it holds now, and return that; 0 where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return 0
    return _status_bytes("VmRSS")


def _status_bytes(name: str) -> int:
    """Field ``name`` (``VmRSS``, ``VmHWM``) of ``/proc/self/status`` in bytes; 0 where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _packed(chunk: CleansedChunk) -> bytes:
    """``chunk`` pickled, its rows column by column when they all have the same columns in the
    same order (a row cleaner's do), and a column of Decimals (and NULLs) as their texts: about
    half the work of pickling each row's dict and each Decimal (exact both ways: ``str`` of a
    Decimal gives it back, exponent and sign included)."""
    rows = chunk.rows
    keys = tuple(rows[0]) if rows else ()
    if not all(tuple(row) == keys for row in rows):
        return pickle.dumps((chunk, None), pickle.HIGHEST_PROTOCOL)
    columns: list[list[Any]] = []
    texts: list[bool] = []
    for key in keys:
        values = list(map(operator.itemgetter(key), rows))
        decimals = any(type(value) is Decimal for value in values) and all(
            type(value) is Decimal or value is None for value in values
        )
        columns.append([None if value is None else str(value) for value in values] if decimals else values)
        texts.append(decimals)
    bare = dataclasses.replace(chunk, rows=[])
    return pickle.dumps((bare, (keys, texts, columns)), pickle.HIGHEST_PROTOCOL)


def _unpacked(data: bytes) -> CleansedChunk:
    """The chunk :func:`_packed` pickled; rows that travelled column by column stay so
    (:class:`~facts.column_rows.ColumnRows`)."""
    chunk, packed = pickle.loads(data)
    if packed is not None:
        keys, texts, columns = packed
        chunk.rows = ColumnRows(keys, columns, texts)
    return cast(CleansedChunk, chunk)


def _read_at(spool: IO[bytes], offset: int, size: int) -> bytes:
    """``size`` bytes of ``spool`` from ``offset``, leaving the file's position (the worker's,
    shared by the fork) alone."""
    data = b""
    while len(data) < size:
        more = os.pread(spool.fileno(), size - len(data), offset + len(data))
        if not more:
            raise EOFError(f"the worker's chunk at byte {offset} of its spool is cut short")
        data += more
    return data


def _received(cleansing: SheetCleansing, part: _Part) -> int | PartTally:
    """The size of the worker's next chunk in the spool, or its tally once they are all there;
    raises what stopped it."""
    try:
        answer: int | PartTally | BaseException = part.receiver.recv()
    except EOFError:  # the worker died without a word (killed, out of memory)
        sheet = cleansing.sheet
        raise InputError(
            f"{sheet.path}, sheet {sheet.sheet!r}: the process cleansing its rows from row {part.at} on ended "
            "without a result (killed, or out of memory); nothing was written — free memory and run again"
        ) from None
    if isinstance(answer, BaseException):
        raise answer
    return answer


def _work(
    cleansing: SheetCleansing, at: int, size: int, spool: IO[bytes], receiver: Connection, sender: Connection
) -> None:
    """The worker: the rows from ``at`` on cleansed into ``spool``, the size of each chunk sent
    as it is written, then the tally (or the exception that stopped it)."""
    worker_started()  # signals, and no copy of the run's database session (wdh/worker_process.py)
    receiver.close()  # this process only sends: a send to a run that died fails, it does not wait for ever
    shared = _peak_reset()  # what it holds now is the run's, shared: its own comes on top
    cleansing.progress = None  # the parent reports the rows as it takes them
    cleansing.spellings.seen = {}  # only this part's: the parent's are its own
    answer: PartTally | BaseException
    try:
        for chunk in cleansing.chunks(size, cleansing.sheet.rows_from(at)):
            data = _packed(chunk)
            spool.write(data)
            spool.flush()
            sender.send(len(data))
        cleaner = cleansing.cleaner
        answer = PartTally(
            cleaner.company_id_missing, cleaner.pending, dict(cleaner.unmapped.counts),
            cleansing.spellings, cleansing.sheet.rows_tally(), max(0, _status_bytes("VmHWM") - shared),
        )  # fmt: skip
    except BaseException as exc:  # raised by the parent where one process would have met it
        answer = exc
    try:
        try:
            sender.send(answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an error that cannot travel
            sender.send(RuntimeError(f"{type(exc).__name__}: {answer}"))
    except OSError:  # the run stopped listening (it failed, or was stopped): there is no one to tell
        pass
    finally:
        sender.close()
