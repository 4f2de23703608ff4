"""The runs an audit record is tied to, as ``show_run`` prints them and a run's admin page links
them: the plan it applied (``--apply``), the run it reverts (``revert_run``), and the reverts of
it — "reverted by run N" for a revert that was committed, "revert refused by run N: …" for one
that was refused (exit 2: something must be kept, or the run cannot be reverted; or the lock
was held), with the refusal's own words."""

from __future__ import annotations

from dataclasses import dataclass

from refs.models import BackfillRun, RunMode, RunStatus

REFUSED_EXIT = 2  # a revert refused for its input (wdh.errors.ExitCode.USER_ERROR)
APPLIES = "applies the plan of run"


@dataclass(frozen=True)
class RunLink:
    """``{words} {run_id}``, and for a refused revert the reason it gave."""

    words: str
    run_id: int
    reason: str = ""

    @property
    def text(self) -> str:
        return f"{self.words} {self.run_id}" + (f": {self.reason}" if self.reason else "")


def run_links(run: BackfillRun) -> list[RunLink]:
    """Every run ``run`` is tied to, oldest first. Reads the database."""
    links = []
    if run.applies_id is not None:
        links.append(RunLink(APPLIES, run.applies_id))
    if run.reverted_run_id is not None:
        links.append(RunLink("reverts run", run.reverted_run_id))
    for revert in run.reverts.order_by("pk"):
        if revert.mode == RunMode.EXECUTE and revert.status == RunStatus.SUCCEEDED:
            links.append(RunLink("reverted by run", revert.pk))
        elif _refused(revert):
            words = "revert refused by run" if revert.mode == RunMode.EXECUTE else "revert refused by plan-only run"
            links.append(RunLink(words, revert.pk, reason=revert.error))
    return links


def _refused(revert: BackfillRun) -> bool:
    if revert.status == RunStatus.REFUSED_LOCKED:
        return True
    return revert.status == RunStatus.FAILED and revert.summary.get("exit_code") == REFUSED_EXIT
