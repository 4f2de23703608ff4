"""What a database error means for the operator, in one sentence that names what failed.

Only a connection that could not be made or was lost says "cannot reach" / "lost"; a server
that refused a statement says why (a missing privilege, a read-only database, a time limit, a
value too long, the server out of resources) from the error's SQLSTATE, with the server's own
message kept in parentheses.
"""

from __future__ import annotations

import psycopg2
from django.db import DatabaseError

from wdh.postgres import connection_lost

# SQLSTATE → what it means and what to do; the class (first two characters) when no exact entry.
_MEANINGS = {
    "42501": "the database role lacks a privilege the run needs; grant it (see the message) and run again",
    "25006": (
        "the database is read-only (a standby, or default_transaction_read_only is on); "
        "point DATABASE_URL at a writable primary and run again"
    ),
    "55P03": "a lock wait exceeded lock_timeout (WDH_LOCK_TIMEOUT): another session holds a lock the run needs",
    "22001": "a value is longer than its database column allows",
    "53": "the database server ran out of a resource (disk, memory or connections); free it and run again",
    "54": "a value or statement exceeds a limit of the database server",
}


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a database error (``''`` when it carries none)."""
    error = exc.__cause__ if isinstance(exc, DatabaseError) and exc.__cause__ is not None else exc
    return getattr(error, "pgcode", None) or "" if isinstance(error, psycopg2.Error) else ""


def is_lock_timeout(exc: BaseException) -> bool:
    return sqlstate(exc) == "55P03"


def failure_describe(exc: BaseException) -> str:
    """``"<what failed>; <what to do> (<server message>)"`` for a database error."""
    message = " ".join(str(exc).split())
    if connection_lost(exc):
        return (
            f"the connection to the database could not be made or was lost ({message}); "
            "check that the server is up and DATABASE_URL is right"
        )
    state = sqlstate(exc)
    if state == "57014":
        return _canceled(message)
    meaning = _MEANINGS.get(state) or _MEANINGS.get(state[:2])
    if meaning:
        return f"{meaning} (SQLSTATE {state}: {message})"
    return f"the database refused a statement (SQLSTATE {state or 'none'}: {message})"


def _canceled(message: str) -> str:
    if "statement timeout" in message:
        return (
            "a statement ran longer than statement_timeout (WDH_STATEMENT_TIMEOUT) and was cancelled; "
            f"raise the limit or find what slows it (SQLSTATE 57014: {message})"
        )
    return f"the statement was cancelled (by an operator or pg_cancel_backend) (SQLSTATE 57014: {message})"
