"""Where a sheet's rows lie in its XML: what the reader needs to cut a big sheet into pieces.

The pre-scan's extent pass (facts/sheet_scan.py) hands :class:`RowPlaces` every block of the
sheet part with its byte offset, so that the cuts cost no pass of their own, nor a look at every
row: it keeps the head of the XML (up to and with ``<sheetData …>``, ``<dimension>`` left out:
calamine only sizes its buffer by it), the tail (``</sheetData>`` and what follows, as it is), the
last row's number, and *places* — the byte offset and number of the first row tag at or after
every :attr:`RowPlaces.step`-th byte of the rows, each found by one short search. ``step`` starts
at the part's size ÷ :data:`PLACES_KEPT` (the pre-scan knows it from the package's directory; 1,
a place for each row, when it does not) and doubles whenever more than :data:`PLACES_KEPT`
places would be kept, the places then thinned as if it had been that from the start: memory
stays bounded, and two places lie at most a step and a row apart. facts/sheet_pieces.py cuts at
these places. With each place it counts the cells with content (``</c>``) before it: a worker's
share of a sheet is cut by those, not by bytes, because the formatted empty cells of the blank rows
below a table (``<c r="A120000" s="3"/>``, tens of thousands in real files) cost little to read.

Whether the rows can be cut safely is found by the marks pass, which looks at every row anyway
(:class:`facts.sheet_form.RowOrder`: every ``<row`` carries ``r="…"``, the numbers increase);
here, that the head and tail arrived whole (facts/sheet_scan.py's blocks leave out a stretch of
text without a tag between two blocks, which never happens in a head or tail Excel writes), that
the head and the tail are each no longer than :data:`HEAD_LIMIT`, and that each place's row carries its number,
above the one before (:attr:`RowPlaces.cuttable`).
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field

HEAD_LIMIT = 16 << 20  # bytes of sheet XML before <sheetData> beyond which the sheet is not cut
PLACES_KEPT = 1 << 14  # row places kept at most (two 8-byte numbers each)

_SHEET_DATA = re.compile(rb"<sheetData\b[^<>]*>")
_DIMENSION = re.compile(rb"<dimension\b[^<>]*/>")
_ROW = b"<row"  # within <sheetData> only a row's tag starts so (text holds no "<")
_TAG_ENDS = frozenset((b" ", b"\t", b"\r", b"\n", b"/", b">"))  # what follows a row tag's name
_NUMBER = re.compile(rb'<row(?=[\s/>])(?:\s(?:[^<>]*?\s)?r="([0-9]{1,7})")?')
_END = b"</sheetData>"
_CONTENT_END = b"</c>"  # a cell with content ends so; a formatted empty one is ``<c … />``


@dataclass
class RowPlaces:
    """A sheet's rows as the blocks of its XML went by (module docstring)."""

    cuttable: bool = True
    head: bytes = b""  # up to and with <sheetData …>, once found (before it: what was read so far)
    rows_at: int | None = None  # offset of the byte after the <sheetData …> tag
    last: int = 0  # the last row's number (0: no row)
    step: int = 1  # bytes from one place's target to the next's (facts/sheet_scan.py: the part's size ÷ PLACES_KEPT)
    offsets: array[int] = field(default_factory=lambda: array("q"))  # where the places' row tags start
    numbers: array[int] = field(default_factory=lambda: array("q"))  # and their row numbers
    stop: int | None = None  # offset of </sheetData>
    tail: bytes = b""  # from </sheetData> on
    cells: array[int] = field(default_factory=lambda: array("q"))  # the cells with content before each place
    content: int = 0  # cells with content (``</c>``) among the rows seen so far
    _next: int = 0  # the offset the next block should start at
    _target: int = 0  # the offset at or after which the next place's row is looked for

    def add(self, offset: int, block: bytes) -> None:
        """The next block of the part, which starts at byte ``offset`` of it."""
        if not self.cuttable:
            return
        contiguous, self._next = offset == self._next, offset + len(block)
        if self.stop is not None:
            self.tail += block
            self._tail_checked(contiguous)
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
            self.rows_at = self._target = offset + start
            self.head = _DIMENSION.sub(b"", self.head[: match.end()])
        last = _last_row(block, start, len(block))  # near the block's end: blocks end after a cell
        end = block.find(_END, max(start, last))
        if end < 0:
            end = len(block)
        else:
            last = _last_row(block, start, end)
            self.stop, self.tail = offset + end, block[end:]
            self._tail_checked(contiguous=True)
        if last >= 0:
            start = self._places(offset, block, start, end)
            self.last = self._number(block, last)
        self.content += block.count(_CONTENT_END, start, end)

    def _tail_checked(self, contiguous: bool) -> None:
        """Not cuttable after a gap in the tail, or a tail longer than HEAD_LIMIT (every piece
        carries it; huge hyperlinks or conditional formats): the sheet is read whole."""
        if not contiguous or len(self.tail) > HEAD_LIMIT:
            self.cuttable, self.tail = False, b""

    def _places(self, offset: int, block: bytes, start: int, end: int) -> int:
        """A place for the first row tag at or after each target offset within ``start``–``end``,
        with the cells with content before it. Returns where the count stopped."""
        while (position := block.find(_ROW, max(start, self._target - offset), end)) >= 0:
            number = self._number(block, position)
            if self.numbers and number <= self.numbers[-1]:
                self.cuttable = False  # out of order (the marks pass would say so too, later)
            self.content += block.count(_CONTENT_END, start, position)
            start = position
            self.offsets.append(offset + position)
            self.numbers.append(number)
            self.cells.append(self.content)
            self._target = offset + position + self.step
            while len(self.offsets) > PLACES_KEPT:
                self._thin()
        return start

    def _thin(self) -> None:
        """Twice the step, and only the places it keeps: each the first at least a step after the one
        before, as if the step had been this from the start."""
        self.step *= 2
        kept, after = [], -1
        for index, place in enumerate(self.offsets):
            if place >= after:
                kept.append(index)
                after = place + self.step
        self.offsets = array("q", (self.offsets[index] for index in kept))
        self.numbers = array("q", (self.numbers[index] for index in kept))
        self.cells = array("q", (self.cells[index] for index in kept))
        self._target = max(self._target, after)

    def _number(self, block: bytes, position: int) -> int:
        """The number of the row whose tag starts at ``position`` (0, and not cuttable, when it has none)."""
        match = _NUMBER.match(block, position)
        if match is None or match[1] is None:
            self.cuttable = False
            return 0
        return int(match[1])


def _last_row(block: bytes, start: int, end: int) -> int:
    """Where the last row tag between ``start`` and ``end`` starts (-1 if none): not ``<rowBreaks``
    after the rows, which Excel writes for page breaks."""
    while (found := block.rfind(_ROW, start, end)) >= 0 and block[found + 4 : found + 5] not in _TAG_ENDS:
        end = found
    return found
