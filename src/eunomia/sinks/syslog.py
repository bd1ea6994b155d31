"""syslog: one RFC 5424 message per event, over UDP or TCP.

`syslog:udp://127.0.0.1:514` or `syslog:tcp://127.0.0.1:514`.  A message:

    <134>1 2026-11-28T12:34:55.940756Z node1 eunomia 4242 exec [eunomia@32473 container="web" container_id="3f4e5a6b7c8d" image="nginx:1.27"] {"time":…}

facility local0, severity info (PRI 134); MSGID the event type; the
structured data names the container (32473 is the enterprise number set
aside for examples, RFC 5612); MSG the event as JSON (control characters
escaped by JSON, so a message is one line).  Over TCP, messages are framed
by octet counting (RFC 6587 3.4.1).  UDP datagrams over 64 KiB are cut.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from typing import Any

import orjson

from .queued import DeliveryError, SocketSink
from .targets import parse_url

KIND = "syslog"
USAGE = "udp://HOST:PORT or tcp://HOST:PORT (RFC 5424 messages)"
FACILITY_LOCAL0, SEVERITY_INFO = 16, 6
ENTERPRISE = 32473
MAX_DATAGRAM = 65000
_NOT_PRINTUSASCII = re.compile(rb"[^\x21-\x7e]")


def _printusascii(text: str, limit: int) -> bytes:
    return _NOT_PRINTUSASCII.sub(b"_", text.encode("ascii", "replace"))[:limit] or b"-"


def _param(value: Any) -> bytes:
    """An SD-PARAM value: UTF-8 with \\, " and ] escaped (RFC 5424 6.3.3)."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]").encode("utf-8", "backslashreplace")


class SyslogSink(SocketSink):
    name = KIND

    def __init__(self, transport: str, host: str, port: int, **options: Any) -> None:
        self.transport, self.address = transport, (host, port)
        self.hostname = _printusascii(platform.node(), 255)
        self.header_tail = b" eunomia " + str(os.getpid()).encode() + b" "
        super().__init__(**options)

    def encode(self, event: dict[str, Any]) -> bytes:
        pri = FACILITY_LOCAL0 * 8 + SEVERITY_INFO
        when = event.get("time") or "-"
        container = event.get("container") or {}
        sd = b"-"
        if container:
            cid = str(container.get("id") or "")[:12]
            sd = (b"[eunomia@%d container=\"%s\" container_id=\"%s\" image=\"%s\"]"
                  % (ENTERPRISE, _param(container.get("name") or cid), _param(cid), _param(container.get("image"))))
        return (b"<%d>1 %s %s%s%s %s " % (pri, _printusascii(when, 64), self.hostname, self.header_tail,
                                          _printusascii(str(event.get("type")), 32), sd)) + orjson.dumps(event)

    def new_socket(self) -> socket.socket:
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        return socket.socket(socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET, kind)

    def handshake(self, sock: socket.socket) -> None:
        sock.settimeout(5.0)
        sock.connect(self.address)

    def deliver(self, items: list[bytes]) -> None:
        try:
            sock = self.connected()
            if self.transport == "udp":
                for message in items:
                    sock.send(message[:MAX_DATAGRAM])
            else:
                sock.sendall(b"".join(b"%d %s" % (len(m), m) for m in items))
        except OSError as exc:
            raise DeliveryError(f"syslog {self.transport}://{self.address[0]}:{self.address[1]}: "
                                f"{exc.strerror or exc}") from None



def open_target(target: str) -> SyslogSink:
    url = parse_url(KIND, target, ("udp", "tcp"), USAGE)
    assert url.hostname is not None and url.port is not None
    return SyslogSink(url.scheme, url.hostname, url.port)
