"""Who is at the other end: container names for both ends of a connection,
and the UDP peer aggregates read from the kernel map.

The event's own end is its container.  The peer is named from what the
container registry learnt from Docker:

* a loopback address (127.0.0.0/8, ::1) is the container's own network
  namespace, so the same container (for the host: no name);
* an address on one of a container's Docker networks is that container;
  before Docker has said so (a client that connects at once), the kernel's
  address_owners map names the cgroup that used the address as its own;
* a server end on one of the host's own addresses (a Docker bridge gateway
  included) reached a published port: the container it is published to.

A client end on a host address stays unnamed: that is a host process — for a
published port reached through the gateway, Docker's userland proxy, which
opens its own connection to the container.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from ...bpf.errors import BpfError
from ...context.model import HOST, Container, container_fields
from .addresses import (
    HostAddresses,
    address_key,
    format_ip,
    is_loopback,
    is_unspecified,
    network_type,
)

NET_KINDS = ("connect", "accept", "close", "bind", "listen", "dup")
_NET_KIND_SET = frozenset(NET_KINDS)
CLOSE_ONLY = ("bytes_sent", "bytes_received", "duration_ms")
UDP_SENT, UDP_RECEIVED = 0, 1

HOST_ADDRESSES = HostAddresses()


class Registry(Protocol):
    def by_ip(self, ip: str) -> Container | None: ...
    def by_published_port(self, transport: str, host_port: int) -> Container | None: ...
    def container_of(self, cgroup_id: int) -> Container: ...


def own_name(container: dict[str, Any]) -> str | None:
    """The event's container as a name (short id when Docker gave none); None for the host."""
    if container.get("id") in (None, HOST):
        return None
    return container.get("name") or container["id"][:12]


def peer_name(registry: Registry, ip: str | None, port: int | None, transport: str,
              own: str | None, is_server: bool, host_addresses: Any = None) -> str | None:
    """The container behind a peer address, or None (host, outside, unknown)."""
    if host_addresses is None:
        host_addresses = HOST_ADDRESSES
    if not ip or is_unspecified(ip):
        return None
    if is_loopback(ip):
        return own
    found = registry.by_ip(ip)  # the newest holder: Docker reuses addresses
    if found is None and is_server and port and ip in host_addresses:
        found = registry.by_published_port(transport, port)
    return found.display_name if found is not None else None


def post_enrich(event: dict[str, Any], registry: Registry) -> None:
    """Keep the fields each kind has, set network.type, name both ends."""
    kind = event.get("type")
    if kind not in _NET_KIND_SET:
        return
    network = event.setdefault("network", {})
    if kind != "close":
        for key in CLOSE_ONLY:
            network.pop(key, None)
    if kind in ("bind", "listen"):
        event.pop("destination", None)
        network.pop("direction", None)
    source, destination = event.get("source") or {}, event.get("destination") or {}
    network["type"] = network_type(source.get("ip"), destination.get("ip"))
    name_ends(event, registry)


def name_ends(event: dict[str, Any], registry: Registry, host_addresses: Any = None) -> None:
    """source.container / destination.container: the local end is the event's
    container (source, or destination for an inbound connection)."""
    network = event.get("network") or {}
    own = own_name(event.get("container") or {})
    inbound = network.get("direction") == "inbound"
    local, peer = ("destination", "source") if inbound else ("source", "destination")
    if local in event:
        event[local]["container"] = own
    end = event.get(peer)
    if end is not None:
        end["container"] = peer_name(registry, end.get("ip"), end.get("port"), network.get("transport") or "tcp",
                                     own, is_server=peer == "destination", host_addresses=host_addresses)


def udp_records(entries: list[tuple[tuple[int, bytes, int], tuple[int, int]]],
                container_of: Callable[[int], Container],
                registry: Registry | None = None) -> list[dict[str, Any]]:
    """Kernel map entries → one "udp_peers" record per (container, peer).

    Both directions of a peer merge into one record; sub-cgroups of a
    container merge into the container.  An all-zero peer is "unknown"
    (datagrams of an unconnected socket sent with sendmmsg or read with
    read()/recvmmsg): ip and port null.
    """

    records: dict[tuple[str, str | None, int | None], dict[str, Any]] = {}
    for key, count in entries:  # struct udp_key → struct udp_count
        cgroup_id, raw_peer, port, direction = key["cgroup_id"], key["peer"], key["port"], key["dir"]
        nbytes, packets = count["bytes"], count["packets"]
        container = container_of(cgroup_id)
        known = any(raw_peer)
        ip, peer_port = (format_ip(raw_peer), port) if known else (None, None)
        rec = records.get((container.id, ip, peer_port))
        if rec is None:
            rec = records[(container.id, ip, peer_port)] = {
                "type": "udp_peers", "container": container_fields(container),
                "destination": {"ip": ip, "port": peer_port},
                "bytes_sent": 0, "bytes_received": 0, "packets_sent": 0, "packets_received": 0}
            if registry is not None:
                own = None if container.id == HOST else container.display_name
                rec["destination"]["container"] = peer_name(registry, ip, peer_port, "udp", own, is_server=True)
        suffix = "sent" if direction == UDP_SENT else "received"
        rec[f"bytes_{suffix}"] += nbytes
        rec[f"packets_{suffix}"] += packets
    return sorted(records.values(), key=lambda r: (r["container"]["id"], r["destination"]["ip"] or "",
                                                   r["destination"]["port"] or 0))


def watch_address_owners(obj: Any, registry: Any) -> None:
    """Let the registry ask the kernel's address_owners map (see net.bpf.c)."""
    owners = obj.maps["address_owners"].typed("16s", "<Q")

    def owner_of(ip: str) -> int | None:
        key = address_key(ip)
        if key is None:
            return None
        try:
            return owners.get(key)
        except BpfError:  # the object is closed (the session ended)
            return None

    registry.add_address_owners(owner_of)


def aggregates(obj: Any, registry: Registry) -> list[dict[str, Any]]:
    """UDP peers per container, read from the udp_peers map."""
    entries = obj.maps["udp_peers"].records()
    return udp_records(entries, registry.container_of, registry)
