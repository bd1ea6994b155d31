"""Names of addresses for Falco's fd.sip.name, fd.cip.name, fd.rip.name, fd.lip.name.

Falco answers these by resolving the names that rules compare them with
and matching the event's address against the answers.  So does this: the
engine hands over every name its rules mention, and an address is named by
those whose answers hold it.  Resolution never runs on the event path:

    hosts  the host's /etc/hosts, read again when it changes (the default:
           no query leaves the machine)
    dns    the system resolver (getaddrinfo), in a background thread, each
           name again every `ttl` seconds; until the first answer a name
           names nothing
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

MODES = ("hosts", "dns")
HOSTS = Path("/etc/hosts")


def read_hosts(path: Path) -> dict[str, set[str]]:
    """name (lower case) → addresses, from a hosts file; unreadable: none."""
    found: dict[str, set[str]] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return found
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            for name in fields[1:]:
                found.setdefault(name.lower(), set()).add(fields[0])
    return found


def _system_resolve(name: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
    except (OSError, UnicodeError):
        return set()


class NameResolver:
    def __init__(self, mode: str = "hosts", hosts: Path = HOSTS, ttl: float = 60.0,
                 resolve: Callable[[str], set[str]] = _system_resolve,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown name resolution {mode!r}; choose from {', '.join(MODES)}")
        self.mode, self.hosts, self.ttl, self._resolve, self.clock = mode, hosts, ttl, resolve, clock
        self._names: set[str] = set()
        self._by_address: dict[str, list[str]] = {}
        self._hosts_stamp: tuple[float, int] | None = None
        self._published_for: frozenset[str] = frozenset()
        self._next_look = 0.0                  # hosts: its stat is looked at once a second at most
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def watch(self, names: Iterable[str]) -> None:
        """The names the rules compare addresses with."""
        self._names |= {n.lower() for n in names}
        if self.mode == "dns" and self._names and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="name-resolver", daemon=True)
            self._thread.start()

    def names_of(self, address: str | None) -> list[str]:
        """The watched names whose addresses hold this one."""
        if address is None or not self._names:
            return []
        if self.mode == "hosts":
            self._reread_hosts()
        return self._by_address.get(address, [])

    def _reread_hosts(self) -> None:
        now = self.clock()
        if now < self._next_look and self._published_for == self._names:
            return
        self._next_look = now + 1.0
        try:
            stat = self.hosts.stat()
            stamp: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
        except OSError:
            stamp = None
        if stamp == self._hosts_stamp and self._published_for == self._names:
            return
        self._hosts_stamp, self._published_for = stamp, frozenset(self._names)
        table = read_hosts(self.hosts)
        self._publish({name: table.get(name, set()) for name in self._names})

    def _publish(self, answers: dict[str, set[str]]) -> None:
        by_address: dict[str, list[str]] = {}
        for name, addresses in sorted(answers.items()):
            for address in addresses:
                by_address.setdefault(address, []).append(name)
        with self._lock:
            self._by_address = by_address

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._publish({name: self._resolve(name) for name in sorted(self._names)})
            self._stop.wait(self.ttl)

    def close(self) -> None:
        self._stop.set()
