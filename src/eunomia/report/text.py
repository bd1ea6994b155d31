"""Small text helpers shared by the terminal and the HTML renderers.

Everything here returns plain text with control characters made visible
(eunomia.sinks.escape); `h` also makes it safe inside HTML and SVG, in text
and in quoted attributes.
"""

from __future__ import annotations

import html
from typing import Iterable, Optional

from ..sinks.escape import escape_text, format_argv
from .model import FileActivity, Process, ProcessRef

NONE = "—"
CELL_LIMIT = 4096   # characters of one value shown in a table cell


def safe(value: object, default: str = NONE) -> str:
    """A value as display text: controls escaped, None as a dash."""
    if value is None or value == "":
        return default
    return escape_text(str(value))


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[:max(limit - 1, 0)] + "…"


def cell(value: object, limit: int = CELL_LIMIT, default: str = NONE) -> str:
    """Display text for a table cell: escaped, and a huge value cut with a visible note."""
    text = safe(value, default)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def h(value: object, default: str = NONE) -> str:
    """Escaped for HTML/SVG text and attribute values (quotes too)."""
    return html.escape(safe(value, default), quote=True)


def hcell(value: object, limit: int = CELL_LIMIT, default: str = NONE) -> str:
    return html.escape(cell(value, limit, default), quote=True)


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def argv_text(process: Process) -> str:
    """The command line of a process (escaped), its executable when it did not show in argv[0]."""
    text = format_argv(list(process.args)) if process.args else ""
    exe = process.executable
    if exe and (not process.args or process.args[0] != exe):
        prefix = f"[{escape_text(exe)}]"
        text = f"{prefix} {text}" if text else prefix
    return text or safe(process.name, "?")


def exit_text(process: Process) -> str:
    if process.exit_signal:
        return f"killed by {escape_text(process.exit_signal)}"
    if process.exit_code is not None:
        return f"exit {process.exit_code}"
    return "running" if process.end is None else "ended"


def ref_text(ref: ProcessRef, container: Optional[str] = None) -> str:
    text = escape_text(ref.label)
    return f"{text} in {escape_text(container)}" if container else text


def result_text(result: object) -> str:
    return "ok" if result in (None, 0) else escape_text(str(result))


def operations_text(activity: FileActivity) -> str:
    parts = [f"{escape_text(op)}×{n}" for op, n in sorted(activity.operations.items(), key=lambda kv: -kv[1]) if n]
    return " ".join(parts) or NONE


def failed_text(failed: dict[str, dict[str, int]]) -> str:
    parts = [f"{escape_text(op)} {escape_text(errno)}×{n}"
             for op, errnos in sorted(failed.items()) for errno, n in sorted(errnos.items())]
    return ", ".join(parts)


def errno_text(failed: dict[str, int]) -> str:
    return ", ".join(f"{escape_text(e)}×{n}" for e, n in sorted(failed.items()))


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


def joined(values: Iterable[object], limit: int = 12) -> str:
    items = [safe(v) for v in values]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more if items else NONE


def top(items: Iterable, key, n: int) -> list:
    """The n largest items by key, ties kept in their recorded order."""
    return sorted(items, key=key, reverse=True)[:n]
