"""PostgreSQL identifier quoting: the one function every table and column name goes through.

PostgreSQL truncates identifiers longer than NAMEDATALEN-1 = 63 *bytes* (a Chinese character is
3 bytes in UTF-8) silently, so a long name would address a different object; we refuse instead.
"""

from __future__ import annotations

MAX_IDENTIFIER_BYTES = 63


def identifier_problem(name: str) -> str | None:
    """Why ``name`` cannot be a PostgreSQL identifier, or ``None`` when it can."""
    if not name:
        return "an identifier must not be empty"
    if "\x00" in name:
        return "an identifier must not contain a NUL character"
    if "%" in name:
        # psycopg2 reads "%" in a statement with parameters as a placeholder, and Django does not
        # escape it in table names: the statement would fail or address another object.
        return f"{name!r} contains '%', which the database driver reads as a parameter placeholder"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, e.g. a "\ud800" escape in the YAML
        return f"{name!r} is not valid Unicode text"
    if size > MAX_IDENTIFIER_BYTES:
        return f"{name!r} is {size} bytes in UTF-8; PostgreSQL identifiers are limited to {MAX_IDENTIFIER_BYTES} bytes"
    return None


def quote_ident(name: str) -> str:
    """Quote one identifier: wrap in double quotes, double any embedded quote."""
    problem = identifier_problem(name)
    if problem:
        raise ValueError(problem)
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(schema: str | None, name: str) -> str:
    """``"schema"."name"``, or ``"name"`` when ``schema`` is empty (resolved by search_path)."""
    if schema:
        return f"{quote_ident(schema)}.{quote_ident(name)}"
    return quote_ident(name)
