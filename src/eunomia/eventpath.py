"""Reading events (nested dicts, as docs/events.md describes them): a value at a path, every leaf
with its dotted path, the time in ns."""

from __future__ import annotations

import calendar
import time
from typing import Any, Iterator


def value_at(event: dict[str, Any], path: tuple[str, ...]) -> Any:
    """event[path[0]][path[1]]…, or None where a level is missing or not a mapping."""
    node: Any = event
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def flatten(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf; an empty object has none."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, path + ".")
        else:
            yield path, value


_SECONDS: dict[str, int] = {}


def event_ns(text: str) -> int:
    """An event's `time` (RFC 3339 UTC with microseconds, 2026-11-28T12:34:55.940756Z) → ns
    since the epoch; seconds are parsed once each (events come in bursts)."""
    prefix = text[:19]
    seconds = _SECONDS.get(prefix)
    if seconds is None:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        seconds = _SECONDS[prefix] = calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S"))
    fraction = text[20:-1] if len(text) > 20 and text[19] == "." else ""
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9] or 0)
