"""Kernel timestamps to wall-clock time.

bpf_ktime_get_ns() is CLOCK_MONOTONIC, the clock Python's time.monotonic_ns()
reads; the offset to the real-time clock is taken once at start.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable


class BootClock:
    def __init__(self, realtime_ns: int | None = None, monotonic_ns: int | None = None) -> None:
        real = time.time_ns() if realtime_ns is None else realtime_ns
        mono = time.monotonic_ns() if monotonic_ns is None else monotonic_ns
        self.offset_ns = real - mono

    def wall_ns(self, ktime_ns: int) -> int:
        return ktime_ns + self.offset_ns

    def rfc3339(self, ktime_ns: int) -> str:
        return rfc3339(ktime_ns + self.offset_ns)

    def rfc3339_of(self) -> "Callable[[int], str]":
        """ktime → RFC 3339 text, as one call (made once: emitters call it per event)."""
        offset = self.offset_ns

        def text(ktime_ns: int) -> str:
            global _last_second
            wall = ktime_ns + offset
            seconds = wall // 1_000_000_000
            cached = _last_second
            if cached[0] != seconds:
                cached = _last_second = (seconds, _second_text(seconds))
            return f"{cached[1]}.{(wall - seconds * 1_000_000_000) // 1000:06d}Z"
        return text


_last_second: tuple[int, str] = (-1, "")  # (second, its formatted text), replaced whole


def rfc3339(wall_ns: int) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-28T12:00:00.123456Z."""
    global _last_second
    seconds, ns = divmod(wall_ns, 1_000_000_000)
    cached = _last_second
    if cached[0] != seconds:  # events come in bursts within one second
        cached = _last_second = (seconds, _second_text(seconds))
    return f"{cached[1]}.{ns // 1000:06d}Z"


def _second_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
