"""The same data never enters a batch twice (PRODUCT.md §11): not by content, not by scope.

Two files with the same bytes are one workbook saved twice (``… - 副本.xlsx`` renamed, a copy in
another folder). Two files whose rows share a delete scope — the facts' ``pk`` tuple, by default
月度, 业务类型, 计划类型 — would both be inserted into that scope, its amounts counted twice. Either
refuses the run before anything is written; only the operator can say which file is the right one.
And the bytes a run records (size, SHA-256) are those it read: a file changed between hashing and
the end of its reading is a refusal too. Reads files only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facts.column_rows import columns_of
from wdh.errors import InputError

Scope = tuple[Any, ...]
FileState = tuple[int, int, int, int, int]  # device, inode, size, mtime and ctime in ns


def file_state(path: Path) -> FileState | None:
    """What changes whenever the file is written, replaced or renamed over (its ctime, which no
    one can set back, included); None when it cannot be looked at."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def check_unchanged(path: Path, before: FileState | None) -> None:
    """Refuse the run when ``path`` is no longer the file looked at as ``before`` (taken before
    it was hashed): its rows and its recorded SHA-256 could belong to different contents."""
    if before is None or file_state(path) != before:
        raise InputError(
            f"{path}: the file changed while it was read (saved over, replaced or still being copied), so "
            "its rows and its recorded SHA-256 may not match; nothing was written — run again once it is saved"
        )


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, in hex. Raises InputError when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror}); give the user running wdh read access") from None
    return digest.hexdigest()


def distinct_digests(paths: Sequence[Path]) -> list[str]:
    """The SHA-256 of each file, in order. Raises InputError naming both files when two have the
    same content."""
    seen: dict[str, Path] = {}
    digests = []
    for path in paths:
        digest = file_sha256(path)
        if digest in seen:
            raise InputError(
                f"{seen[digest]} and {path} have the same content (sha256 {digest[:16]}…): one is a copy "
                "of the other, and reading both would load every row twice. Remove the copy, or name "
                "only one of them with --file"
            )
        seen[digest] = path
        digests.append(digest)
    return digests


class ScopeClaims:
    """Which file's rows hold each delete scope, so that no scope is filled by two files."""

    def __init__(self, pk: Sequence[str]) -> None:
        self.pk = tuple(pk)
        self._owners: dict[Scope, Path] = {}

    def claim(self, path: Path, rows: Sequence[dict[str, Any]]) -> None:
        """Record the scopes of ``path``'s rows (called chunk by chunk). Raises InputError naming
        the scope and both files when an earlier file's rows hold one of them."""
        columns = columns_of(rows, self.pk)
        scopes = dict.fromkeys(zip(*columns, strict=True) if columns else [()] * bool(rows))
        for scope in scopes:
            owner = self._owners.setdefault(scope, path)
            if owner != path:
                raise InputError(
                    f"{owner} and {path} both hold rows of the delete scope {self.describe(scope)}: "
                    "loading both would put that scope's rows in twice. Load one of them, or correct "
                    "the file that holds the wrong rows"
                )

    @property
    def scopes(self) -> list[Scope]:
        """Every scope claimed, in the order the rows first held it (the load's delete scopes)."""
        return list(self._owners)

    def describe(self, scope: Scope) -> str:
        """``月度=2026-02-01, 业务类型=企年受托, 计划类型=集合计划``."""
        values = ("(empty)" if value is None else value for value in scope)
        return ", ".join(f"{column}={value}" for column, value in zip(self.pk, values, strict=True))
