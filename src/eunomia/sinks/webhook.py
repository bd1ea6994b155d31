"""webhook: events POSTed as JSON arrays, in batches, to an HTTP(S) endpoint.

`webhook:http://127.0.0.1:8080/events` — each POST carries up to 500 events
(`[{…}, {…}]`, Content-Type application/json); a 5xx answer, a timeout or
a refused connection is retried with backoff, a 4xx (other than 408/429)
is not.  The queue is bounded: what does not fit is counted (queued.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from .queued import QueuedSink
from .targets import parse_url, post, shown

KIND = "webhook"
USAGE = "http(s)://HOST[:PORT]/PATH (JSON arrays of events, POSTed in batches)"


class WebhookSink(QueuedSink):
    name = KIND

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        super().__init__(**options)

    def encode(self, event: dict[str, Any]) -> bytes:
        return orjson.dumps(event)

    def deliver(self, items: list[bytes]) -> None:
        post(self.url, b"[" + b",".join(items) + b"]", "application/json", f"webhook {shown(self.url)}")


def open_target(target: str) -> WebhookSink:
    parse_url(KIND, target, ("http", "https"), USAGE, default_port=80)
    return WebhookSink(target)
