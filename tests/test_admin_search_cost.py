"""The run list's search has a bounded cost (issue 9 item 13): at most ``MAX_TERMS`` terms of at
most ``MAX_TERM_LENGTH`` characters, a search over the caps refused with a message saying so,
and a capped search over 1,000 runs is one list query whose subqueries do not grow with the runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from refs.admin.run_search import MAX_TERM_LENGTH, MAX_TERMS, run_search
from refs.models import BackfillRun, RunFile, RunKey
from tests.test_admin import RUNS_URL, Runs, at, audit_runs, listed, make_run


@pytest.fixture
def runs(db: None) -> Runs:
    return audit_runs()


def warnings_of(response: object) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


def test_a_search_of_the_maximum_number_of_terms_runs(admin_client: Client, runs: Runs) -> None:
    terms = ["P0001", "P0002", "QTAN001", "X0001", "X0002", "2025年01月"] + ["规模收入数据"] * (MAX_TERMS - 6)
    response = admin_client.get(RUNS_URL, {"q": " ".join(terms)})
    assert listed(response) == [runs.inserted.pk]
    assert warnings_of(response) == []


@pytest.mark.parametrize(
    "text, said",
    [
        (" ".join(["P0001"] * (MAX_TERMS + 1)), f"{MAX_TERMS + 1} terms were typed"),
        (" ".join(f"w{n}" for n in range(5000)), "characters were typed"),  # not even split
        ("P0001 " + "x" * (MAX_TERM_LENGTH + 1), f"a term of {MAX_TERM_LENGTH + 1} characters"),
    ],
)
def test_a_search_over_the_caps_is_refused_and_says_why(admin_client: Client, runs: Runs, text: str, said: str) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(RUNS_URL, {"q": text})
    assert listed(response) == []
    [message] = warnings_of(response)
    assert message.startswith("Search not run: ") and said in message
    assert f"at most {MAX_TERMS} terms of at most {MAX_TERM_LENGTH} characters" in message
    assert message in response.content.decode()
    assert not any("EXISTS" in query["sql"] for query in queries.captured_queries)  # nothing searched


def test_quoted_terms_count_as_one_term_each() -> None:
    search = run_search("\"a b c\" 'd e' f")
    assert search.terms == ("a b c", "d e", "f") and not search.problem


@pytest.fixture
def thousand_runs(db: None) -> list[BackfillRun]:
    created = [make_run(started_at=at(1, 1) + timedelta(minutes=n)) for n in range(1000)]
    RunFile.objects.bulk_create(
        RunFile(run=run, path=f"/data/{run.pk}/规模收入数据.xlsx", size=1, sha256="0" * 64) for run in created
    )
    RunKey.objects.bulk_create(
        RunKey(run=run, target="plans", key=f"P{run.pk:05d}-{n}") for run in created for n in range(5)
    )
    return created


def test_a_capped_search_over_1000_runs_is_one_bounded_query(
    admin_client: Client, thousand_runs: list[BackfillRun]
) -> None:
    target = thousand_runs[500]
    terms = [f"P{target.pk:05d}-{n}" for n in range(5)] + ["规模收入数据", ".xlsx", "/data/", "数据", "收入"]
    assert len(terms) == MAX_TERMS
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(RUNS_URL, {"q": " ".join(terms)})
    assert listed(response) == [target.pk]
    searching = [query["sql"] for query in queries.captured_queries if "EXISTS" in query["sql"]]
    # The count, the page, and the date hierarchy's two reads: each with three subqueries per
    # term and none per run, so the cost is set by the capped terms, not by the 1,000 runs.
    assert len(searching) == 4, [sql[:80] for sql in searching]
    assert all(sql.count("EXISTS") == 3 * MAX_TERMS for sql in searching)
