"""Lookups off the event path: one worker thread runs slow metadata calls.

Asking Docker about a container is an HTTP call (a timeout of seconds when
the daemon is slow or gone).  The thread that pumps events must never make
it: it submits the lookup here, keyed by what it is about, and goes on; a
key already pending is not submitted twice.  `pending(key)` tells the
pump whether an answer is on its way (it may hold an event briefly for it).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

log = logging.getLogger(__name__)


class BackgroundLookups:
    def __init__(self, name: str = "lookups") -> None:
        self._queue: queue.Queue[tuple[str, Callable[[], None]] | None] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, key: str, lookup: Callable[[], None]) -> bool:
        """Run lookup() on the worker unless one for key is pending; True if queued."""
        with self._lock:
            if key in self._pending:
                return False
            self._pending.add(key)
        self._queue.put((key, lookup))
        return True

    def pending(self, key: str) -> bool:
        return key in self._pending

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            key, lookup = item
            try:
                lookup()
            except Exception as exc:  # one failed lookup must not end the worker
                log.warning("lookup of %s failed: %s", key, exc)
            finally:
                with self._lock:
                    self._pending.discard(key)

    def close(self, timeout: float = 1.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
