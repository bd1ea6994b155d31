"""loki: events pushed to Grafana Loki (POST /loki/api/v1/push), in batches.

`loki:http://127.0.0.1:3100`.  Streams are labelled `source="eunomia"`,
`container` (its name, the short id while unnamed, `host`) and `type` (the
event type): bounded, as Loki wants.  A line is the event as JSON, its
timestamp the event's `time` in nanoseconds.  Loki refuses an entry older
than the last one of its stream (without unordered writes): events from
different CPUs can be a few µs out of order, so within a stream a timestamp
that would go back is set to the last one + 1 ns (the line keeps the real
`time`).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..eventpath import event_ns
from .queued import QueuedSink
from .targets import parse_url, post

KIND = "loki"
USAGE = "http(s)://HOST:PORT (Loki's push API)"
PUSH_PATH = "/loki/api/v1/push"

Stream = tuple[str, str]  # (container, type)


class LokiSink(QueuedSink):
    name = KIND

    def __init__(self, base: str, **options: Any) -> None:
        self.push_url = base.rstrip("/") + PUSH_PATH
        self._last: dict[Stream, int] = {}  # worker thread only
        super().__init__(**options)

    def encode(self, event: dict[str, Any]) -> tuple[Stream, int, str] | None:
        when = event.get("time")
        container = event.get("container")
        if not isinstance(when, str) or not isinstance(container, dict):
            return None  # the summary: not a log line of a container
        cid = str(container.get("id") or "")
        name = "host" if cid == "host" else (container.get("name") or cid[:12])
        return (name, str(event.get("type"))), event_ns(when), orjson.dumps(event).decode()

    def deliver(self, items: list[tuple[Stream, int, str]]) -> None:
        streams: dict[Stream, list[list[str]]] = {}
        last = dict(self._last)
        for stream, ns, line in items:
            previous = last.get(stream)
            if previous is not None and ns <= previous:
                ns = previous + 1
            last[stream] = ns
            streams.setdefault(stream, []).append([str(ns), line])
        body = orjson.dumps({"streams": [
            {"stream": {"source": "eunomia", "container": container, "type": kind}, "values": values}
            for (container, kind), values in streams.items()]})
        post(self.push_url, body, "application/json", "loki", retry_codes=(408, 429))
        self._last = last  # only once Loki took them
        if len(self._last) > 10000:
            self._last.clear()


def open_target(target: str) -> LokiSink:
    url = parse_url(KIND, target, ("http", "https"), USAGE, default_port=3100)
    return LokiSink(f"{url.scheme}://{url.netloc}{url.path}")
