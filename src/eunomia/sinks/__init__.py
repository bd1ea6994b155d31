"""Where enriched events go.

Two families:
- **stream formats** (`-f table|json|csv`): what a command prints on its
  standard output or `-o FILE` (make_sink);
- **sinks by kind** (`--sink KIND:TARGET`, e.g. `jsonl:/var/log/eunomia/events.jsonl`):
  one module per kind in this package, found by name (open_sink).  A kind
  module defines `KIND`, `USAGE` (one line: the target's form) and
  `open_target(target) -> Sink`.  A sink never stops the agent: what it
  cannot deliver it counts (`undelivered`) and says at close.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import IO, Any, Protocol

Event = dict[str, Any]


class Sink(Protocol):
    def write(self, event: Event) -> None: ...

    def flush(self) -> None: ...

    def close(self, summary: dict[str, Any]) -> None: ...


class KindSink(Protocol):
    """A sink by kind: closed with the run's summary, or None when it is
    replaced (a reload) or abandoned (an error), without one."""

    def write(self, event: Event) -> None: ...

    def flush(self) -> None: ...

    def close(self, summary: dict[str, Any] | None) -> None: ...


class SinkError(Exception):
    """A sink cannot be opened; the message names the fix."""


class SinkSpecError(SinkError, ValueError):
    """A --sink that names no kind or a bad target."""


FORMATS = ("table", "json", "csv")


def make_sink(fmt: str, out: IO[bytes], *, stderr: IO[str] | None = None, show_runtime: bool = False,
              verbose: bool = False) -> Sink:
    """The sink of an output format.  For the table: show_runtime shows the
    runtime's set-up and capability probes too (the other formats always do);
    verbose adds every field to each line."""
    from .csv import CsvSink
    from .jsonl import JsonLinesSink
    from .table import TableSink

    if fmt == "json":
        return JsonLinesSink(out)
    if fmt == "csv":
        return CsvSink(out, stderr=stderr)
    if fmt == "table":
        return TableSink(out, stderr=stderr, show_runtime=show_runtime, verbose=verbose)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def sink_kinds() -> dict[str, ModuleType]:
    """KIND → its module: every module of this package that opens targets."""
    kinds: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, str) and callable(getattr(module, "open_target", None)):
            kinds[kind] = module
    return kinds


def open_sink(spec: str) -> KindSink:
    """A sink from `KIND:TARGET`."""
    kind, sep, target = spec.partition(":")
    kinds = sink_kinds()
    if not sep or kind not in kinds:
        known = "; ".join(f"{name}:{getattr(module, 'USAGE', 'TARGET').split(' (')[0]}"
                          for name, module in sorted(kinds.items()))
        raise SinkSpecError(f"--sink {spec!r}: give KIND:TARGET, one of: {known} (docs/sinks.md)")
    if not target:
        raise SinkSpecError(f"--sink {spec!r}: the target is missing: {kind}:{kinds[kind].USAGE}")
    sink: KindSink = kinds[kind].open_target(target)
    return sink
