"""Escaping text that came from a workbook before it reaches a terminal, a JSON reader or PostgreSQL.

A cell, and so a key, a value or a message quoting one, can hold characters that act instead of
showing: ESC starts a terminal control sequence (colours, cursor moves, a rewritten line),
U+202E and the other bidi overrides reorder what follows (``P0001`` shown as ``1000P``), zero-width
and other format characters hide. NUL and lone surrogates are worse: PostgreSQL refuses to store
them as text or JSON, and a lone surrogate cannot even be encoded for the terminal.

:func:`printable` writes each of those as a Python-style escape (``\\x1b``, ``\\u202e``, ``\\x00``),
so an operator sees exactly which character is there. :func:`json_printable` does the same for
a dumped JSON document with JSON's own escapes, so a parser still reads the original value.
"""

from __future__ import annotations

import unicodedata

# Cc: C0 and C1 controls and DEL; Cf: format characters (bidi overrides and isolates, zero-width
# characters, U+FEFF); Cs: lone surrogates; Zl/Zp: line and paragraph separators, which end a
# terminal line as a newline does.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with every character of :data:`ESCAPED_CATEGORIES` written as ``\\xNN``,
    ``\\uNNNN`` or ``\\UNNNNNNNN``; ``newlines=True`` keeps line feeds (a multi-line message)."""
    if text.isprintable():  # str.isprintable is False for every escaped category: the usual case costs one C pass
        return text
    return "".join(_escape(char) if _escaped(char) and not (newlines and char == "\n") else char for char in text)


def _escaped(char: str) -> bool:
    return not char.isprintable() and unicodedata.category(char) in ESCAPED_CATEGORIES


def _escape(char: str) -> str:
    return repr(char)[1:-1] if unicodedata.category(char) == "Cc" else _code_point(char)


def _code_point(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def json_printable(document: str) -> str:
    """A JSON text (``json.dumps(..., ensure_ascii=False)``) with DEL, C1 controls, format
    characters, separators and lone surrogates written as ``\\uNNNN`` escapes: the same values
    for a parser, nothing that acts on a terminal. json.dumps has escaped C0 controls already,
    and the characters escaped here occur only inside strings, so a line-by-line pass is safe."""
    return "\n".join(line if line.isprintable() else "".join(map(_json_char, line)) for line in document.split("\n"))


def _json_char(char: str) -> str:
    if not _escaped(char):
        return char
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)  # JSON spells a code point beyond U+FFFF as a pair
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"
