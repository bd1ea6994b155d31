"""Making container-supplied text safe to show.

Paths, argv and names come from containers and are hostile: they may hold
terminal escape sequences, newlines that forge extra output lines, or
spreadsheet formulas.  JSON needs nothing more than a correct encoder;
text and CSV outputs go through these functions.
"""

from __future__ import annotations

import shlex

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_text(text: str) -> str:
    """Show non-printable characters (controls, escapes, bidi marks) as \\xNN/\\uNNNN."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def format_argv(args: list[str]) -> str:
    """argv as a shell would need it typed, with controls escaped."""
    return " ".join(escape_text(shlex.quote(a)) for a in args)


def csv_cell(value: object) -> object:
    """Neutralise text a spreadsheet would run as a formula (OWASP CSV injection)."""
    if isinstance(value, str):
        value = escape_text(value)
        if value.startswith(FORMULA_PREFIXES):
            return "'" + value
    return value
