"""A value inside an event (nested dicts, as docs/events.md describes them)."""

from __future__ import annotations

from typing import Any


def value_at(event: dict[str, Any], path: tuple[str, ...]) -> Any:
    """event[path[0]][path[1]]…, or None where a level is missing or not a mapping."""
    node: Any = event
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
