"""The data of ``COPY … FROM STDIN`` in PostgreSQL's text format, written column by column (issue 13
item 2: the staging COPY's formatting shared the interpreter with cleansing, a Python step per value).

What the server reads for a value is what the CSV it was sent before gave it: ``str(value)`` (a
``str`` as it is), and NULL for ``None`` — so every type's input function sees the same text and
the stored rows are the same. An empty string stays an empty string (text format's NULL is
``\\N``), and a value's backslashes, tabs, line feeds and carriage returns are escaped.

A column of a batch is written in a few passes in C, chosen by the set of its values' types:

- only ``str`` (and None): the values as they are, unless one holds a character to escape;
- only numbers, booleans and dates (:data:`_PLAIN`, and None): ``str`` of each; their text never
  holds a character to escape, and ``"None"`` can only be the text of None;
- anything else (a mix with text, another type): value by value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_TO_ESCAPE = ("\\", "\t", "\n", "\r")
_NONE = type(None)
_TEXT = frozenset({str, _NONE})
# Exact types whose str() never holds a character to escape nor reads "None"
_PLAIN = frozenset({Decimal, int, float, bool, date, datetime, _NONE})
_NULLS = {None: NULL}  # .get(value, value): None's text, any other value itself
_NONE_TEXTS = {"None": NULL}  # .get(text, text) on str() of a _PLAIN column


def copy_text(columns: Sequence[Sequence[Any]]) -> str:
    """The lines of the rows whose values are ``columns`` (each column's values in row order;
    every column as long as the first: ValueError if not), each line ending in a line feed."""
    if not columns or not columns[0]:
        return ""
    texts = [column_text(column) for column in columns]
    return "\n".join(map("\t".join, zip(*texts, strict=True))) + "\n"


def column_text(values: Sequence[Any]) -> Sequence[str]:
    """Each of ``values`` as COPY's text format writes it in a field."""
    types = set(map(type, values))
    if types <= _TEXT:
        joined = "".join(filter(None, values))  # a few scans in C, faster than a regular expression
        if any(character in joined for character in _TO_ESCAPE):
            return [_field(value) for value in values]
        return list(map(_NULLS.get, values, values)) if _NONE in types else values
    if types <= _PLAIN:
        texts = list(map(str, values))
        return list(map(_NONE_TEXTS.get, texts, texts)) if _NONE in types else texts
    return [_field(value) for value in values]


def _field(value: Any) -> str:
    if value is None:
        return NULL
    text = value if isinstance(value, str) else str(value)
    return text.translate(_ESCAPES)


def row_columns(rows: Iterable[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    """``rows`` (each ``width`` values) as columns, for :func:`copy_text`; ValueError when a row
    has another number of values."""
    rows = list(rows)
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    if len(columns) != width:
        raise ValueError(f"COPY rows of {len(columns)} values for {width} columns")
    return columns
