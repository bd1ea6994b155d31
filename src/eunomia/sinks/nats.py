"""nats: each event published to a NATS subject per container.

`nats:nats://127.0.0.1:4222` publishes to `eunomia.events.<container>`
(`nats://HOST:PORT/PREFIX` for another prefix): subscribers pick a
container, or all with `eunomia.events.>`.  The container's name is made a
subject token (what is not a letter, digit, `-` or `_` becomes `_`); the
host's processes publish to `….host`.  A fleet of nodes shares one bus.

The client is NATS's text protocol (CONNECT, PUB, PING/PONG) on a plain
socket: after each batch a PING must come back as PONG, so a batch that the
server refused (an -ERR) is known and retried.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import orjson

from .. import __version__
from . import SinkSpecError
from .queued import DeliveryError, SocketSink
from .targets import parse_url

KIND = "nats"
USAGE = "nats://HOST:PORT[/SUBJECT_PREFIX] (subject PREFIX.<container>, default eunomia.events)"
DEFAULT_PREFIX = "eunomia.events"
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


def subject_token(name: str | None) -> str:
    return _NOT_TOKEN.sub("_", name or "")[:128] or "_"


class NatsSink(SocketSink):
    name = KIND

    def __init__(self, host: str, port: int, prefix: str, **options: Any) -> None:
        self.address, self.prefix = (host, port), prefix
        self._pending = b""
        super().__init__(**options)

    def encode(self, event: dict[str, Any]) -> bytes:
        container = event.get("container") or {}
        cid = str(container.get("id") or "")
        token = "host" if cid == "host" else subject_token(container.get("name") or cid[:12] or "eunomia")
        payload = orjson.dumps(event)
        return b"PUB %s.%s %d\r\n%s\r\n" % (self.prefix.encode(), token.encode(), len(payload), payload)

    def _line(self, sock: socket.socket) -> bytes:
        while b"\r\n" not in self._pending:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("the server closed the connection")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\r\n", 1)
        return line

    def new_socket(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=5.0)

    def handshake(self, sock: socket.socket) -> None:
        self._pending = b""
        if not self._line(sock).startswith(b"INFO "):
            raise OSError("not a NATS server")
        options = {"verbose": False, "pedantic": False, "name": "eunomia", "lang": "python",
                   "version": __version__, "protocol": 1}
        sock.sendall(b"CONNECT " + orjson.dumps(options) + b"\r\n")

    def deliver(self, items: list[bytes]) -> None:
        try:
            sock = self.connected()
            sock.sendall(b"".join(items) + b"PING\r\n")
            while True:
                line = self._line(sock)
                if line == b"PONG":
                    return
                if line == b"PING":
                    sock.sendall(b"PONG\r\n")
                elif line.startswith(b"-ERR"):
                    raise OSError(line.decode(errors="replace"))
        except OSError as exc:
            raise DeliveryError(f"nats://{self.address[0]}:{self.address[1]}: {exc.strerror or exc}") from None



def open_target(target: str) -> NatsSink:
    url = parse_url(KIND, target, ("nats",), USAGE, default_port=4222)
    assert url.hostname is not None
    prefix = url.path.strip("/").replace("/", ".") or DEFAULT_PREFIX
    if not all(_NOT_TOKEN.sub("", part) == part and part for part in prefix.split(".")):
        raise SinkSpecError(f"--sink {KIND}:{target}: the subject prefix takes letters, digits, - and _ "
                            "between dots")
    return NatsSink(url.hostname, url.port or 4222, prefix)
