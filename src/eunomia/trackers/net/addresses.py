"""Addresses of the net tracker: kernel bytes → text, and which addresses
belong to this host.

The kernel side writes every address as 16 bytes in network order, an IPv4
address IPv4-mapped (``::ffff:a.b.c.d``).  A mapped address is an IPv4
connection on the wire — also when a dual-stack AF_INET6 socket made it —
so it is shown as plain IPv4 and its ``network.type`` is ``ipv4``.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from pathlib import Path
from typing import Callable

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_kernel_ip(raw: bytes) -> IpAddress:
    """16 bytes (IPv6 or IPv4-mapped) → the address; mapped ones as IPv4."""
    addr = ipaddress.IPv6Address(bytes(raw[:16]).ljust(16, b"\0"))
    return addr.ipv4_mapped or addr


_FORMATTED: dict[bytes, str] = {}
_FORMATTED_MAX = 4096  # distinct addresses kept; a machine talks to few


def format_ip(raw: bytes) -> str:
    """Formatter of the eun_ip_addr typedef: "10.0.0.2", "::1", "0.0.0.0".

    Every connection event formats two addresses and parsing one costs
    microseconds, so the text is kept per raw value."""
    key = bytes(raw)
    text = _FORMATTED.get(key)
    if text is None:
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        text = _FORMATTED[key] = str(parse_kernel_ip(key))
    return text


def address_key(ip: str) -> bytes | None:
    """An address as the kernel stores it (eun_ip_addr: IPv6, or IPv4-mapped)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv4Address):
        return b"\0" * 10 + b"\xff\xff" + addr.packed
    return addr.packed


def network_type(*ips: str | None) -> str:
    """"ipv6" when any end is an IPv6 address, else "ipv4"."""
    for ip in ips:  # per connection event: a loop, not a generator
        if ip and ":" in ip:
            return "ipv6"
    return "ipv4"


@functools.lru_cache(maxsize=4096)
def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=4096)
def is_unspecified(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_unspecified
    except ValueError:
        return False


def parse_fib_trie(text: str) -> set[str]:
    """IPv4 addresses of this network namespace from /proc/net/fib_trie.

    The trie lists each local address as a leaf ``|-- a.b.c.d`` followed by
    ``/32 host LOCAL``; broadcast and network entries are not LOCAL.
    """
    found: set[str] = set()
    leaf = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            leaf = stripped[3:].strip()
        elif leaf and stripped.startswith("/32") and stripped.endswith("host LOCAL"):
            found.add(leaf)
    return found


def parse_if_inet6(text: str) -> set[str]:
    """IPv6 addresses from /proc/net/if_inet6 (32 hex digits per line)."""
    found: set[str] = set()
    for line in text.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            try:
                found.add(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
            except ValueError:
                continue
    return found


class HostAddresses:
    """The host's own addresses — Docker bridge gateways included, since a
    bridge's gateway is an address of the host's bridge interface.

    Read from /proc (eunomia runs in the host's network namespace) and
    re-read at most every ``ttl`` seconds when an address is not found, so
    networks created while tracing are seen.
    """

    def __init__(self, proc_root: Path = Path("/proc"), ttl: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.proc_root = proc_root
        self.ttl = ttl
        self.clock = clock
        self._addresses: set[str] = set()
        self._read_at: float | None = None

    def _read(self) -> None:
        found: set[str] = set()
        for name, parse in (("fib_trie", parse_fib_trie), ("if_inet6", parse_if_inet6)):
            try:
                found |= parse((self.proc_root / "net" / name).read_text())
            except OSError:
                continue
        self._addresses = found
        self._read_at = self.clock()

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str):
            return False
        if self._read_at is None:
            self._read()
        if ip in self._addresses:
            return True
        if self.clock() - (self._read_at or 0.0) >= self.ttl:
            self._read()
        return ip in self._addresses


# socket(2) families by number (linux/socket.h)
_FAMILIES = {0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET",
             4: "AF_IPX", 5: "AF_APPLETALK", 9: "AF_X25", 15: "AF_KEY", 29: "AF_CAN", 31: "AF_BLUETOOTH",
             38: "AF_ALG", 40: "AF_VSOCK", 44: "AF_XDP"}

def socket_family(number: int) -> str:
    """Formatter of eun_sock_family: "AF_PACKET"; a number without a name stays visible ("AF_99")."""
    return _FAMILIES.get(number, f"AF_{number}")
