"""A human table, one line per event, streamed.

What a person reads first is the container's own behaviour: the runtime's
set-up of a container (process.runtime_setup: runc's stages mounting,
opening /proc, checking capabilities) and capability checks that only probe
(capability.probe: their answer never fails a call) are left out unless
asked for (`--show-runtime`), and counted in the closing summary line.
`-f json` keeps every event.
"""

from __future__ import annotations

from typing import IO, Any

from .aggregates_text import render
from .escape import escape_text, format_argv
from . import Event

HEADER = f"{'TIME':<12} {'CONTAINER':<20} {'TYPE':<6} {'PID':>7} {'PPID':>7} {'UID':>5}  DETAIL"


def _detail(event: Event) -> str:
    process = event.get("process", {})
    kind = event.get("type")
    if kind == "exec":
        text = format_argv(process.get("args") or []) or escape_text(process.get("executable") or "")
        exe = process.get("executable")
        if exe and (not process.get("args") or process["args"][0] != exe):
            text = f"[{escape_text(exe)}] {text}"
        result = event.get("result")
        return f"{text}  → {result}" if isinstance(result, str) else text
    if kind == "exit":
        code = process.get("exit_code")
        signal = f" ({process['exit_signal']})" if process.get("exit_signal") else ""
        return f"code={code}{signal} after {process.get('duration_ms')} ms  {escape_text(process.get('executable') or process.get('name') or '')}"
    skip = {"time", "type", "container", "process", "user", "group"}
    return " ".join(f"{k}={escape_text(_show(v))}" for k, v in _flatten(event, skip) if v not in (None, [], {}))


def _flatten(node: dict[str, Any], skip: set[str], prefix: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in node.items():
        if not prefix and key in skip:
            continue
        if isinstance(value, dict):
            pairs.extend(_flatten(value, skip, f"{prefix}{key}."))
        else:
            pairs.append((prefix + key, value))
    return pairs


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def hidden_by_default(event: Event) -> str | None:
    """Why a person's table leaves this event out by default, or None."""
    if (event.get("process") or {}).get("runtime_setup"):
        return "runtime set-up"
    if (event.get("capability") or {}).get("probe"):
        return "capability probe"
    return None


class TableSink:
    def __init__(self, out: IO[bytes], stderr: IO[str] | None = None, show_runtime: bool = False) -> None:
        self.out = out
        self.stderr = stderr
        self.show_runtime = show_runtime
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
        process = event.get("process", {})
        container = event.get("container", {})
        name = container.get("name") or (container.get("id") or "")[:12]
        line = (f"{event['time'][11:23]:<12} {escape_text(name)[:20]:<20} {event.get('type', ''):<6} "
                f"{process.get('pid', ''):>7} {process.get('parent', {}).get('pid', ''):>7} "
                f"{event.get('user', {}).get('id', ''):>5}  {_detail(event)}")
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
