"""The error cells of one sheet of an Excel 97-2003 (.xls) workbook, found before its rows are used,
and the refusal of a sheet that writes a cell twice.

python-calamine reads an .xls error cell — a constant ``#N/A`` or a formula whose cached result is
an error — as an empty string, which a default would then fill (an empty 组合代码 becomes the
default portfolio). The .xlsx pre-scan (facts/sheet_scan.py) reads XML; this reads the compound
file's ``Workbook`` stream and walks the BIFF8 records of the sheet: BOOLERR records with the error
flag set and FORMULA records whose cached result is an error, and text formulas whose text (the
STRING record after them) never came — calamine reads those as empty too. calamine also keeps the last of two
records that give one cell a value (a NUMBER of 999 after an RK of 1,000 for J3 reads 999), so a
second record for a cell already written is a refusal naming the cell (facts/xls_cells.py). Reads
the file only; every loop is bounded by the file's size, and a damaged structure is a refusal
naming what is wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from facts.sheet_header import column_letter
from facts.xls_cells import BOOLERR, ERROR_RESULT, FORMULA, STRING, TEXT_RESULT, WrittenCells, formula_result

_ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?", 0x24: "#NUM!", 0x2A: "#N/A"}
_END_OF_CHAIN, _FREE = 0xFFFFFFFE, 0xFFFFFFFF
_STREAMS = ("Workbook", "Book")
_BOUNDSHEET, _EOF, _FILEPASS = 0x0085, 0x000A, 0x002F
_BEFORE_STRING = frozenset({0x04BC, 0x0221, 0x0236, 0x003C})  # SHRFMLA, ARRAY, TABLE, CONTINUE

# Excel row number, 0-based column, error code — None for a text formula whose text (its STRING
# record) never came: a formula never calculated, which calamine reads as an empty cell
XlsError = tuple[int, int, str | None]


class XlsRefusal(ValueError):
    """The .xls file cannot be scanned; the message says why (the caller names the file)."""


def xls_error_cells(path: Path, sheet: str) -> list[XlsError]:
    """The error cells of ``sheet`` (its real name) in the .xls workbook at ``path``."""
    stream = _workbook_stream(path.read_bytes())
    return _sheet_errors(stream, _sheet_offset(stream, sheet))


def _workbook_stream(data: bytes) -> bytes:
    """The ``Workbook`` (or BIFF5 ``Book``) stream of the compound file ``data``."""
    if len(data) < 512:
        raise XlsRefusal("the compound file is shorter than its header")
    shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
    if shift not in (9, 12) or mini_shift != 6:
        raise XlsRefusal(f"the compound file declares sectors of 2^{shift} bytes")
    size = 1 << shift
    directory_start, mini_cutoff = struct.unpack_from("<I4xI", data, 0x30)
    difat_start = struct.unpack_from("<I", data, 0x44)[0]

    def sector(number: int) -> bytes:
        start = (number + 1) * size
        if start >= len(data):
            raise XlsRefusal(f"sector {number} lies beyond the end of the file")
        return data[start : start + size].ljust(size, b"\0")

    sectors = len(data) // size  # no chain or table can hold more of them than the file has
    fat_sectors = [n for n in struct.unpack_from("<109I", data, 0x4C) if n < _END_OF_CHAIN - 16]
    for number in _chain_of(difat_start, lambda n: struct.unpack_from("<I", sector(n), size - 4)[0], sectors):
        fat_sectors += [n for n in struct.unpack(f"<{size // 4 - 1}I", sector(number)[:-4]) if n < _END_OF_CHAIN - 16]
        if len(fat_sectors) > sectors:
            raise XlsRefusal("the compound file lists more allocation sectors than it has")
    fat = struct.unpack(f"<{len(fat_sectors) * size // 4}I", b"".join(sector(n) for n in fat_sectors))

    def read(start: int) -> bytes:
        return b"".join(sector(n) for n in _chain_of(start, fat.__getitem__, len(fat)))

    directory = read(directory_start)
    entries = [directory[i : i + 128] for i in range(0, len(directory) - 127, 128)]
    for entry in entries:
        length = min(struct.unpack_from("<H", entry, 64)[0], 64)
        name = entry[: max(0, length - 2)].decode("utf-16-le", "replace")
        if entry[66] != 2 or name not in _STREAMS:
            continue
        start, stream_size = struct.unpack_from("<II", entry, 116)
        if stream_size < mini_cutoff:  # Excel writes at least 4,096 bytes: never in the mini stream
            raise XlsRefusal("its Workbook stream is kept in the mini stream; open it in Excel and save it as .xlsx")
        return read(start)[:stream_size]
    raise XlsRefusal("the compound file holds no Workbook stream")


def _chain_of(start: int, following: Callable[[int], int], limit: int) -> list[int]:
    """The sector numbers of the chain that begins at ``start``; ``following(n)`` is the next."""
    chain: list[int] = []
    number = start
    while number not in (_END_OF_CHAIN, _FREE):
        if len(chain) > limit or number >= _END_OF_CHAIN - 16:
            raise XlsRefusal("a sector chain of the compound file loops or runs off its table")
        chain.append(number)
        try:
            number = following(number)
        except (IndexError, struct.error):
            raise XlsRefusal("a sector chain of the compound file runs off its table") from None
    return chain


def _records(stream: bytes, offset: int) -> Iterator[tuple[int, int, bytes]]:
    """``(record type, its offset, its body)`` from ``offset`` to the substream's EOF record."""
    position = offset
    while position + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, position)
        yield kind, position, stream[position + 4 : position + 4 + length]
        position += 4 + length
        if kind == _EOF:
            return


def _sheet_offset(stream: bytes, sheet: str) -> int:
    """The stream offset of ``sheet``'s BOF record, from the workbook globals' BOUNDSHEET records."""
    for kind, _, body in _records(stream, 0):
        if kind == _FILEPASS:
            raise XlsRefusal("the workbook is password-protected; remove the password in Excel and save it again")
        if kind == _BOUNDSHEET and len(body) >= 8:
            count, flags = body[6], body[7]
            text = body[8 : 8 + count * 2] if flags & 1 else body[8 : 8 + count]
            name = text.decode("utf-16-le" if flags & 1 else "latin-1", "replace")
            if name == sheet:
                return int(struct.unpack_from("<I", body, 0)[0])
    raise XlsRefusal(
        f"sheet {sheet!r} is not among the workbook's sheet records; open it in Excel and save it as .xlsx"
    )


def _sheet_errors(stream: bytes, offset: int) -> list[XlsError]:
    errors: list[XlsError] = []
    written = WrittenCells()
    text_due: tuple[int, int] | None = None  # a text formula's cell, until its STRING record comes
    for kind, _, body in _records(stream, offset):
        if text_due is not None and kind not in _BEFORE_STRING:
            if kind != STRING:  # calamine reads the cell as empty: a formula never calculated
                errors.append((text_due[0] + 1, text_due[1], None))
            text_due = None
        result = formula_result(body) if kind == FORMULA else None
        if result == TEXT_RESULT:
            text_due = struct.unpack_from("<HH", body, 0)
        if kind == BOOLERR and len(body) >= 8 and body[7] == 1:
            row, column = struct.unpack_from("<HH", body, 0)
            errors.append((row + 1, column, _ERRORS.get(body[6], f"#ERROR{body[6]}")))
        elif result == ERROR_RESULT:
            row, column = struct.unpack_from("<HH", body, 0)
            errors.append((row + 1, column, _ERRORS.get(body[8], f"#ERROR{body[8]}")))
        repeated = written.add(kind, body)
        if repeated is not None:
            row, column = repeated
            raise XlsRefusal(
                f"the sheet's records write cell {column_letter(column)}{row + 1} twice (Excel writes each cell "
                "once; the second would overwrite the first); open the workbook in Excel and save it again"
            )
    return errors
