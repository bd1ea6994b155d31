"""What the session reads off an enriched event: the container↔container
edge it makes, and the name its container got after it was built."""

from __future__ import annotations

from typing import Any

from ..context.model import Container, container_fields

Event = dict[str, Any]


def edge_of(event: Event) -> tuple[str, str, str, int] | None:
    """(source container, destination container, transport, port) of an
    established connection (a successful connect, or an accept) that names a
    container at both ends, else None."""
    if event.get("type") not in ("connect", "accept") or event.get("result") != 0:
        return None
    source, destination = event.get("source"), event.get("destination")
    if not source or not destination or not source.get("container") or not destination.get("container"):
        return None
    transport = (event.get("network") or {}).get("transport") or ""
    return source["container"], destination["container"], transport, destination.get("port") or 0


def named_now(event: Event, container: Container | None) -> None:
    """A held event gets what its container's lookup brought: the container
    block, and its own end of a connection (named by the short id till now)."""
    if container is None or container.name is None:
        return
    short = container.id[:12]
    event["container"] = container_fields(container)
    for end in ("source", "destination"):
        side = event.get(end)
        if isinstance(side, dict) and side.get("container") == short:
            side["container"] = container.name
