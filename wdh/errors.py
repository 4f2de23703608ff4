"""Error types shared by the apps, and the exit codes the commands turn them into.

Services raise these; only the management commands turn them into ``CommandError``
(STYLE.md point 11), using ``exit_code`` so every kind of failure keeps one documented code.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in the README ("Exit codes")."""

    SUCCESS = 0
    FAILURE = 1  # unexpected failure, or the database refused the run's statements
    USER_ERROR = 2  # bad flags, configuration, input file, sheet, column or cell, missing table
    LOCKED = 3  # another execute run holds the backfill lock
    CHANGES_PENDING = 4  # --check: the plan is not empty


class WdhError(Exception):
    """Base of every error wdh raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(WdhError):
    """The configuration is wrong; ``path`` is the key path (``domains.x.refs.plans.key[0]``)."""

    exit_code = ExitCode.USER_ERROR

    def __init__(self, path: str, problem: str, *, source: str = "") -> None:
        self.path = path
        self.problem = problem
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {problem}")


class InputError(WdhError):
    """An input file, sheet, column or flag is unusable; the message names which."""

    exit_code = ExitCode.USER_ERROR


class SchemaError(WdhError):
    """A warehouse table, column or unique index the run needs is missing."""

    exit_code = ExitCode.USER_ERROR


class RunLockedError(WdhError):
    """Another execute run holds the advisory lock."""

    exit_code = ExitCode.LOCKED
