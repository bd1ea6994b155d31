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
        # ktime → RFC 3339 text, one call (emitters call it per event)
        self.rfc3339: Callable[[int], str] = _rfc3339_after(self.offset_ns)

    def wall_ns(self, ktime_ns: int) -> int:
        return ktime_ns + self.offset_ns


_last_second: tuple[int, str] = (-1, "")  # (second, its formatted text), replaced whole


def _rfc3339_after(offset_ns: int) -> Callable[[int], str]:
    """ns (plus offset_ns: wall-clock ns) → RFC 3339 UTC with microseconds."""

    def text(ns: int) -> str:
        global _last_second
        wall = ns + offset_ns
        seconds = wall // 1_000_000_000
        cached = _last_second
        if cached[0] != seconds:  # events come in bursts within one second
            cached = _last_second = (seconds, _second_text(seconds))
        return f"{cached[1]}.{(wall - seconds * 1_000_000_000) // 1000:06d}Z"
    return text


# wall-clock ns → text, e.g. 2026-11-28T12:00:00.123456Z
rfc3339: Callable[[int], str] = _rfc3339_after(0)


def _second_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
