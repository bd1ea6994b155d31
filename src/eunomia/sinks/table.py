"""A human table, one line per event, streamed.

What a person reads first is the container's own behaviour: the runtime's
set-up of a container (process.runtime_setup: runc's stages mounting,
opening /proc, checking capabilities) and capability checks that only probe
(capability.probe: their answer never fails a call) are left out unless
asked for (`--show-runtime`), and counted in the closing summary line.
`-f json` keeps every event.
"""

from __future__ import annotations

import os
from typing import IO, Any

from ..context.model import is_runtime_setup
from .aggregates_text import render
from .escape import escape_text
from .phrases import phrase, rest
from . import Event

HEADER = f"{'TIME':<12} {'CONTAINER':<16} {'PID':>7}  {'EVENT':<10} WHAT"
RED, PLAIN = "\x1b[31m", "\x1b[0m"


def terminal_width(out: IO[bytes]) -> int | None:
    """Columns to fit a line in: $COLUMNS, else the terminal's; None for a file or a pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 40:
        return int(columns)
    try:
        if out.isatty():
            return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return None


def wants_colour(out: IO[bytes]) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (no-color.org)."""
    try:
        return bool(out.isatty()) and not os.environ.get("NO_COLOR")
    except (AttributeError, ValueError):
        return False


def cut(line: str, width: int | None) -> str:
    """One line of at most width characters: a long one ends in an ellipsis, never wraps."""
    return line if width is None or len(line) <= width else line[: width - 1] + "…"


def hidden_by_default(event: Event) -> str | None:
    """Why a person's table leaves this event out by default, or None."""
    if is_runtime_setup(event):
        return "runtime set-up"
    if (event.get("capability") or {}).get("probe"):
        return "capability probe"
    return None


class TableSink:
    def __init__(self, out: IO[bytes], stderr: IO[str] | None = None, show_runtime: bool = False,
                 verbose: bool = False, width: int | None = -1, colour: bool | None = None) -> None:
        self.out = out
        self.stderr = stderr
        self.show_runtime = show_runtime
        self.verbose = verbose  # every field after the phrase, and no line cut
        self.width = terminal_width(out) if width == -1 else width
        self.colour = wants_colour(out) if colour is None else colour
        self.hidden: dict[str, int] = {}  # why → events left out
        self._aggregates: list[Event] = []  # read when tracing ends: shown as tables at close
        self._header_done = False

    def write(self, event: Event) -> None:
        if not self.show_runtime:
            why = hidden_by_default(event)
            if why is not None:
                self.hidden[why] = self.hidden.get(why, 0) + 1
                return
        if "time" not in event:  # an aggregate, read when tracing ends
            self._aggregates.append(event)
            return
        if not self._header_done:
            self.out.write((HEADER + "\n").encode())
            self._header_done = True
        process = event.get("process") or {}
        container = event.get("container") or {}
        name = escape_text(str(container.get("name") or (container.get("id") or "")[:12]))
        words, bad = phrase(event)
        line = (f"{str(event['time'])[11:23]:<12} {cut(name, 16):<16} {process.get('pid', ''):>7}  "
                f"{escape_text(str(event.get('type', ''))):<10} {words}")
        if self.verbose:
            more = rest(event)
            line = f"{line}  |  {more}" if more else line
        else:
            line = cut(line, self.width)
        if bad and self.colour:
            line = f"{RED}{line}{PLAIN}"
        self.out.write((line + "\n").encode("utf-8", "backslashreplace"))

    def flush(self) -> None:
        self.out.flush()

    def close(self, summary: dict[str, Any]) -> None:
        if self._aggregates:
            text = "\n".join(["", *render(self._aggregates, self.show_runtime)]) + "\n"
            self.out.write(text.encode("utf-8", "backslashreplace"))
        self.out.flush()
        if self.stderr is not None:
            self.stderr.write(summary_line(summary) + "\n")
            if self.hidden:
                left_out = ", ".join(f"{n} {why} event{'s' if n != 1 else ''}" for why, n in self.hidden.items())
                self.stderr.write(f"not shown: {left_out} (--show-runtime shows them; -f json has every event)\n")
            self.stderr.flush()


def summary_line(summary: dict[str, Any]) -> str:
    parts = []
    for name, s in summary.get("trackers", {}).items():
        received = sum(s.get("received", {}).values())
        parts.append(f"{name}: {received} events, {s.get('lost', 0)} lost, {s.get('filtered', 0)} filtered in kernel")
    return "summary: " + ("; ".join(parts) if parts else "no trackers ran")
