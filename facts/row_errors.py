"""A batch's row errors, in the order found, held in bounded memory (issue 13 item 1).

A month's workbooks can leave many rows out — up to half of them before the run is refused —
and every one goes to the audit record (by COPY) and to the rejected-rows workbook. Holding them
all in Python made memory grow with the bad rows. :class:`RowErrors` keeps the first
:data:`KEPT` in memory, for the messages and summaries that quote a sample, and writes the rest,
a batch of :data:`BATCH` at a time, to an unnamed temporary file (pickled: our own values, read
back only by this process); iterating gives them all back, in order, without holding them.

Writes only its temporary file, which the operating system removes when it is closed.
"""

from __future__ import annotations

import itertools
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, overload

from facts.cleansing import RowError
from wdh.errors import InputError

KEPT = 1_000  # row errors held in memory: the sample every summary quotes from
BATCH = 1_000  # row errors pickled together into the temporary file


class RowErrors(Sequence[RowError]):
    """The row errors of a batch (or a run): ``len``, slices and iteration as a list's, in the
    order they were added; beyond the first :data:`KEPT`, read back from a temporary file."""

    def __init__(self, errors: Iterable[RowError] = ()) -> None:
        self._kept: list[RowError] = []
        self._waiting: list[RowError] = []  # past KEPT, not yet written
        self._spill: IO[bytes] | None = None
        self._spilled = 0  # row errors in the file
        self._written = 0  # bytes in the file
        self.extend(errors)

    def extend(self, errors: Iterable[RowError]) -> None:
        """Add ``errors`` after those held (an iterator is consumed as it goes: never held whole)."""
        iterator = iter(errors)
        room = KEPT - len(self._kept)  # only while nothing is past the kept ones
        if room > 0:
            self._kept += itertools.islice(iterator, room)
        for error in iterator:
            self._waiting.append(error)
            if len(self._waiting) >= BATCH:
                self._write()

    def __iadd__(self, errors: Iterable[RowError]) -> RowErrors:
        self.extend(errors)
        return self

    def __len__(self) -> int:
        return len(self._kept) + self._spilled + len(self._waiting)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[RowError]:
        """The row errors held when the iteration starts (each iteration reads the file at its
        own offset, so iterations may interleave with each other and with :meth:`extend`)."""
        end, waiting = self._written, list(self._waiting)
        yield from self._kept
        offset = 0
        while offset < end:
            assert self._spill is not None
            self._spill.seek(offset)
            batch = pickle.load(self._spill)
            offset = self._spill.tell()
            yield from batch
        yield from waiting

    @overload
    def __getitem__(self, index: int) -> RowError: ...

    @overload
    def __getitem__(self, index: slice) -> list[RowError]: ...

    def __getitem__(self, index: int | slice) -> RowError | list[RowError]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step < 0:  # backwards: rare, read them all
                return list(self)[index]
            if stop <= len(self._kept):
                return self._kept[index]
            return list(itertools.islice(self, start, stop, step))
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError("row error index out of range")
        if position < len(self._kept):
            return self._kept[position]
        return next(itertools.islice(self, position, None))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RowErrors | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"RowErrors({len(self)} row errors)"

    @property
    def held(self) -> int:
        """How many row errors are held in memory now (the rest are in the temporary file)."""
        return len(self._kept) + len(self._waiting)

    def _write(self) -> None:
        try:
            if self._spill is None:
                self._spill = tempfile.TemporaryFile(prefix="wdh-row-errors-")  # noqa: SIM115 — lives as long as self
            self._spill.seek(self._written)  # an iteration may have left the position anywhere
            pickle.dump(self._waiting, self._spill, protocol=pickle.HIGHEST_PROTOCOL)
            self._written = self._spill.tell()
        except OSError as exc:
            raise InputError(
                f"keeping the row errors beyond the first {KEPT:,} failed ({exc}); check that the temporary "
                f"folder ({tempfile.gettempdir()}) can be written and has room, then run again"
            ) from None
        self._spilled += len(self._waiting)
        self._waiting = []
