"""COPY's text format, column by column (wdh/copy_text.py, issue 13 item 2), stores exactly what the
CSV COPY it replaced stored: every value type and edge value goes through a real COPY both ways —
the new text format (``wdh.postgres.copy_rows``, the staging table's ``FactStaging.add``) and the
former CSV lines (kept below as the oracle) — and the stored rows' text must be identical, NULL
and empty string told apart (a record's text writes NULL as nothing and ``''`` as ``""``).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from facts.fact_staging import FactStaging
from wdh.copy_text import copy_text
from wdh.postgres import ROWS_PER_READ, copy_rows

TEXTS = [
    None, "", " ", "  padded  ", "None", "NULL", "null", "\\N", "\\", "\\\\", "\\N\\N", "a\\tb", "ends with \\",
    "\\.", ".", "\t", "tab\there", "line\nbreak", "cr\rhere", "\r\n", "\n\\.\n", '"quoted"', '""', "comma,here",
    "semi;colon", "\x01\x07\x08\x0b\x0c\x1b\x1f\x7f controls", "\u2028\u2029\x85", "中文，全角", "emoji 😀",
    "{a,\"b c\",NULL}", "'single'",
]  # fmt: skip
PLAIN_TEXTS = [text for text in TEXTS if text is None or not any(c in text for c in "\\\t\n\r")]
NUMBERS = [
    None, Decimal("0.0000"), Decimal("-0.0000"), Decimal("12.5000"), Decimal("-31982648287.8099"), Decimal("1E+3"),
    Decimal("1.23E-7"), Decimal("0.000001"), Decimal("99999999999999.9999"), Decimal("NaN"), Decimal("Infinity"),
]  # fmt: skip
MIXED_NUMBERS = [Decimal("1.50"), 7, 2.25, "12.50", " 3 ", None]  # str among numbers: value by value
DATES = [None, date(2026, 2, 1), date(1900, 1, 1), date(2100, 12, 31)]
TIMES = [None, datetime(2026, 2, 1, 12, 30, 45, 123456), datetime(1999, 12, 31, 23, 59, 59)]
ZONED = [
    None, datetime(2026, 2, 1, 12, 30, tzinfo=UTC), datetime(2026, 2, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))),
]  # fmt: skip
INTEGERS = [None, 0, -1, 2**62, 202602]
BOOLEANS = [None, True, False]
FLOATS = [None, 0.1, 1e20, -0.0, 1 / 3, 5e-324, float("inf"), float("-inf"), float("nan"), 3253739.24]
MIXED_TEXTS = ["x", 12, Decimal("1.50"), date(2026, 2, 1), 2.5, True, "tab\tafter", None]
# column: (its type, the values it cycles through)
COLUMNS: dict[str, tuple[str, list[Any]]] = {
    "texts": ("text", TEXTS),
    "plain_texts": ("text", PLAIN_TEXTS),
    "no_null_texts": ("character varying", [text for text in PLAIN_TEXTS if text is not None]),
    "escaped_only": ("text", ["\\", "a\tb", "c\nd"]),
    "numbers": ("numeric", NUMBERS),
    "amounts": ("numeric", [number for number in NUMBERS if number is not None and number.is_finite()]),
    "mixed_numbers": ("numeric", MIXED_NUMBERS),
    "dates": ("date", DATES),
    "times": ("timestamp", TIMES),
    "zoned": ("timestamptz", ZONED),
    "integers": ("bigint", INTEGERS),
    "booleans": ("boolean", BOOLEANS),
    "floats": ("double precision", FLOATS),
    "mixed_texts": ("text", MIXED_TEXTS),
    "nulls": ("text", [None]),
}
NAMES = list(COLUMNS)


def _rows(count: int) -> list[tuple[Any, ...]]:
    """``count`` rows (seq first), each column cycling through its values at its own pace, so
    that every value meets every other column's values."""
    cycles = [itertools.cycle(values) for _, values in COLUMNS.values()]
    return [(seq, *(next(cycle) for cycle in cycles)) for seq in range(1, count + 1)]


def _csv_line(row: tuple[Any, ...]) -> str:
    """The former COPY line (FORMAT csv): NULL the unquoted empty field, every other value quoted."""
    return ",".join("" if value is None else '"' + str(value).replace('"', '""') + '"' for value in row) + "\r\n"


class _Lines:
    def __init__(self, text: str) -> None:
        self.text = text

    def read(self, size: int = -1) -> str:
        text, self.text = self.text, ""
        return text


def _create(table: str) -> None:
    columns = ", ".join(f"{name} {kind}" for name, (kind, _) in COLUMNS.items())
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {table} (seq bigint, {columns})")


def _stored(table: str) -> list[tuple[int, str]]:
    """Each row's text as PostgreSQL writes a record: NULL is nothing, an empty string ``""``."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seq, t::text FROM {table} t ORDER BY seq")
        return list(cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.parametrize("count", [len(TEXTS), 2 * ROWS_PER_READ + 7])
def test_every_value_is_stored_as_the_former_csv_copy_stored_it(count: int) -> None:
    rows = _rows(count)
    _create("by_csv")
    _create("by_text")
    columns = ["seq", *NAMES]
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY by_csv ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", _Lines("".join(map(_csv_line, rows)))
        )
    assert copy_rows("by_text", columns, rows) == count
    by_csv, by_text = _stored("by_csv"), _stored("by_text")
    assert len(by_csv) == count
    assert by_text == by_csv
    with connection.cursor() as cursor:  # the edge values themselves, not only their agreement
        cursor.execute("SELECT texts FROM by_text WHERE seq <= %s ORDER BY seq", [len(TEXTS)])
        assert [text for (text,) in cursor.fetchall()] == TEXTS
        cursor.execute("SELECT numbers::text FROM by_text WHERE seq <= %s ORDER BY seq", [len(NUMBERS)])
        assert [text for (text,) in cursor.fetchall()] == [
            None, "0.0000", "0.0000", "12.5000", "-31982648287.8099", "1000", "0.000000123", "0.000001",
            "99999999999999.9999", "NaN", "Infinity",
        ]  # fmt: skip


@pytest.mark.django_db
def test_the_staging_table_holds_each_fact_value_as_it_was_cleansed() -> None:
    """FactStaging.add takes the rows column by column: every value, NULL and empty string, comes
    back from the staging table as it went in."""
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE "edge_facts" ("name" varchar(40), "amount" numeric(18,4), "month" date)')
    staging = FactStaging.create("edges", '"edge_facts"', ["name", "amount", "month"])
    rows = [
        {"name": text, "amount": number, "month": day}
        for text, number, day in zip(
            TEXTS, itertools.cycle([n for n in NUMBERS if n is None or n.is_finite()]), itertools.cycle(DATES)
        )
    ]
    assert staging.add(rows) == len(rows)
    assert [row for chunk in staging.read_back() for row in chunk] == rows
    staging.drop()


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter"):
        copy_text([[1, 2], [3]])
