"""Reverts where a reviewer looks (issue 12 items 4 and 5), from real ``run_job`` and
``revert_run`` runs: the original run's admin page says "reverted by run N" (a link) or "revert
refused by run N: …" with the refusal's words, the revert's page links back to the run it
reverts, and ``show_run`` prints the same."""

from __future__ import annotations

import re
from pathlib import Path

from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from refs.models import BackfillRun
from tests.test_admin_review import job, page, section
from tests.test_backfill import run
from tests.test_revert import FEBRUARY, PLANS, refused, small
from tests.test_revert import job as execute


def links(client: Client, run_id: int) -> tuple[str, list[str]]:
    """The "Linked runs" section of run ``run_id``'s page, as text, and the pages it links to."""
    html = section(page(client, BackfillRun.objects.get(pk=run_id)), "links").split(">", 1)[1]
    return " ".join(strip_tags(html).split()), re.findall(r'href="([^"]+)"', html)


def change_url(run_id: int) -> str:
    return reverse("admin:refs_backfillrun_change", args=[run_id])


def test_a_reverted_run_and_its_revert_link_to_each_other(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    original = execute(small(tmp_path, FEBRUARY))
    revert = int(run("revert_run", str(original), "--execute")["audit_id"])

    text, urls = links(admin_client, original)
    assert text == f"Linked runs reverted by run {revert}" and urls == [change_url(revert)]
    text, urls = links(admin_client, revert)
    assert text == f"Linked runs reverts run {original}" and urls == [change_url(original)]
    assert f"  reverted by run {revert}" in job("show_run", str(original)).splitlines()
    assert f"  reverts run {original}" in job("show_run", str(revert)).splitlines()


def test_a_refused_revert_shows_on_the_original_run_with_its_reason(
    warehouse: None, tmp_path: Path, admin_client: Client
) -> None:
    original = execute(small(tmp_path, FEBRUARY), "--skip-facts")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {PLANS} SET \"计划简称\" = 'edited' WHERE \"年金计划号\" = 'P0002'")
    revert = int(refused(str(original), "--execute")["audit_id"])

    text, urls = links(admin_client, original)
    assert text.startswith(f"Linked runs revert refused by run {revert}: run {original} cannot be reverted whole")
    assert "plans P0002: edited since" in text and "reverted by" not in text
    assert urls == [change_url(revert)]
    assert links(admin_client, revert)[1] == [change_url(original)]
    shown = [line for line in job("show_run", str(original)).splitlines() if "revert refused" in line]
    assert len(shown) == 1 and shown[0].startswith(f"  revert refused by run {revert}: ")


def test_a_run_never_reverted_has_no_linked_runs(warehouse: None, tmp_path: Path, admin_client: Client) -> None:
    original = execute(small(tmp_path, FEBRUARY))
    assert 'id="links"' not in page(admin_client, BackfillRun.objects.get(pk=original))
