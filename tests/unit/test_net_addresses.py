"""Address decoding of the net tracker (eunomia.trackers.net.addresses)."""

from __future__ import annotations

import ipaddress

import pytest

from eunomia.trackers.net.addresses import (
    HostAddresses,
    format_ip,
    is_loopback,
    network_type,
    parse_fib_trie,
    parse_if_inet6,
)


def mapped(v4: str) -> bytes:
    return b"\0" * 10 + b"\xff\xff" + ipaddress.IPv4Address(v4).packed


@pytest.mark.parametrize(("raw", "text"), [
    (mapped("172.18.0.2"), "172.18.0.2"),          # IPv4 travels IPv4-mapped
    (mapped("0.0.0.0"), "0.0.0.0"),                # INADDR_ANY of an AF_INET socket
    (mapped("127.0.0.1"), "127.0.0.1"),
    (ipaddress.IPv6Address("::1").packed, "::1"),
    (b"\0" * 16, "::"),                            # in6addr_any
    (ipaddress.IPv6Address("fd00::2").packed, "fd00::2"),
    (ipaddress.IPv6Address("2001:db8::ffff:1").packed, "2001:db8::ffff:1"),  # not a mapped one
])
def test_format_ip(raw, text):
    assert format_ip(raw) == text


def test_format_ip_accepts_memoryview():
    assert format_ip(memoryview(mapped("10.1.2.3"))) == "10.1.2.3"


@pytest.mark.parametrize(("ips", "expected"), [
    (("10.0.0.1", "10.0.0.2"), "ipv4"),
    (("::1", "::1"), "ipv6"),
    (("0.0.0.0", None), "ipv4"),                   # bind: no destination
    (("::", None), "ipv6"),
    (("fd00::1", "10.0.0.1"), "ipv6"),
])
def test_network_type(ips, expected):
    assert network_type(*ips) == expected


@pytest.mark.parametrize(("ip", "expected"), [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True),
    ("10.0.0.1", False), ("::", False), ("not an address", False),
])
def test_is_loopback(ip, expected):
    assert is_loopback(ip) is expected


FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 4
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.16.0.0/15 2 0 2
           |-- 172.17.0.0
              /16 link UNICAST
           |-- 172.17.0.1
              /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
"""


def test_parse_fib_trie_keeps_local_host_addresses_only():
    # bridge gateways (172.17.0.1) are host addresses; networks and broadcasts are not
    assert parse_fib_trie(FIB_TRIE) == {"127.0.0.1", "172.17.0.1"}


def test_parse_if_inet6():
    text = ("00000000000000000000000000000001 01 80 10 80       lo\n"
            "fd000000000000000000000000000002 04 40 00 82     eth0\n"
            "garbage\n")
    assert parse_if_inet6(text) == {"::1", "fd00::2"}


def test_host_addresses_reread_after_ttl(tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    (net / "fib_trie").write_text(FIB_TRIE)
    (net / "if_inet6").write_text("")
    now = [0.0]
    host = HostAddresses(tmp_path, ttl=2.0, clock=lambda: now[0])
    assert "172.17.0.1" in host
    assert "172.30.0.1" not in host
    # a network created while tracing: seen once the cache is older than the ttl
    (net / "fib_trie").write_text(FIB_TRIE + "           |-- 172.30.0.1\n              /32 host LOCAL\n")
    now[0] = 1.0
    assert "172.30.0.1" not in host
    now[0] = 3.0
    assert "172.30.0.1" in host
    assert 42 not in host


def test_host_addresses_without_proc(tmp_path):
    assert "127.0.0.1" not in HostAddresses(tmp_path)


def test_address_key_is_the_kernels_eun_ip_addr():
    from eunomia.trackers.net.addresses import format_ip
    from eunomia.trackers.net.addresses import address_key

    assert address_key("172.18.0.5") == bytes(10) + b"\xff\xff" + bytes([172, 18, 0, 5])
    assert address_key("fd00::2") == bytes([0xfd]) + bytes(14) + b"\x02"
    assert address_key("not an address") is None
    for ip in ("172.18.0.5", "fd00::2", "::1"):
        assert format_ip(address_key(ip)) == ip
