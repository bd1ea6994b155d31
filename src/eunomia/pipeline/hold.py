"""A short, bounded hold for events whose container is still being looked up.

The pump never waits for Docker (context/lookups.py); an event of a
container whose name is on its way is held here at most `max_hold`
seconds, then emitted with whatever is known by then.  Events behind a held
one queue after it, so the output keeps the order the kernel gave.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")

MAX_HOLD_SECONDS = 0.1


class HoldQueue(Generic[T]):
    def __init__(self, max_hold: float = MAX_HOLD_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_hold = max_hold
        self._clock = clock
        self.queue: deque[tuple[float, T]] = deque()  # (until, item); read by the pump, changed here only
        self.held = 0  # events that waited, in all

    def __len__(self) -> int:
        return len(self.queue)

    def push(self, item: T, wait: bool) -> bool:
        """Queue item; False (not queued) when nothing is held and it need not wait."""
        if not wait and not self.queue:
            return False
        if wait:
            self.held += 1
        self.queue.append((self._clock() + self.max_hold if wait else 0.0, item))
        return True

    def ready(self, still_waiting: Callable[[T], bool]) -> Iterator[T]:
        """Items from the head whose wait is over: answered, or past their time."""
        now = self._clock()
        while self.queue:
            until, item = self.queue[0]
            if until > now and still_waiting(item):
                return
            self.queue.popleft()
            yield item

    def flush(self) -> Iterator[T]:
        while self.queue:
            yield self.queue.popleft()[1]
