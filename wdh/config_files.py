"""Reading one configuration file (``data_sources.yml`` or a mapping file it names) safely.

A configuration file is read only when it is a regular file (never a FIFO, a device or a
directory: those hang or never end), of at most :data:`MAX_CONFIG_FILE_BYTES`, and — for a
mapping file — inside one of the folders it is allowed to come from, after symbolic links are
resolved. Its YAML may not repeat a key: YAML's "last one wins" would silently drop the first
value. Problems are described by what the file *is* and where (line, column, key path), never
by quoting its content, so that a file named by mistake (``/etc/shadow``) does not end up in an
error message or an audit record. Reads files only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The shipped files are a few kilobytes; a production company-name mapping of 100,000 names is
# about 5 MB. Anything larger is not configuration, and reading it whole would exhaust memory.
MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class ConfigFileProblem(Exception):
    """Why a configuration file cannot be used; ``key_path`` is set for a repeated key."""

    def __init__(self, problem: str, *, key_path: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.key_path = key_path


@dataclass(frozen=True)
class ConfigDocument:
    """The parsed content of a file, and the line of each top-level key (for messages)."""

    data: Any
    key_lines: dict[str, int] = field(default_factory=dict)

    def where(self, key: Any, index: int) -> str:
        """``line 7`` for a top-level key, or ``entry 3`` when its line is unknown."""
        line = self.key_lines.get(str(key))
        return f"line {line}" if line else f"entry {index + 1}"


def config_document_read(path: Path, *, within: Sequence[Path] = (), digest: Any, name_keys: bool) -> ConfigDocument:
    """Parse the YAML file ``path``; raise :class:`ConfigFileProblem` when it cannot be used.

    ``within``: when given, the file (symbolic links resolved) must be inside one of these
    folders. ``digest`` (a hashlib object) is updated with the file's bytes. ``name_keys``:
    whether a repeated key is named by its key path (the configuration file) or only by its
    lines (a mapping file, whose keys are data).
    """
    resolved = path.resolve()
    if within and not any(resolved.is_relative_to(folder.resolve()) for folder in within):
        folders = " or ".join(str(folder) for folder in within)
        raise ConfigFileProblem(f"is outside the folders mapping files may come from ({folders})")
    raw = _bounded_bytes(resolved)
    digest.update(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigFileProblem("is not UTF-8 text") from None
    return _parse(text, name_keys=name_keys)


def _bounded_bytes(path: Path) -> bytes:
    """The file's bytes; refuses anything but a regular file of at most the limit. Opening with
    O_NONBLOCK keeps a FIFO from blocking the open; fstat then tells what was opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigFileProblem(f"cannot be read: {exc.strerror}") from None
    try:
        _refuse_unless_small_regular(os.fstat(fd))
        raw = _read_at_most(fd, MAX_CONFIG_FILE_BYTES + 1)  # bounded again: the file may grow meanwhile
    finally:
        os.close(fd)
    if len(raw) > MAX_CONFIG_FILE_BYTES:
        raise _too_large()
    return raw


def _refuse_unless_small_regular(status: os.stat_result) -> None:
    kind = next((name for test, name in _FILE_KINDS if test(status.st_mode)), None)
    if kind or not stat.S_ISREG(status.st_mode):
        raise ConfigFileProblem(f"is {kind}, not a regular file" if kind else "is not a regular file")
    if status.st_size > MAX_CONFIG_FILE_BYTES:
        raise _too_large()


def _too_large() -> ConfigFileProblem:
    return ConfigFileProblem(f"is larger than {MAX_CONFIG_FILE_BYTES // (1024 * 1024)} MiB")


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(1 << 20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _parse(text: str, *, name_keys: bool) -> ConfigDocument:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return ConfigDocument(None)
        _refuse_repeated_keys(loader, root, "", name_keys=name_keys, seen=set())
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise ConfigFileProblem(_yaml_problem(exc)) from None
    except RecursionError:  # "[[[[…" thousands deep: the parser and the walk recurse per level
        raise ConfigFileProblem("is nested too deeply to be configuration") from None
    finally:
        loader.dispose()
    lines = {key.value: key.start_mark.line + 1 for key, _ in root.value} if isinstance(root, yaml.MappingNode) else {}
    return ConfigDocument(data, {str(key): line for key, line in lines.items()})


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where the parser stopped and its own description of the problem (PyYAML's fixed
    phrases, e.g. "mapping values are not allowed here"); never its excerpt of the file."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"invalid YAML: {where}{getattr(exc, 'problem', None) or type(exc).__name__}"


def _refuse_repeated_keys(
    loader: yaml.SafeLoader, node: yaml.Node, path: str, *, name_keys: bool, seen: set[int]
) -> None:
    """Raise on the first mapping that has two keys equal as the configuration reads them
    (``str`` of the value: ``1`` and ``"1"`` are the same key to it)."""
    if id(node) in seen:  # an alias: its node was checked where the anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_repeated_keys(loader, item, f"{path}[{index}]", name_keys=name_keys, seen=seen)
    elif isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == _MERGE_TAG or not isinstance(key, yaml.ScalarNode):
                continue
            child = f"{path}.{key.value}".lstrip(".")
            line = key.start_mark.line + 1
            identity = str(loader.construct_object(key))
            if identity in first_lines:
                raise _repeated(child if name_keys else "", first_lines[identity], line)
            first_lines[identity] = line
            _refuse_repeated_keys(loader, value, child, name_keys=name_keys, seen=seen)


def _repeated(key_path: str, first: int, again: int) -> ConfigFileProblem:
    return ConfigFileProblem(
        f"key is given twice (lines {first} and {again}); YAML would keep only the last: remove one",
        key_path=key_path,
    )
