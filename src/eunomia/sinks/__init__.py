"""Outputs of enriched events: stdout table, JSON lines, CSV."""

from __future__ import annotations

from typing import IO, Any, Protocol

Event = dict[str, Any]


class Sink(Protocol):
    def write(self, event: Event) -> None: ...

    def flush(self) -> None: ...

    def close(self, summary: dict[str, Any]) -> None: ...


FORMATS = ("table", "json", "csv")


def make_sink(fmt: str, out: IO[bytes], *, stderr: IO[str] | None = None) -> Sink:
    from .csv import CsvSink
    from .jsonl import JsonLinesSink
    from .table import TableSink

    if fmt == "json":
        return JsonLinesSink(out)
    if fmt == "csv":
        return CsvSink(out, stderr=stderr)
    if fmt == "table":
        return TableSink(out, stderr=stderr)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
