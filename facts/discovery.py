"""Which workbooks a run reads: the configured patterns under the data directory, or ``--file``.

Reads the file system only; never opens a workbook and never touches the database. Year, month
and version come from file and folder names (ANNUITY_PERFORMANCE.md §1):
``【年金规模收入】26年2月年金业务规模明细(手工汇总).xlsx`` is February 2026,
``data/202602/规模明细.xlsx`` too, and ``24年11月年金终稿数据_V2.xlsx`` or ``V2/…`` is version 2.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Discovery:
    """The workbooks a run reads, and what discovery set aside that a person should know of."""

    files: list[SourceFile]
    warnings: list[str]


def discover_files(
    domain: DomainConfig,
    *,
    data_dir: Path | None = None,
    files: Sequence[Path] = (),
    max_files: int | None = None,
) -> list[SourceFile]:
    """The files of :func:`discover`, without its warnings."""
    return discover(domain, data_dir=data_dir, files=files, max_files=max_files).files


def discover(
    domain: DomainConfig,
    *,
    data_dir: Path | None = None,
    files: Sequence[Path] = (),
    max_files: int | None = None,
) -> Discovery:
    """The workbooks a run of ``domain`` reads, in reading order. Reads the file system only.

    Explicit ``files`` (``--file``) are taken as given, in order, without patterns or selection.
    Otherwise every file under ``data_dir or domain.base_dir`` whose name matches
    ``domain.file_patterns`` and none of ``domain.exclude_patterns`` (hidden files and folders
    never; symlinked folders are not followed) is a candidate, and ``domain.select`` picks:
    ``latest_by_year_month`` keeps the newest month's highest version; ``all`` keeps everything,
    sorted by month, version and path. ``max_files`` then cuts the list.

    Raises InputError (nothing is read) when a chosen file cannot be read (missing, a broken
    symbolic link or a loop, not a regular file, permission denied) — a newer month's broken
    file never lets an older month be reloaded —, when discovery finds several workbooks for
    one month and version (only ``--file`` may name several), and when two chosen names are
    one file (same device and inode: a symlink, a hard link, ``../dir/a.xlsx``). Warns of each
    excluded file whose name says the month read or a newer one (a copy, a reply, a lock file),
    and of each symlinked folder it did not enter.
    """
    if max_files is not None and max_files < 1:
        raise InputError(f"--max-files must be 1 or more, got {max_files}")
    if files:
        found = Discovery([_explicit(path) for path in files][:max_files], [])
    else:
        found = _from_folder(domain, data_dir, max_files)
    _refuse_one_file_twice(found.files)
    return found


def _from_folder(domain: DomainConfig, data_dir: Path | None, max_files: int | None) -> Discovery:
    """The selection from the data directory (by names), each chosen file checked readable."""
    root = _data_dir(domain, data_dir)
    listing = _matching_files(domain, root)
    candidates = [_source(path, root) for path in listing.matching]
    if not candidates:
        raise _nothing_matches(domain, root)
    selected = _select(candidates, domain.select)
    _refuse_several_per_month(selected, root)
    chosen = selected[:max_files]
    for source in chosen:
        _refuse_unreadable(source, domain)
    warnings = [
        *_set_aside(chosen, [_source(path, root) for path in listing.excluded], domain),
        *_undated_passed_over(candidates, selected),
        *_not_entered(listing.linked_folders),
    ]
    return Discovery(chosen, warnings)


def _set_aside(chosen: list[SourceFile], excluded: list[SourceFile], domain: DomainConfig) -> list[str]:
    """Excluded files that name the month read or a newer one: a ``- 副本`` saved as the only
    copy of the new month, or a lock file of a workbook still open, must not pass unseen."""
    newest = max((source.year_month for source in chosen if source.year_month), default=None)
    warnings = []
    for source in sorted(excluded, key=lambda source: source.path):
        if source.year_month is None or (newest is not None and source.year_month < newest):
            continue
        if source.year_month == newest:
            relation = "the month read"
        else:
            relation = f"newer than the month read ({_month_label(newest)})"
        warnings.append(
            f"ignored {source.path} (it matches domains.{domain.name}.exclude_patterns): it names "
            f"{_month_label(source.year_month)}, {relation}; if it is the workbook to load, rename it or pass --file"
        )
    return warnings


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
    problem = _unreadable(path)
    if problem:
        raise InputError(f"--file {path}: {problem}")
    return SourceFile(path=path, year_month=year_month_of(path), version=version_of(path))


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a workbook, with the fix; None when it can. Opens the file."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        return _stat_problem(path, error)
    if stat.S_ISDIR(mode):
        return "not a file; name the workbook itself, not a folder"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, socket or device); name the workbook itself"
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        return f"cannot be read ({error.strerror}); give the user running wdh read access"
    return None


def _stat_problem(path: Path, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symbolic link loop (following it leads back to itself); replace it with the workbook"
    if error.errno == errno.ENOENT:  # errno first: lstat fails too in a folder that cannot be searched
        if path.is_symlink():
            return f"a broken symbolic link (its target {os.readlink(path)} does not exist); repair or remove it"
        return "file not found; check the path"
    return f"cannot be read ({error.strerror}); give the user running wdh read access"


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


@dataclass
class _Listing:
    """The data folder's names that matter to the selection."""

    matching: list[Path] = field(default_factory=list)  # match file_patterns and no exclude pattern
    excluded: list[Path] = field(default_factory=list)  # match file_patterns and an exclude pattern
    linked_folders: list[Path] = field(default_factory=list)  # symbolic links to folders, not entered


def _matching_files(domain: DomainConfig, root: Path) -> _Listing:
    """Names under ``root`` that match the file patterns (case-insensitively, as Windows does).

    Hidden files and folders are skipped and symlinked folders are not entered (no loops), only
    listed. A matching name is kept even when it is a broken link or unreadable: whether it would
    be read is for the selection to say. An unreadable folder is an error: it may hold the
    month's file.
    """
    patterns = [pattern.casefold() for pattern in domain.file_patterns]
    excludes = [pattern.casefold() for pattern in domain.exclude_patterns]
    listing = _Listing()
    for folder, subfolders, names in os.walk(root, onerror=_unreadable_folder):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        listing.linked_folders += [path for name in subfolders if (path := Path(folder, name)).is_symlink()]
        for name in names:
            key = name.casefold()
            if not name.startswith(".") and _matches(key, patterns):
                (listing.excluded if _matches(key, excludes) else listing.matching).append(Path(folder, name))
    return listing


def _undated_passed_over(candidates: list[SourceFile], chosen: list[SourceFile]) -> list[str]:
    """Undated candidates lose to dated ones by rule; one may still be the new month's file."""
    newest = max((source.year_month for source in chosen if source.year_month), default=None)
    if newest is None:
        return []
    return [
        f"did not read {source.path}: neither its name nor its folder says a month, and dated workbooks "
        f"win ({_month_label(newest)} is read); if it is the workbook to load, put its month in its name "
        "or pass --file"
        for source in sorted(candidates, key=lambda source: source.path)
        if source.year_month is None and source not in chosen
    ]


def _not_entered(folders: list[Path]) -> list[str]:
    """A folder link may hold a newer month: say it was not looked into, and how to read it."""
    return [
        f"did not look inside {folder}: it is a symbolic link to the folder {folder.resolve()}, and linked "
        f"folders are not entered (a link can loop back); pass --data-dir {folder.resolve()} to read it"
        for folder in sorted(folders)
    ]


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


def _refuse_several_per_month(chosen: list[SourceFile], root: Path) -> None:
    """Two workbooks of one month and version in the folder are a copy, or a split whose
    halves would both be loaded: only the operator can say which, by naming them with --file."""
    groups: dict[tuple[tuple[int, int] | None, int], list[SourceFile]] = {}
    for source in chosen:
        groups.setdefault((source.year_month, source.version), []).append(source)
    for (year_month, version), group in groups.items():
        if len(group) > 1:
            names = ", ".join(str(source.path) for source in group)
            raise InputError(
                f"{len(group)} workbooks in {root} are for {_month_label(year_month)}, {_version_label(version)}: "
                f"{names}; a run reads one workbook per month and version. Remove the copies, or name "
                "the workbooks to load together with --file (their delete scopes must not overlap)"
            )


def _refuse_unreadable(source: SourceFile, domain: DomainConfig) -> None:
    """A chosen file that cannot be read stops the run: skipping it would load an older month."""
    problem = _unreadable(source.path)
    if problem:
        raise InputError(
            f"{source.path}: {problem}. It matches domains.{domain.name}.file_patterns and would be "
            f"read for {_month_label(source.year_month)}, so the run stops rather than load another "
            "month; or name the workbook to read with --file"
        )


def _refuse_one_file_twice(chosen: list[SourceFile]) -> None:
    """One file under two names (``a.xlsx``, ``../dir/a.xlsx``, a symlink, a hard link) would be
    read twice: identified by device and inode, which every such name shares."""
    seen: dict[tuple[int, int], Path] = {}
    for source in chosen:
        status = source.path.stat()
        key = (status.st_dev, status.st_ino)
        if key in seen:
            raise InputError(
                f"{seen[key]} and {source.path} are the same file ({os.path.realpath(source.path)}); "
                "a run reads each workbook once: name it once"
            )
        seen[key] = source.path


def _month_label(year_month: tuple[int, int] | None) -> str:
    return f"{year_month[0]}-{year_month[1]:02d}" if year_month else "no month in the name"


def _version_label(version: int) -> str:
    return f"version V{version}" if version else "no version number"


def _nothing_matches(domain: DomainConfig, root: Path) -> InputError:
    patterns = ", ".join(domain.file_patterns)
    excludes = ", ".join(domain.exclude_patterns) or "none"
    return InputError(
        f"no workbook in {root} matches domains.{domain.name}.file_patterns ({patterns}; "
        f"excluded: {excludes}, hidden files); put the month's workbook there, "
        "or pass --data-dir DIR or --file PATH"
    )
