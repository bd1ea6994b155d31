"""A one-line live status on a terminal (nothing when stderr is not a TTY)."""

from __future__ import annotations

import time
from typing import IO, Callable

REFRESH_SECONDS = 0.5


class Progress:
    def __init__(self, out: IO[str], enabled: bool | None = None) -> None:
        self.out = out
        self.enabled = out.isatty() if enabled is None else enabled
        self._next = 0.0
        self._shown = False

    def show(self, elapsed: float, containers: int, events: int, lost: Callable[[], int]) -> None:
        if not self.enabled or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + REFRESH_SECONDS
        self.out.write(f"\r\x1b[Krecording {elapsed:6.0f}s · {containers} container(s) · "
                       f"{events} events · {lost()} lost")
        self.out.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False
