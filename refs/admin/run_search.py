"""The run list's search: which runs a reviewer's terms name, at a bounded cost.

Each term costs three correlated ``EXISTS`` subqueries, so the number of terms and their length
are capped (5,000 words once took minutes of CPU): a search over the caps lists no run and says
why, rather than searching a silently shortened part of what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q
from django.utils.text import smart_split, unescape_string_literal

from refs.models import RunCell, RunFile, RunKey

MAX_TERMS = 10
MAX_TERM_LENGTH = 255  # the width of a reference key; longer text names no key and no file part


@dataclass(frozen=True)
class RunSearch:
    """The terms of one search, or why it was refused (``problem``, shown to the reviewer)."""

    terms: tuple[str, ...]
    problem: str = ""


def run_search(text: str) -> RunSearch:
    """Split ``text`` into terms as the admin does (quotes keep spaces) and check the caps."""
    if len(text) > MAX_TERMS * (MAX_TERM_LENGTH + 3):  # not worth splitting
        return RunSearch((), _refusal(f"{len(text):,} characters were typed"))
    terms = tuple(_unquoted(bit) for bit in smart_split(text))
    if len(terms) > MAX_TERMS:
        return RunSearch((), _refusal(f"{len(terms):,} terms were typed"))
    long = [term for term in terms if len(term) > MAX_TERM_LENGTH]
    if long:
        return RunSearch((), _refusal(f"a term of {len(long[0]):,} characters was typed"))
    return RunSearch(terms)


def _refusal(what: str) -> str:
    return (
        f"Search not run: {what}. Search takes at most {MAX_TERMS} terms of at most "
        f"{MAX_TERM_LENGTH} characters each (a whole reference key or part of a file name); "
        "narrow it and search again."
    )


def _unquoted(bit: str) -> str:
    if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
        return unescape_string_literal(bit)
    return bit


def run_matches(term: str) -> Q:
    """A run matches a whole reference key it inserted or filled, or part of a file name.

    Keys match exactly (the ``key`` indexes serve it); ``Exists`` keeps one row per run however
    many keys or files match, with no DISTINCT over the joined rows.
    """
    keys = {term, term.upper()}
    return (
        Q(Exists(RunKey.objects.filter(run=OuterRef("pk"), key__in=keys)))
        | Q(Exists(RunCell.objects.filter(run=OuterRef("pk"), key__in=keys)))
        | Q(Exists(RunFile.objects.filter(run=OuterRef("pk"), path__icontains=term)))
    )
