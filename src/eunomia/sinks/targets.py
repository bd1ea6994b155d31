"""What the network sinks share: their target URLs and event timestamps."""

from __future__ import annotations

import calendar
import ipaddress
import time
from urllib.parse import urlsplit, SplitResult

from . import SinkSpecError

_SECONDS: dict[str, int] = {}


def event_ns(text: str) -> int:
    """An event's `time` (RFC 3339 UTC with microseconds, 2026-11-28T12:34:55.940756Z) → ns
    since the epoch; seconds are parsed once each (events come in bursts)."""
    prefix = text[:19]
    seconds = _SECONDS.get(prefix)
    if seconds is None:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        seconds = _SECONDS[prefix] = calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S"))
    fraction = text[20:-1] if len(text) > 20 and text[19] == "." else ""
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9] or 0)


def parse_url(kind: str, target: str, schemes: tuple[str, ...], usage: str,
              default_port: int | None = None) -> SplitResult:
    """A sink's URL, checked: one of `schemes`, a host, a port."""
    url = urlsplit(target)
    if url.scheme not in schemes or not url.hostname:
        raise SinkSpecError(f"--sink {kind}:{target}: give {kind}:{usage}")
    try:
        port = url.port
    except ValueError:
        raise SinkSpecError(f"--sink {kind}:{target}: the port must be 1–65535") from None
    if port is None and default_port is None:
        raise SinkSpecError(f"--sink {kind}:{target}: give the port, {kind}:{usage}")
    if url.hostname != "localhost":
        try:
            ipaddress.ip_address(url.hostname)
        except ValueError:
            pass  # a name: resolved when connecting
    return url
