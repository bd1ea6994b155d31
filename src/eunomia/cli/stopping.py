"""Ctrl-C and SIGTERM end a command cleanly: the handler only raises a flag
that the command's loop checks, so everything gets flushed."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any


@dataclass
class StopFlag:
    requested: bool = False
    signum: int | None = None  # the signal that asked


def install_stop_handlers() -> StopFlag:
    stop = StopFlag()

    def handler(signum: int, frame: Any) -> None:
        stop.requested = True
        stop.signum = signum

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop
