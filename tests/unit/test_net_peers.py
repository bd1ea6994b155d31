"""Container names at both ends of a connection, and UDP peer records
(eunomia.trackers.net.peers)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from eunomia.context.model import HOST, HOST_CONTAINER, Container
from eunomia.context.registry import ADDRESS_GRACE_SECONDS, ContainerRegistry
from eunomia.trackers.net import TRACKER
from eunomia.trackers.net.peers import (
    UDP_RECEIVED,
    UDP_SENT,
    name_ends,
    post_enrich,
    udp_records,
)

WEB = Container(id="a" * 64, runtime="docker", name="web", ips=["172.30.0.2"],
                published={("tcp", 18080): 8080, ("udp", 15353): 53})
CLIENT = Container(id="b" * 64, runtime="docker", name="client", ips=["172.30.0.3", "fd00:30::3"])
NAMELESS = Container(id="c" * 64, runtime="docker", ips=["172.30.0.4"])
GATEWAY = "172.30.0.1"


class FakeRegistry:
    def __init__(self, *containers: Container) -> None:
        self.known = containers

    def by_ip(self, ip: str) -> Container | None:
        return next((c for c in self.known if ip in c.ips), None)

    def by_published_port(self, transport: str, port: int) -> Container | None:
        return next((c for c in self.known if (transport, port) in c.published), None)

    def containers(self) -> list[Container]:
        return list(self.known)

    def container_of(self, cgroup_id: int) -> Container:
        return {1: WEB, 2: CLIENT}.get(cgroup_id, HOST_CONTAINER)


REGISTRY = FakeRegistry(WEB, CLIENT, NAMELESS)


def container(c: Container) -> dict[str, Any]:
    return {"id": c.id, "name": c.name}


def event(kind: str, own: Container, source: tuple[str, int], destination: tuple[str, int] | None,
          direction: str | None = "outbound", transport: str = "tcp") -> dict[str, Any]:
    network: dict[str, Any] = {"transport": transport, "bytes_sent": 5, "bytes_received": 6, "duration_ms": 1.0}
    if direction:
        network["direction"] = direction
    e: dict[str, Any] = {"type": kind, "container": container(own), "result": 0, "network": network,
                         "source": {"ip": source[0], "port": source[1]}}
    if destination:
        e["destination"] = {"ip": destination[0], "port": destination[1]}
    return e


@pytest.fixture(autouse=True)
def host_addresses(monkeypatch):
    monkeypatch.setattr("eunomia.trackers.net.peers.HOST_ADDRESSES", {GATEWAY, "192.0.2.2", "127.0.0.1"})


def test_connect_to_container_on_shared_network():
    e = event("connect", CLIENT, ("172.30.0.3", 40000), ("172.30.0.2", 8080))
    post_enrich(e, REGISTRY)
    assert e["source"]["container"] == "client"
    assert e["destination"]["container"] == "web"
    assert e["network"] == {"transport": "tcp", "direction": "outbound", "type": "ipv4"}  # no bytes on connect


def test_accept_names_the_client_as_source():
    e = event("accept", WEB, ("172.30.0.3", 40000), ("172.30.0.2", 8080), direction="inbound")
    post_enrich(e, REGISTRY)
    assert (e["source"]["container"], e["destination"]["container"]) == ("client", "web")


def test_close_keeps_bytes_and_duration():
    e = event("close", WEB, ("172.30.0.3", 40000), ("172.30.0.2", 8080), direction="inbound")
    post_enrich(e, REGISTRY)
    assert e["network"]["bytes_sent"] == 5 and e["network"]["bytes_received"] == 6
    assert e["network"]["duration_ms"] == 1.0
    assert e["destination"]["container"] == "web"


def test_published_port_through_the_gateway():
    e = event("connect", CLIENT, ("172.30.0.3", 40000), (GATEWAY, 18080))
    post_enrich(e, REGISTRY)
    assert e["destination"]["container"] == "web"


def test_host_address_as_client_is_not_a_container():
    # docker-proxy (a host process) connects to the container for a published port
    e = event("accept", WEB, (GATEWAY, 18080), ("172.30.0.2", 8080), direction="inbound")
    post_enrich(e, REGISTRY)
    assert e["source"]["container"] is None
    assert e["destination"]["container"] == "web"


def test_unpublished_port_on_host_address():
    e = event("connect", CLIENT, ("172.30.0.3", 40000), (GATEWAY, 22))
    post_enrich(e, REGISTRY)
    assert e["destination"]["container"] is None


def test_published_port_needs_matching_transport():
    e = event("connect", CLIENT, ("172.30.0.3", 40000), (GATEWAY, 15353))
    post_enrich(e, REGISTRY)
    assert e["destination"]["container"] is None


def test_loopback_is_the_same_container():
    e = event("connect", CLIENT, ("::1", 40000), ("::1", 9000))
    post_enrich(e, REGISTRY)
    assert e["source"]["container"] == e["destination"]["container"] == "client"
    assert e["network"]["type"] == "ipv6"


def test_loopback_of_the_host_names_nothing():
    host = Container(id=HOST)
    e = event("connect", host, ("127.0.0.1", 40000), ("127.0.0.1", 8080))
    post_enrich(e, REGISTRY)
    assert e["source"]["container"] is None and e["destination"]["container"] is None


def test_outside_address_is_unnamed():
    e = event("connect", CLIENT, ("172.30.0.3", 40000), ("198.51.100.7", 443))
    post_enrich(e, REGISTRY)
    assert e["destination"]["container"] is None


def test_ipv6_peer_by_address():
    e = event("accept", WEB, ("fd00:30::3", 40000), ("fd00:30::2", 8080), direction="inbound")
    post_enrich(e, REGISTRY)
    assert e["source"]["container"] == "client"
    assert e["network"]["type"] == "ipv6"


def test_container_without_name_is_named_by_short_id():
    e = event("connect", CLIENT, ("172.30.0.3", 40000), ("172.30.0.4", 80))
    post_enrich(e, REGISTRY)
    assert e["destination"]["container"] == "c" * 12


def test_reused_address_names_the_newest_holder():
    # an exited container keeps its record (and, until Docker's die event
    # arrives, its address) in the registry; the newest holder wins
    now = [1000.0]
    registry = ContainerRegistry([], clock=lambda: now[0])
    registry.add_container(Container(id="d" * 64, runtime="docker", name="gone", ips=["172.30.0.9"]))
    registry.add_container(Container(id="e" * 64, runtime="docker", name="now", ips=["172.30.0.9"]))
    e = event("connect", CLIENT, ("172.30.0.3", 40000), ("172.30.0.9", 80))
    post_enrich(e, registry)
    assert e["destination"]["container"] == "now"
    registry.forget_addresses("e" * 64)  # "now" died: its late events still name it, briefly
    registry.forget_addresses("d" * 64)
    e = event("connect", CLIENT, ("172.30.0.3", 40000), ("172.30.0.9", 80))
    post_enrich(e, registry)
    assert e["destination"]["container"] == "now"
    now[0] += ADDRESS_GRACE_SECONDS  # then the address names nobody known
    e = event("connect", CLIENT, ("172.30.0.3", 40000), ("172.30.0.9", 80))
    post_enrich(e, registry)
    assert e["destination"]["container"] is None
    registry.add_container(Container(id="f" * 64, runtime="docker", name="next", ips=["172.30.0.9"]))
    e = event("connect", CLIENT, ("172.30.0.3", 40000), ("172.30.0.9", 80))
    post_enrich(e, registry)
    assert e["destination"]["container"] == "next"


@pytest.mark.parametrize("kind", ["bind", "listen"])
def test_bind_and_listen_have_only_the_local_end(kind):
    e = event(kind, WEB, ("0.0.0.0", 8080), None, direction="none")
    e["destination"] = {"ip": "::", "port": 0}
    post_enrich(e, REGISTRY)
    assert "destination" not in e
    assert e["source"] == {"ip": "0.0.0.0", "port": 8080, "container": "web"}
    assert e["network"] == {"transport": "tcp", "type": "ipv4"}


def test_other_trackers_events_are_left_alone():
    e = {"type": "exec", "container": container(WEB)}
    post_enrich(e, REGISTRY)
    assert e == {"type": "exec", "container": container(WEB)}


def test_name_ends_with_explicit_host_addresses():
    e = event("connect", CLIENT, ("172.30.0.3", 40000), ("192.0.2.99", 18080))
    name_ends(e, REGISTRY, host_addresses={"192.0.2.99"})
    assert e["destination"]["container"] == "web"


def raw(ip: str) -> bytes:
    addr = ipaddress.ip_address(ip)
    return addr.packed if addr.version == 6 else b"\0" * 10 + b"\xff\xff" + addr.packed


def udp_entry(cgroup_id: int, peer: bytes, port: int, direction: int, nbytes: int, packets: int):
    """One udp_peers entry as Map.records() decodes it (struct udp_key → struct udp_count)."""
    return ({"cgroup_id": cgroup_id, "peer": peer, "port": port, "dir": direction, "pad": b"\0" * 5},
            {"bytes": nbytes, "packets": packets})


def test_udp_records_merge_directions_and_name_peers():
    entries = [
        udp_entry(2, raw("172.30.0.2"), 53, UDP_SENT, 100, 2),
        udp_entry(2, raw("172.30.0.2"), 53, UDP_RECEIVED, 300, 2),
        udp_entry(2, b"\0" * 16, 0, UDP_SENT, 7, 1),           # peer unknown
        udp_entry(1, raw("::1"), 5353, UDP_RECEIVED, 40, 1),
    ]
    records = udp_records(entries, REGISTRY.container_of, REGISTRY)
    by_key = {(r["container"]["name"], r["destination"]["ip"], r["destination"]["port"]): r for r in records}
    dns = by_key[("client", "172.30.0.2", 53)]
    assert dns["type"] == "udp_peers"
    assert (dns["bytes_sent"], dns["bytes_received"], dns["packets_sent"], dns["packets_received"]) == (100, 300, 2, 2)
    assert dns["destination"]["container"] == "web"
    unknown = by_key[("client", None, None)]
    assert unknown["bytes_sent"] == 7 and unknown["destination"]["container"] is None
    assert by_key[("web", "::1", 5353)]["destination"]["container"] == "web"  # loopback: itself
    assert len(records) == 3


def test_udp_records_without_registry_have_no_peer_names():
    records = udp_records([udp_entry(2, raw("172.30.0.2"), 53, UDP_SENT, 1, 1)], REGISTRY.container_of)
    assert "container" not in records[0]["destination"]


def test_tracker_declares_the_address_formatter():
    assert TRACKER.formatters["eun_ip_addr"](raw("10.0.0.1")) == "10.0.0.1"
    assert TRACKER.fields["saddr"] == "source.ip" and TRACKER.fields["dport"] == "destination.port"
