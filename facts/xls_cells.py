"""The cells that the records of an .xls sheet give a value, as python-calamine reads them, and the
first cell given one twice.

calamine lays a sheet's value records out in the order they come, so of two records for one cell
the last wins: a NUMBER of 999 after an RK of 1,000 for J3 reads J3 = 999, where Excel writes each
cell once. Measured with python-calamine 0.9.1 on records added to an xlwt workbook: NUMBER, RK,
each column of a MULRK, LABEL, LABELSST, RSTRING, BOOLERR and FORMULA each overwrite a value
written before them, and a STRING record — the text a formula gave — goes to the cell of the
formula before it (A1 if there is none), over what that cell holds. BLANK and MULBLANK records
are not read and erase nothing, so they are not counted here. A LABELSST is counted even when the
text it names is empty or missing, which calamine skips: two records for one cell are a damaged
file either way.

Memory does not depend on the order of the records: a bit per column for each of the sheet's
65,536 rows (a row is a 16-bit number), and a set for columns past the 256 a BIFF8 sheet has, which
only a damaged file writes.
"""

from __future__ import annotations

import struct

BOOLERR, FORMULA, STRING = 0x0205, 0x0006, 0x0207  # the record kinds facts/xls_scan.py reads too
_NUMBER, _LABEL, _RK, _RSTRING, _LABELSST, _MULRK = 0x0203, 0x0204, 0x027E, 0x00D6, 0x00FD, 0x00BD
_ONE_CELL = frozenset({_NUMBER, _LABEL, BOOLERR, _RK, _RSTRING, _LABELSST, FORMULA})
_ROWS, _COLUMNS = 1 << 16, 256
TEXT_RESULT, ERROR_RESULT = 0, 2  # what a FORMULA record's cached result is, when not a number


def formula_result(body: bytes) -> int | None:
    """The kind of a FORMULA record's cached result (:data:`TEXT_RESULT`: its text follows in a
    STRING record; :data:`ERROR_RESULT`; 1 a boolean, 3 empty), or None for a number."""
    return body[6] if len(body) >= 14 and body[12:14] == b"\xff\xff" else None


class WrittenCells:
    """The cells the records seen so far have given a value, fed one record at a time."""

    def __init__(self) -> None:
        self._rows = [0] * _ROWS  # bit c of _rows[r]: cell (r, c) is written
        self._wide: set[tuple[int, int]] = set()
        self._formula = (0, 0)  # where calamine puts a STRING record's text
        self._text_due = False  # the formula before was a text one whose STRING has not come yet

    def add(self, kind: int, body: bytes) -> tuple[int, int] | None:
        """Note the cells the record ``kind`` with ``body`` writes; the first of them (0-based row,
        column) that an earlier record wrote, if any."""
        if kind in _ONE_CELL and len(body) >= 4:
            row, column = struct.unpack_from("<HH", body)
            if kind == FORMULA:
                self._formula = (row, column)
                self._text_due = formula_result(body) == TEXT_RESULT
            return self._written(row, column, 1)
        if kind == _MULRK and len(body) >= 6:
            row, column = struct.unpack_from("<HH", body)
            return self._written(row, column, (len(body) - 6) // 6)
        if kind == STRING:
            if self._text_due:  # the value of the text formula just noted
                self._text_due = False
                return None
            return self._written(*self._formula, 1)
        return None

    def _written(self, row: int, first: int, count: int) -> tuple[int, int] | None:
        if first + count <= _COLUMNS:
            mask = ((1 << count) - 1) << first
            repeated = self._rows[row] & mask
            self._rows[row] |= mask
            return (row, (repeated & -repeated).bit_length() - 1) if repeated else None
        for column in range(first, first + count):
            if column < _COLUMNS:
                found = self._written(row, column, 1)
            elif (row, column) in self._wide:
                found = (row, column)
            else:
                self._wide.add((row, column))
                found = None
            if found is not None:
                return found
        return None
