"""The fact load's staging table needs the TEMPORARY privilege: without it the run is refused
before it reads, saying which GRANT fixes it (the test role is a superuser, which bypasses every
privilege, so the test takes a role without it for the check)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from facts.fact_staging import FactStaging
from wdh.errors import SchemaError
from wdh.identifiers import quote_ident

ROLE = "wdh_test_no_temp"


@pytest.fixture
def without_temporary(warehouse: None) -> Iterator[None]:
    """The session acting as a role that may not create temporary tables in this database."""
    database = quote_ident(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        cursor.execute(f"DO $$ BEGIN CREATE ROLE {ROLE} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        cursor.execute(f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC")
        cursor.execute(f"SET ROLE {ROLE}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute(f"GRANT TEMPORARY ON DATABASE {database} TO PUBLIC")


def test_no_temporary_privilege_is_refused_with_the_grant_that_fixes_it(without_temporary: None) -> None:
    with pytest.raises(SchemaError, match=r"no TEMPORARY privilege .* GRANT TEMPORARY ON DATABASE"):
        FactStaging.create("annuity_performance", '"wdh"."规模明细"', ["月度"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_temp.wdh_staged_annuity_performance')")
        assert cursor.fetchone() == (None,)
