"""Where a sheet's rows lie in its XML: what the reader needs to cut a big sheet into pieces.

The pre-scan's extent pass (facts/sheet_scan.py) hands :class:`RowPlaces` every block of the
sheet part with its byte offset, so that the cuts cost no pass of their own. It keeps the head of
the XML (up to and with ``<sheetData …>``, ``<dimension>`` left out: calamine only sizes its
buffer by it), the tail (``</sheetData>`` and what follows, as it is), the count of ``<row>``
elements, and the place — byte offset and row number — of every :attr:`RowPlaces.every`-th row.
``every`` starts at 1 and doubles whenever more than :data:`PLACES_KEPT` places would be kept,
every other one then dropped: memory stays bounded, and a sheet of fewer rows than that has the
place of each row. facts/sheet_pieces.py cuts at these places.

A sheet can be cut only when that is safe (:attr:`RowPlaces.cuttable`): every ``<row`` in its
``<sheetData>`` carries ``r="…"``, the row numbers increase, the head and tail arrived whole (no
gap in the blocks: facts/sheet_scan.py's blocks leave out a stretch of text without a tag between
two blocks, which never happens in a head or tail Excel writes) and the head is no longer than
:data:`HEAD_LIMIT`.
"""

from __future__ import annotations

import itertools
import operator
import re
from array import array
from dataclasses import dataclass, field

HEAD_LIMIT = 16 << 20  # bytes of sheet XML before <sheetData> beyond which the sheet is not cut
PLACES_KEPT = 1 << 14  # row places kept at most (two 8-byte numbers each)

_SHEET_DATA = re.compile(rb"<sheetData\b[^<>]*>")
_DIMENSION = re.compile(rb"<dimension\b[^<>]*/>")
# Every row's tag (within <sheetData>, text holds no "<"), with its number, or b"" when it has none
_ROW_NUMBER = re.compile(rb'<row(?=[\s/>])(?:\s(?:[^<>]*?\s)?r="([0-9]{1,7})")?')
_END = b"</sheetData>"


@dataclass
class RowPlaces:
    """A sheet's rows as the blocks of its XML went by (module docstring)."""

    cuttable: bool = True
    head: bytes = b""  # up to and with <sheetData …>, once found (before it: what was read so far)
    rows_at: int | None = None  # offset of the byte after the <sheetData …> tag
    count: int = 0  # <row> elements
    last: int = 0  # the last row's number
    every: int = 1  # a place is kept for rows 0, every, 2·every … (0-based, in the XML's order)
    offsets: array[int] = field(default_factory=lambda: array("q"))  # where those rows' tags start
    numbers: array[int] = field(default_factory=lambda: array("q"))  # and their row numbers
    stop: int | None = None  # offset of </sheetData>
    tail: bytes = b""  # from </sheetData> on
    _next: int = 0  # the offset the next block should start at

    def add(self, offset: int, block: bytes) -> None:
        """The next block of the part, which starts at byte ``offset`` of it."""
        if not self.cuttable:
            return
        contiguous, self._next = offset == self._next, offset + len(block)
        if self.stop is not None:
            self.cuttable = contiguous
            self.tail += block
            return
        start = 0
        if self.rows_at is None:
            before = len(self.head)
            self.head += block
            match = _SHEET_DATA.search(self.head)
            if not contiguous or (match is None and before > HEAD_LIMIT) or (match and match[0].endswith(b"/>")):
                self.cuttable, self.head = False, b""  # a gap, no <sheetData> soon enough, or no rows
                return
            if match is None:
                return
            start = match.end() - before
            self.rows_at = offset + start
            self.head = _DIMENSION.sub(b"", self.head[: match.end()])
        end = block.find(_END, start)
        self._rows(offset, block, start, end if end >= 0 else len(block))
        if end >= 0 and self.cuttable:
            self.stop = offset + end
            self.tail = block[end:]

    def _rows(self, offset: int, block: bytes, start: int, end: int) -> None:
        """The rows between ``start`` and ``end`` of ``block``: one search for them all, then one
        for the tag of each row whose place is kept (Excel writes ``<row r="…"`` first)."""
        found = _ROW_NUMBER.findall(block, start, end)
        if not found:
            return
        if b"" in found:
            self.cuttable = False  # a row without its number
            return
        numbers = list(map(int, found))
        if numbers[0] <= self.last or not all(map(operator.lt, numbers, itertools.islice(numbers, 1, None))):
            self.cuttable = False  # rows out of order
            return
        position = start
        tags: list[int] | None = None  # every row tag's offset, when one is not written as Excel does
        for index in range(-self.count % self.every, len(numbers), self.every):
            position = block.find(b'<row r="%d"' % numbers[index], position, end)
            if position < 0:
                tags = tags or [match.start() for match in _ROW_NUMBER.finditer(block, start, end)]
                position = tags[index]
            self.offsets.append(offset + position)
            self.numbers.append(numbers[index])
        self.count += len(numbers)
        self.last = numbers[-1]
        while len(self.offsets) > PLACES_KEPT:
            self.every *= 2
            self.offsets, self.numbers = self.offsets[::2], self.numbers[::2]
