"""influxdb: events as points of the InfluxDB line protocol (1.x /write API).

`influxdb:http://127.0.0.1:8086/eunomia` writes to database `eunomia`
(which must exist) with nanosecond timestamps, in batches.  One point per
event, measurement `eunomia_event`:

    eunomia_event,container=web,container_id=3f4e5a6b7c8d,image=nginx:1.27,type=exec pid=4242i,ppid=1i,uid=0i,process="sh",executable="/bin/sh",result="0",json="{…}" 1764333295940756000

tags: the container and the event type (bounded); fields: who did it, the
result, the event's main object (path, peer, signal, capability) and the
whole event as JSON.  The summary line at the end is not a point.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import orjson

from ..eventpath import event_ns, value_at

from . import SinkSpecError
from .queued import QueuedSink
from .targets import parse_url, post

KIND = "influxdb"
USAGE = "http://HOST:PORT/DATABASE (InfluxDB 1.x line protocol)"
MEASUREMENT = b"eunomia_event"
# field name → the event's value at this path
FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pid", ("process", "pid")), ("ppid", ("process", "parent", "pid")), ("uid", ("user", "id")),
    ("process", ("process", "name")), ("executable", ("process", "executable")), ("result", ("result",)),
    ("path", ("file", "path")), ("destination_ip", ("destination", "ip")),
    ("destination_port", ("destination", "port")), ("destination_container", ("destination", "container")),
    ("signal", ("signal", "name")), ("capability", ("capability", "name")),
)
_INT_FIELDS = frozenset(("pid", "ppid", "uid", "destination_port"))


def _tag(value: Any) -> bytes:
    """A tag value: commas, equals signs and spaces escaped; never empty."""
    text = str(value) if value not in (None, "") else "-"
    text = text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
    return text.replace("\n", "\\n").encode("utf-8", "backslashreplace")


def _string(value: Any) -> bytes:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return b'"' + text.encode("utf-8", "backslashreplace") + b'"'


def point(event: dict[str, Any], last: dict[bytes, int] | None = None) -> bytes | None:
    """One event as a line of the line protocol; None for what is not an event.

    InfluxDB keeps one point per (series, timestamp): a second event of a
    series in the same microsecond would replace the first.  With `last`
    (series → its last timestamp), a timestamp that would not go forward is
    made the last one + 1 ns (the `json` field keeps the real time)."""
    container, when = event.get("container"), event.get("time")
    if not isinstance(container, dict) or not isinstance(when, str):
        return None
    cid = str(container.get("id") or "")[:12]
    tags = b",container=%s,container_id=%s,image=%s,type=%s" % (
        _tag(container.get("name") or cid), _tag(cid), _tag(container.get("image")), _tag(event.get("type")))
    fields = []
    for name, path in FIELDS:
        value = value_at(event, path)
        if value is None:
            continue
        if name in _INT_FIELDS and isinstance(value, int):
            fields.append(b"%s=%di" % (name.encode(), value))
        else:
            fields.append(name.encode() + b"=" + _string(value))
    fields.append(b"json=" + _string(orjson.dumps(event).decode()))
    ns = event_ns(when)
    if last is not None:
        previous = last.get(tags)
        if previous is not None and ns <= previous:
            ns = previous + 1
        last[tags] = ns
        if len(last) > 100_000:
            last.clear()
    return MEASUREMENT + tags + b" " + b",".join(fields) + b" %d" % ns


class InfluxSink(QueuedSink):
    name = KIND

    def __init__(self, base: str, database: str, **options: Any) -> None:
        self.write_url = f"{base}/write?" + urllib.parse.urlencode({"db": database, "precision": "ns"})
        self._last: dict[bytes, int] = {}  # series → last timestamp (the worker thread's)
        super().__init__(**options)

    def encode(self, event: dict[str, Any]) -> bytes | None:
        return point(event, self._last)

    def deliver(self, items: list[bytes]) -> None:
        post(self.write_url, b"\n".join(items) + b"\n", "text/plain; charset=utf-8", "influxdb")


def open_target(target: str) -> InfluxSink:
    url = parse_url(KIND, target, ("http", "https"), USAGE, default_port=8086)
    database = url.path.strip("/")
    if not database or "/" in database:
        raise SinkSpecError(f"--sink {KIND}:{target}: name the database: {KIND}:{USAGE}")
    return InfluxSink(f"{url.scheme}://{url.netloc}", database)
