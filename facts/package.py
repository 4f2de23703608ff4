"""The zip package of an .xlsx/.xlsm workbook: its size limits, its sheet parts, and a copy
without far cells.

Reads files only (and writes a temporary copy of a workbook that holds far cells). The limit on
every part's decompressed size is ``settings.WDH_MAX_PART_MB`` (env ``WDH_MAX_PART_MB``, default
1024): it is checked from the zip directory before any part is read, and again while each part
is decompressed (Python's zipfile stops at the size the directory declares and checks the CRC,
so a directory that lies is a damaged file, never a larger read).
"""

from __future__ import annotations

import contextlib
import posixpath
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

from django.conf import settings

from wdh.temp_folder import temp_folder

TEXT_LIMIT = 256 << 10  # bytes of one shared text; Excel's 32,767 characters take at most 192 KiB
_TEXT_CHUNK = 1 << 20  # bytes read at a time by that check
_PARTS_CALAMINE_READS = ("xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml", "xl/styles.xml")


class PackageRefusal(ValueError):
    """The package cannot be read safely; the message says why (the caller names the file)."""


def part_limit() -> int:
    """The largest decompressed size of one part, in bytes."""
    return int(settings.WDH_MAX_PART_MB) << 20


def check_directory(archive: zipfile.ZipFile) -> None:
    """Refuse a package whose directory declares a part larger than :func:`part_limit`."""
    limit = part_limit()
    for info in archive.infolist():
        if info.file_size > limit:
            raise PackageRefusal(
                f"part {info.filename} would decompress to {info.file_size >> 20} MiB, more than the "
                f"{limit >> 20} MiB allowed (WDH_MAX_PART_MB); a monthly workbook is far smaller — "
                "check that this is the right file"
            )


@contextlib.contextmanager
def open_part(archive: zipfile.ZipFile, name: str) -> Iterator[IO[bytes]]:
    """A stream of part ``name``, after the directory check."""
    check_directory(archive)
    with archive.open(name) as stream:
        yield stream


def sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The archive member holding ``sheet``'s cells, from the workbook and its relationships."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    relation = next(
        (
            _attribute(element, "id")
            for element in workbook.iter()
            if _local(element.tag) == "sheet" and element.get("name") == sheet
        ),
        None,
    )
    relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next((element.get("Target") for element in relations.iter() if element.get("Id") == relation), None)
    if relation is None or target is None:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))


def check_calamine_parts(archive: zipfile.ZipFile) -> None:
    """Read the parts calamine reads besides the sheet through the limits: each decompresses to
    no more than its declared size, and no shared text is longer than :data:`TEXT_LIMIT`."""
    names = set(archive.namelist())
    for name in _PARTS_CALAMINE_READS:
        if name in names:
            with open_part(archive, name) as stream:
                _check_texts(stream, name)


def _check_texts(stream: IO[bytes], name: str) -> None:
    run = 0  # bytes since the last "<" or ">", carried across chunks
    while run <= TEXT_LIMIT and (chunk := stream.read(_TEXT_CHUNK)):
        first = min((at for at in (chunk.find(b"<"), chunk.find(b">")) if at >= 0), default=-1)
        if first < 0:
            run += len(chunk)
            continue
        last = max(chunk.rfind(b"<"), chunk.rfind(b">"))
        run = max(run + first, _longest_text(chunk, first, last))
        if run <= TEXT_LIMIT:
            run = len(chunk) - 1 - last
    if run > TEXT_LIMIT:
        raise PackageRefusal(
            f"part {name} holds a text longer than {TEXT_LIMIT >> 10} KiB, more than an Excel cell can hold "
            "(32,767 characters); check that this is the right file"
        )


def _longest_text(chunk: bytes, first: int, last: int) -> int:
    """The longest run of bytes without "<" or ">" between ``first`` and ``last`` (both brackets) —
    or 0 when it is no longer than TEXT_LIMIT. A run of twice ``window`` bytes would hold a whole
    window from ``first`` on, so when each window holds a bracket (a few searches in C), none is."""
    window = TEXT_LIMIT // 2
    if all(chunk.find(b"<", at, at + window) >= 0 or chunk.find(b">", at, at + window) >= 0
           for at in range(first, last, window)):  # fmt: skip
        return 0
    return max(map(len, chunk[first + 1 : last].replace(b">", b"<").split(b"<")))


@contextlib.contextmanager
def copy_with_part(path: Path, part: str, rewrite: Callable[[IO[bytes], IO[bytes]], None]) -> Iterator[Path]:
    """A temporary copy of the workbook at ``path`` whose ``part`` is ``rewrite(original, out)``;
    removed when the context ends."""
    with temp_folder("copy") as folder:
        copy = Path(folder) / f"sanitised{path.suffix.lower()}"
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as target:
            check_directory(source)
            for info in source.infolist():
                with source.open(info) as original, target.open(info.filename, "w") as out:
                    if info.filename == part:
                        rewrite(original, out)
                    else:
                        shutil.copyfileobj(original, out, 1 << 20)
        yield copy


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _attribute(element: ElementTree.Element, local_name: str) -> str | None:
    return next((value for key, value in element.attrib.items() if _local(key) == local_name), None)
