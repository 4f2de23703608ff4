"""The steps of a run as a reviewer reads them: "reading", "backfilling plans", "loading facts".

A run records the step it is in (``RunResult.stage``, set as each step begins; the audit keeps
it in ``BackfillRun.stage``; :meth:`jobs.run_result.RunResult.at`): ``read``, ``plan plans``,
``backfill portfolios``, ``facts``. This module turns those names into words, so a failed run
says where it stopped without a class name such as ``InputError``.
"""

from __future__ import annotations

_WORDS = {
    "validate": "checking the configuration and tables",
    "check": "checking the workbooks",
    "lock": "taking the backfill lock",
    "read": "reading",
    "plan facts": "planning the fact load",
    "preflight": "checking the plan against the tables",
    "facts": "loading facts",
    "audit": "recording the run",
    "audit record": "recording the run",
    "saved plan": "checking the saved plan's files and configuration",
    "compare with the saved plan": "comparing the saved plan with the tables now",
}
_PER_TARGET = {  # a step on one target: "backfill plans" → "backfilling plans"
    "derive": "deriving",
    "plan": "planning",
    "backfill": "backfilling",
}


def stage_words(stage: str) -> str:
    """The recorded ``stage`` in words; an unknown name as it is, an empty one as ``""``."""
    if stage in _WORDS:
        return _WORDS[stage]
    verb, _, target = stage.partition(" ")
    if verb in _PER_TARGET and target:
        return f"{_PER_TARGET[verb]} {target}"
    return stage
