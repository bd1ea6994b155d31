"""The live stream of events and alerts: from the pump's thread to every
subscriber's queue on the server's event loop.

    sub = feed.subscribe(loop, containers={"web"}, types={"open", "alert"})
    feed.publish(event)           # the pump, per event: a list append, only while someone listens
    feed.flush()                  # the pump, after each poll: one JSON encoding per item, one wake-up per subscriber
    line = await sub.queue.get()  # b"event: open\\ndata: {...}\\n\\n" (Server-Sent Events), None at the end

A subscriber that reads too slowly is not waited for: what its queue cannot
hold is counted, and it is told how many it missed (an `event: dropped`).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

QUEUE_LINES = 10000   # per subscriber: what a slow reader may fall behind by


@dataclass(eq=False)
class Subscription:
    loop: asyncio.AbstractEventLoop
    containers: frozenset[str] = frozenset()   # names, ids or id prefixes; empty: every container
    types: frozenset[str] = frozenset()        # event types, "alert" for alerts; empty: every one
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LINES))
    dropped: int = 0

    def wants(self, item: dict[str, Any]) -> bool:
        if self.types and item.get("type") not in self.types:
            return False
        if not self.containers:
            return True
        container = item.get("container") or {}
        name, cid = container.get("name"), container.get("id") or ""
        return any(ref == name or cid.startswith(ref) for ref in self.containers)

    def deliver(self, lines: list[bytes | None]) -> None:
        """On the server's loop: into the queue, counting what does not fit."""
        queue = self.queue
        if self.dropped and queue.qsize() < queue.maxsize:
            queue.put_nowait(b"event: dropped\ndata: {\"dropped\": %d}\n\n" % self.dropped)
            self.dropped = 0
        for line in lines:
            try:
                queue.put_nowait(line)
            except asyncio.QueueFull:
                if line is None:  # the end always gets through
                    queue.get_nowait()
                    queue.put_nowait(None)
                else:
                    self.dropped += 1


class Feed:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self.closed = False

    def subscribe(self, loop: asyncio.AbstractEventLoop, containers: frozenset[str] = frozenset(),
                  types: frozenset[str] = frozenset()) -> Subscription:
        sub = Subscription(loop, containers, types)
        with self._lock:
            if self.closed:
                sub.queue.put_nowait(None)
            else:
                self._subscriptions = [*self._subscriptions, sub]
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not sub]

    @property
    def listened(self) -> bool:
        return bool(self._subscriptions)

    def publish(self, item: dict[str, Any]) -> None:
        """An event or an alert (its `type` is "alert"), kept till the next flush."""
        if self._subscriptions:
            self._pending.append(item)

    def flush(self) -> None:
        """What was published since the last flush, to whoever wants it."""
        pending, self._pending = self._pending, []
        subscriptions = self._subscriptions
        if not pending or not subscriptions:
            return
        lines: dict[Subscription, list[bytes | None]] = {sub: [] for sub in subscriptions}
        for item in pending:
            encoded: bytes | None = None
            for sub in subscriptions:
                if sub.wants(item):
                    if encoded is None:
                        kind = b"alert" if item.get("type") == "alert" else b"event"
                        encoded = b"event: %s\ndata: %s\n\n" % (kind, orjson.dumps(item, default=str))
                    lines[sub].append(encoded)
        for sub, out in lines.items():
            if out:
                _call(sub, out)

    def close(self) -> None:
        """Every stream ends (the server is stopping)."""
        with self._lock:
            self.closed = True
            subscriptions, self._subscriptions = self._subscriptions, []
        for sub in subscriptions:
            _call(sub, [None])


def _call(sub: Subscription, lines: list[bytes | None]) -> None:
    try:
        sub.loop.call_soon_threadsafe(sub.deliver, lines)
    except RuntimeError:  # its loop has closed: the server is gone
        pass
