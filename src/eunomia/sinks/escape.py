"""Making container-supplied text safe to show.

Paths, argv and names come from containers and are hostile: they may hold
terminal escape sequences, newlines that forge extra output lines, or
spreadsheet formulas.  JSON needs nothing more than a correct encoder;
text and CSV outputs go through these functions.
"""

from __future__ import annotations

import shlex

# tab and CR also start formulas in some spreadsheets, but escape_text has
# already turned them into visible \x09 / \x0d by the time this is checked
FORMULA_PREFIXES = ("=", "+", "-", "@")


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
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
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
