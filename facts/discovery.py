"""Which workbooks a run reads: the configured patterns under the data directory, or ``--file``.

Reads the file system only; never opens a workbook and never touches the database. Year, month
and version come from file and folder names (ANNUITY_PERFORMANCE.md §1):
``【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx`` is February 2026,
``data/202602/规模明细.xlsx`` too, and ``24年11月年金终稿数据_V2.xlsx`` or ``V2/…`` is version 2.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from wdh.config import DomainConfig, Selection
from wdh.errors import InputError

# (20)YY年M月: the year's digits stand alone (no digit before); the month is all the digits
# between 年 and 月, so 11月 is November and never "1月" (checked against 1–12 afterwards).
_CHINESE_MONTH = re.compile(r"(?<!\d)(?:20)?(\d{2})年(\d{1,2})月")
_FOLDER_MONTH = re.compile(r"(?<!\d)(20\d{2})(\d{2})(?!\d)")  # YYYYMM folders: data/202602/…
_NAME_VERSION = re.compile(r"(?<![A-Za-z])[Vv](\d+)(?!\d)")  # _V2, -v3, 终稿V2; not "DEV2"
_FOLDER_VERSION = re.compile(r"[Vv](\d+)")  # a folder named V2


@dataclass(frozen=True)
class SourceFile:
    """One workbook a run reads."""

    path: Path
    year_month: tuple[int, int] | None  # (2026, 2); None when neither file nor folder names a month
    version: int  # 0 when no V-number


def year_month_of(path: PurePath) -> tuple[int, int] | None:
    """``(year, month)`` from the file name, else from the nearest folder that names one.

    File names give ``(20)YY年M月``; folder names give that or ``YYYYMM``. Month 0 or 13 is no
    month.
    """
    folders = (_chinese_month(name) or _folder_month(name) for name in reversed(path.parent.parts))
    return _chinese_month(path.stem) or next((found for found in folders if found), None)


def version_of(path: PurePath) -> int:
    """The V-number in the file name (``_V2``, ``v3``), else of a ``V2`` folder; 0 when none."""
    numbers = [int(number) for number in _NAME_VERSION.findall(path.stem)]
    if numbers:
        return max(numbers)
    folder = next((part for part in reversed(path.parent.parts) if _FOLDER_VERSION.fullmatch(part)), None)
    return int(folder[1:]) if folder else 0


def discover_files(
    domain: DomainConfig,
    *,
    data_dir: Path | None = None,
    files: Sequence[Path] = (),
    max_files: int | None = None,
) -> list[SourceFile]:
    """The workbooks a run of ``domain`` reads, in reading order. Reads the file system only.

    Explicit ``files`` (``--file``) are taken as given, in order, without patterns or selection.
    Otherwise every file under ``data_dir or domain.base_dir`` whose name matches
    ``domain.file_patterns`` and none of ``domain.exclude_patterns`` (hidden files and folders
    never; symlinked folders are not followed) is a candidate, and ``domain.select`` picks:
    ``latest_by_year_month`` keeps the newest month's highest version, sorted by path; ``all``
    keeps everything, sorted by month, version and path. ``max_files`` then cuts the list.
    """
    if max_files is not None and max_files < 1:
        raise InputError(f"--max-files must be 1 or more, got {max_files}")
    if files:
        chosen = [_explicit(path) for path in dict.fromkeys(files)]
    else:
        root = _data_dir(domain, data_dir)
        candidates = [_source(path, root) for path in _matching_files(domain, root)]
        if not candidates:
            raise _nothing_matches(domain, root)
        chosen = _select(candidates, domain.select)
    return chosen[:max_files]


def _chinese_month(text: str) -> tuple[int, int] | None:
    for match in _CHINESE_MONTH.finditer(text):
        month = int(match[2])
        if 1 <= month <= 12:
            return 2000 + int(match[1]), month
    return None


def _folder_month(text: str) -> tuple[int, int] | None:
    match = _FOLDER_MONTH.search(text)
    if match and 1 <= int(match[2]) <= 12:
        return int(match[1]), int(match[2])
    return None


def _explicit(path: Path) -> SourceFile:
    """A ``--file`` argument, checked: it must be a readable file."""
    if not path.exists():
        raise InputError(f"--file {path}: file not found; check the path")
    if not path.is_file():
        raise InputError(f"--file {path}: not a file; name the workbook itself, not a folder")
    if not os.access(path, os.R_OK):
        raise InputError(f"--file {path}: cannot be read (permission denied); give the user running wdh read access")
    return SourceFile(path=path, year_month=year_month_of(path), version=version_of(path))


def _data_dir(domain: DomainConfig, data_dir: Path | None) -> Path:
    root = data_dir or domain.base_dir
    origin = "--data-dir" if data_dir else f"domains.{domain.name}.base_dir"
    fix = (
        "pass an existing folder to --data-dir"
        if data_dir
        else f"set domains.{domain.name}.base_dir in the configuration or pass --data-dir"
    )
    if not root.exists():
        raise InputError(f"data directory {root} (from {origin}) does not exist; {fix}")
    if not root.is_dir():
        raise InputError(f"data directory {root} (from {origin}) is not a directory; {fix}")
    return root


def _matching_files(domain: DomainConfig, root: Path) -> Iterable[Path]:
    """Files under ``root`` whose names match the patterns (case-insensitively, as Windows does).

    Hidden files and folders are skipped, symlinked folders are not entered (no loops) and
    broken symlinks are skipped. An unreadable folder is an error: it may hold the month's file.
    """
    patterns = [pattern.casefold() for pattern in domain.file_patterns]
    excludes = [pattern.casefold() for pattern in domain.exclude_patterns]
    for folder, subfolders, names in os.walk(root, onerror=_unreadable_folder):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            key = name.casefold()
            if name.startswith(".") or not _matches(key, patterns) or _matches(key, excludes):
                continue
            path = Path(folder, name)
            if path.is_file():
                yield path


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _unreadable_folder(error: OSError) -> None:
    raise InputError(
        f"cannot read folder {error.filename} ({error.strerror}); it may hold the month's workbook — "
        "fix its permissions or pass --data-dir / --file"
    )


def _source(path: Path, root: Path) -> SourceFile:
    """Month and version come from the names below ``root`` only, never from ``root`` itself."""
    relative = path.relative_to(root)
    return SourceFile(path=path, year_month=year_month_of(relative), version=version_of(relative))


def _select(candidates: list[SourceFile], select: Selection) -> list[SourceFile]:
    if select is Selection.ALL:
        return sorted(candidates, key=lambda source: (source.year_month or (0, 0), source.version, source.path))
    newest = max((source.year_month for source in candidates if source.year_month), default=None)
    month = [source for source in candidates if source.year_month == newest]
    highest = max(source.version for source in month)
    return sorted((source for source in month if source.version == highest), key=lambda source: source.path)


def _nothing_matches(domain: DomainConfig, root: Path) -> InputError:
    patterns = ", ".join(domain.file_patterns)
    excludes = ", ".join(domain.exclude_patterns) or "none"
    return InputError(
        f"no workbook in {root} matches domains.{domain.name}.file_patterns ({patterns}; "
        f"excluded: {excludes}, hidden files); put the month's workbook there, "
        "or pass --data-dir DIR or --file PATH"
    )
