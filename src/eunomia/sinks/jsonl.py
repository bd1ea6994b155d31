"""JSON lines: one event per line, then a summary line at the end."""

from __future__ import annotations

from typing import IO, Any

import orjson

from . import Event


class JsonLinesSink:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.count = 0

    def write(self, event: Event) -> None:
        self.out.write(orjson.dumps(event) + b"\n")
        self.count += 1

    def flush(self) -> None:
        self.out.flush()

    def close(self, summary: dict[str, Any]) -> None:
        self.out.write(orjson.dumps({"type": "summary", **summary}) + b"\n")
        self.out.flush()
