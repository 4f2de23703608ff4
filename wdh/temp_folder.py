"""The run's temporary folders (a big sheet's pieces, a sanitised copy of a workbook), named for
the process that made them: ``wdh-<kind>-<pid>-…`` in the temporary folder.

A run removes its folders as it goes, also when it fails or is stopped; a run killed outright
(``kill -9``, the out-of-memory killer) cannot, and its folder — megabytes: the workbook's other
parts, a piece — stayed for ever. Now each new folder's making first removes the folders of this
naming whose process is gone, owned by the same user (another user's are not ours to judge; a
process id in use again keeps its folder until that process ends too)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile

_NAME = re.compile(r"wdh-[a-z]+-([0-9]+)-")


def temp_folder(kind: str) -> tempfile.TemporaryDirectory[str]:
    """A new temporary folder for ``kind`` (``pieces``, ``copy``), the leftovers of killed runs
    removed first; removed when its context ends."""
    sweep()
    return tempfile.TemporaryDirectory(prefix=f"wdh-{kind}-{os.getpid()}-")


def sweep() -> None:
    """Remove the folders of this naming, owned by this user, whose process has ended."""
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return  # no temporary folder to look in: making the new one says what is wrong
    for entry in entries:
        match = _NAME.match(entry.name)
        try:
            if match is None or not entry.is_dir(follow_symlinks=False):
                continue
            if entry.stat(follow_symlinks=False).st_uid != os.getuid() or _alive(int(match[1])):
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
