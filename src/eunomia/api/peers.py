"""Per container, the TCP peers its established connections reached or
came from, counted as connect and accept events pass (for the API).

A peer is the container at the other end (by name), or its address when it
is no container on this host; the port is the server's.  Memory stays
bounded: at most PEERS_PER_CONTAINER peers per container (the rest are
counted in `overflow`), and a forgotten container's peers go with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

PEERS_PER_CONTAINER = 1024
# (direction, peer container name, peer address, transport, server port)
PeerKey = tuple[str, "str | None", "str | None", str, int]


@dataclass
class Peer:
    direction: str             # outbound (the container connected) or inbound (it accepted)
    name: str | None           # the container at the other end, null outside containers
    address: str | None        # its address when it is not a container on this host
    transport: str
    port: int                  # the server's port
    count: int


class PeerBook:
    def __init__(self, limit: int = PEERS_PER_CONTAINER) -> None:
        self.limit = limit
        self._by_container: dict[str, dict[PeerKey, int]] = {}
        self.overflow = 0  # connections whose peer found its container's book full

    def observe(self, event: dict[str, Any]) -> None:
        """A connect or accept event (others are ignored); only established ones count."""
        kind = event.get("type")
        if (kind != "connect" and kind != "accept") or event.get("result") != 0:
            return
        source, destination = event.get("source") or {}, event.get("destination") or {}
        transport = (event.get("network") or {}).get("transport") or ""
        port = destination.get("port") or 0
        other = destination if kind == "connect" else source
        name = other.get("container")
        key = ("outbound" if kind == "connect" else "inbound", name, None if name else other.get("ip"),
               transport, port)
        book = self._by_container.setdefault(event["container"]["id"], {})
        if key in book:
            book[key] += 1
        elif len(book) < self.limit:
            book[key] = 1
        else:
            self.overflow += 1

    def of(self, container_id: str) -> list[Peer]:
        book = self._by_container.get(container_id, {})
        return [Peer(direction, name, address, transport, port, n)
                for (direction, name, address, transport, port), n
                in sorted(book.items(), key=_order)]

    def forget(self, container_ids: Iterable[str]) -> None:
        for cid in container_ids:
            self._by_container.pop(cid, None)


def _order(item: tuple[PeerKey, int]) -> tuple[object, ...]:
    """Most connections first; then containers before addresses, by name, port."""
    (direction, name, address, transport, port), n = item
    return -n, direction, name is None, name or address or "", port, transport
