"""Delivery off the event path: a bounded queue and one worker thread per sink.

The pump only encodes an event and appends it (`write`); the worker takes
what is queued in batches and hands each batch to the sink's `deliver`.
A failed batch is retried with exponential backoff, then given up and
counted; a full queue (the far end slower than the events) counts what did
not fit.  Nothing here ever blocks the pump or raises into it: a sink that
is down or slow costs the agent nothing but the count of what it missed,
reported at the end (`undelivered`, `error`).
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """One delivery failed; `retry` False when trying again cannot help (a 4xx answer)."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class QueuedSink:
    """Base of the network sinks.  A subclass gives `encode(event) -> item`
    (None: not for this sink) and `deliver(items)`, and may keep a connection
    between deliveries.  Events are encoded on the worker thread: the pump
    only appends them (nothing changes an event once it is emitted)."""

    name = "sink"

    def __init__(self, *, max_queue: int = 10000, batch: int = 500, interval: float = 0.5,
                 retries: int = 3, backoff: float = 0.5, close_timeout: float = 5.0,
                 sleep: Callable[[float], Any] | None = None) -> None:
        self.max_queue, self.batch, self.interval = max_queue, batch, interval
        self.retries, self.backoff, self.close_timeout = retries, backoff, close_timeout
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._abandoned = threading.Event()  # close() waited long enough: give up what is left
        self._sleep = sleep or self._stopping.wait  # backoff ends early when closing
        self.delivered = 0
        self.dropped = 0      # did not fit in the queue (pump thread only)
        self.failed = 0       # given up after retries, or not encodable (worker thread only)
        self._in_flight = 0   # taken from the queue, not delivered yet
        self.error: str | None = None
        self._thread = threading.Thread(target=self._work, name=f"sink-{self.name}", daemon=True)
        self._thread.start()

    @property
    def given_up(self) -> int:
        """Events that will never be delivered (only grows: the metric)."""
        return self.dropped + self.failed

    @property
    def queued(self) -> int:
        return len(self._queue) + self._in_flight

    @property
    def undelivered(self) -> int:
        """At the end: given up, and what was still queued when close() stopped waiting."""
        return self.given_up + self.queued

    # -- the pump's side ---------------------------------------------------------
    def encode(self, event: dict[str, Any]) -> Any:
        raise NotImplementedError

    def write(self, event: dict[str, Any]) -> None:
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            return
        self._queue.append(event)
        if len(self._queue) >= self.batch:
            self._wake.set()

    def flush(self) -> None:
        """The worker delivers on its own cadence (every `interval`)."""

    def close(self, summary: dict[str, Any] | None) -> None:
        """Deliver what is queued (and the summary) within close_timeout, then stop."""
        if summary is not None:
            self.write({"type": "summary", **summary})
        self._stopping.set()
        self._wake.set()
        self._thread.join(self.close_timeout)
        if self._thread.is_alive():  # stuck on the far end: it stops at its next step and drops the socket
            self._abandoned.set()
        else:
            self.disconnect()

    # -- the worker's side -------------------------------------------------------
    def deliver(self, items: list[Any]) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        """Drop a kept connection (after a failure, and at close)."""

    def _work(self) -> None:
        try:
            self._deliver_until_stopped()
        finally:
            if self._abandoned.is_set():
                self.disconnect()

    def _deliver_until_stopped(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopping.is_set()  # read first: what close() queued before is drained below
            while self._queue and not self._abandoned.is_set():
                events = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
                self._in_flight = len(events)
                items = self._encode_all(events)
                if items:
                    self._send(items)
                self._in_flight = 0
            if stopping or self._abandoned.is_set():
                return

    def _encode_all(self, events: list[dict[str, Any]]) -> list[Any]:
        items = []
        for event in events:
            try:
                item = self.encode(event)
            except Exception as exc:  # noqa: BLE001 - one odd event must not stop the rest
                self.failed += 1
                self.error = f"cannot encode an event: {exc}"
                continue
            if item is not None:
                items.append(item)
        return items

    def _send(self, items: list[Any]) -> None:
        for attempt in range(self.retries + 1):
            if self._abandoned.is_set():
                break
            try:
                self.deliver(items)
                self.delivered += len(items)
                return
            except Exception as exc:  # noqa: BLE001 - whatever the far end does, the agent goes on
                self.error = str(exc)
                self.disconnect()
                if not getattr(exc, "retry", True) or attempt == self.retries:
                    break
                self._sleep(self.backoff * (2 ** attempt))
        log.debug("%s: gave up on %d events: %s", self.name, len(items), self.error)
        self.failed += len(items)


class SocketSink(QueuedSink):
    """A queued sink that keeps one socket between deliveries (dropped after
    a failure).  A subclass gives `new_socket()` and `handshake(sock)`."""

    def __init__(self, **options: Any) -> None:
        self._socket: socket.socket | None = None
        super().__init__(**options)

    def new_socket(self) -> socket.socket:
        raise NotImplementedError

    def handshake(self, sock: socket.socket) -> None:
        """Make a new socket ready (connect, greet); raise OSError if it cannot be."""

    def connected(self) -> socket.socket:
        if self._socket is None:
            sock = self.new_socket()
            try:
                self.handshake(sock)
            except OSError:
                sock.close()
                raise
            self._socket = sock
        return self._socket

    def disconnect(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
