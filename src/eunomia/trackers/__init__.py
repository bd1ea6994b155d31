"""Trackers: one folder each, `<name>/<name>.bpf.c` plus a module declaring it.

A tracker's ``__init__.py`` exports ``TRACKER = TrackerDef(...)``; this
module finds them by walking the package, so adding a tracker touches no
other file.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..bpf.object import Object
    from ..context.registry import ContainerRegistry

# an aggregate hook reads a tracker's kernel maps (at the end of a trace, at
# report or scrape time) and returns records; the registry names containers
# (container_of(cgroup id)) and peers (by_ip, by_published_port)
Aggregates = Callable[["Object", "ContainerRegistry"], list[dict[str, Any]]]


@dataclass(frozen=True)
class Handles:
    """What a syscall handler program (EUN_SYSCALL_ENTER/EXIT, see
    eunomia/dispatch.h) is for: the dispatcher tail-calls it for these
    syscalls (those that exist on this architecture)."""

    syscalls: tuple[str, ...]
    # also the calls of tasks the container filter discards (a host process
    # signalling into a container; a call's state cleaned up at its exit)
    every_task: bool = False
    # count the calls the filter discards as the tracker's `filtered` (the
    # dispatcher does, per number, without calling the handler)
    count_filtered: bool = False


@dataclass(frozen=True)
class Composer:
    """How a tracker's private node (fields placed under e.g. "_file": raw
    pieces its post_enrich shapes) becomes the event's object in one call.
    make(kind, piece names) → function(*pieces, in that order) → the object
    put at event[key].  The compiled emitters call it; the generic path
    leaves the node to post_enrich, which must shape it the same way."""

    node: str
    key: str
    make: Callable[[str, tuple[str, ...]], Callable[..., dict[str, Any]]]


@dataclass(frozen=True)
class TrackerDef:
    """What the pipeline needs to know to run a tracker."""

    name: str
    summary: str                     # one line for --help and doctor
    needs: tuple[str, ...]           # kernel features (see eunomia.bpf.features)
    ringbuf_bytes: int = 1 << 20     # size of its `events` ring (see docs/architecture.md: ring sizes)
    internal: bool = False           # always loaded, not selectable (cgroup)
    printed_kinds: tuple[str, ...] | None = None  # event kinds shown by `trace`; None = all
    optional_programs: dict[str, str] = field(default_factory=dict)  # program → feature it needs
    # program → the knob that turns it on: not even loaded while the knob is
    # off (an attached program costs every call of its hook, even when empty)
    knob_programs: dict[str, str] = field(default_factory=dict)
    # its syscall handlers: program → what it handles; never attached, the
    # syscall dispatcher calls them (pipeline/dispatch.py).  Each must load:
    # none may be in knob_programs or optional_programs
    syscall_handlers: dict[str, Handles] = field(default_factory=dict)
    # record field → where it goes in the event (dotted ECS path); fields of
    # struct eun_task are placed by the pipeline for every tracker
    fields: dict[str, str] = field(default_factory=dict)
    streaming: bool = True           # False: only aggregates (not run by default)
    # typedef → presentation of a field declared with it (merged for all trackers)
    formatters: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    knobs: Callable[[], dict[str, int | bytes]] | None = None  # computed knob values (syscall numbers, address ranges)
    aggregates: Aggregates | None = None
    # last touch on each enriched event, with the container registry at hand
    # (e.g. naming the container behind a peer address); never changes the
    # event's `process` or `container` objects, which its events share
    post_enrich: Callable[[dict[str, Any], "ContainerRegistry"], None] | None = None
    composer: Composer | None = None  # its private node, shaped by the emitters at once
    # once the object is loaded: hand the registry what it can ask the
    # tracker's kernel maps (e.g. which container holds an address)
    on_load: Callable[["Object", "ContainerRegistry"], None] | None = None
    # an always-on agent forgets long-gone containers: drop what the tracker
    # keeps of them in user space (its kernel maps keyed by cgroup id are
    # cleaned generically)
    on_forget: Callable[[set[str]], None] | None = None

    @property
    def object_path(self) -> Path:
        return Path(__file__).parent / self.name / f"{self.name}.bpf.o"


class UnknownTrackerError(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown tracker {self.name!r}; choose from: {', '.join(self.known)}"


def discover() -> dict[str, TrackerDef]:
    """Every tracker in this package, by name."""
    found: dict[str, TrackerDef] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        tracker = getattr(module, "TRACKER", None)
        if isinstance(tracker, TrackerDef):
            found[tracker.name] = tracker
    return dict(sorted(found.items()))


def selectable() -> dict[str, TrackerDef]:
    return {name: t for name, t in discover().items() if not t.internal}


def formatters() -> dict[str, Callable[[Any], Any]]:
    """Every tracker's typedef formatters."""
    merged: dict[str, Callable[[Any], Any]] = {}
    for tracker in discover().values():
        merged.update(tracker.formatters)
    return merged


def select(names: list[str]) -> list[TrackerDef]:
    """The named trackers (all streaming ones when names is empty)."""
    available = selectable()
    if not names:
        return [t for t in available.values() if t.streaming]
    chosen = []
    for name in names:
        if name not in available:
            raise UnknownTrackerError(name, list(available))
        if available[name] not in chosen:
            chosen.append(available[name])
    return chosen
