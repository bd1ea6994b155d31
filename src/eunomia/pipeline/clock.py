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


_DIGITS3 = [f"{n:03d}" for n in range(1000)]  # 0 → "000": milli- and microseconds without a format spec


def _rfc3339_after(offset_ns: int) -> Callable[[int], str]:
    """ns (plus offset_ns: wall-clock ns) → RFC 3339 UTC with microseconds."""
    last: tuple[int, str] = (-1, "")  # (second, its text and the dot), replaced whole

    def text(ns: int) -> str:
        nonlocal last
        seconds, fraction = divmod(ns + offset_ns, 1_000_000_000)
        cached = last
        if cached[0] != seconds:  # events come in bursts within one second
            cached = last = (seconds, _second_text(seconds) + ".")
        milli, micro = divmod(fraction // 1000, 1000)
        return f"{cached[1]}{_DIGITS3[milli]}{_DIGITS3[micro]}Z"
    return text


# wall-clock ns → text, e.g. 2026-11-28T12:00:00.123456Z
rfc3339: Callable[[int], str] = _rfc3339_after(0)


def _second_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
