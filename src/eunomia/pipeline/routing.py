"""From the handlers to the caller: the events of one poll in time order,
named when their container's name came meanwhile, held briefly while it is
on its way (hold.py), and counted as container↔container edges.

Each ring gives its records in commit order; the rings of different
trackers are merged here by timestamp, once per poll (a file open and the
exec before it were read from two rings in the same 100 ms).  Events of one
µs keep their ring's order (the sort is stable).  A poll that finds records
in one ring only (a storm of one kind) has nothing to merge: its events go
straight through, without being kept for the sort (which costs a storm
about 0.6 µs per event, most of it in memory: a poll's events all alive at
once instead of one at a time).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable

from ..context.registry import ContainerRegistry
from ..trackers import TrackerDef
from .events import edge_of, named_now
from .hold import HoldQueue

Event = dict[str, Any]
Emit = Callable[[TrackerDef, Event], None]
Deliver = Callable[[TrackerDef, Event, Emit], None]
_BY_TIME = itemgetter(0)  # RFC 3339 text of one width: sorts as the times do


def emit_only(tracker: TrackerDef, event: Event, emit: Emit) -> None:
    emit(tracker, event)


def _nowhere(tracker: TrackerDef, event: Event) -> None:
    raise RuntimeError("an event was routed before Router.begin() named where it goes")


class Router:
    def __init__(self, registry: ContainerRegistry, traced: Callable[[str], bool]) -> None:
        self.registry = registry
        self._traced = traced  # are this container's events reaching user space?
        self.batch: list[tuple[str, Deliver, TrackerDef, Event]] = []  # (time, deliver, tracker, event)
        self.merging = [True]  # [this poll's events are batched for the sort], read by the handlers
        self.emit: Emit = _nowhere
        self.hold: HoldQueue[tuple[TrackerDef, Event]] = HoldQueue()
        self.edges: dict[tuple[str, str, str, int], int] = {}

    def begin(self, emit: Emit, rings_with_records: int) -> None:
        """A poll is about to drain: merge only when several rings have records."""
        self.emit = emit
        self.merging[0] = rings_with_records > 1

    def route(self, emit: Emit) -> None:
        """Everything batched since the last call, in time order; then what
        is held and ready."""
        batch = self.batch
        if batch:
            if len(batch) > 1:
                batch.sort(key=_BY_TIME)
            self.emit = emit
            one = self.route_one
            for _, deliver, tracker, event in batch:
                one(deliver, tracker, event)
            batch.clear()
        self.release(emit)

    def route_one(self, deliver: Deliver, tracker: TrackerDef, event: Event) -> None:
        """Named if its container's name came meanwhile, held while it is on its way, else delivered."""
        container = event["container"]
        if container["name"] is None:
            wait = self.registry.resolving(container["id"])
            if not wait:  # the answer may have come since the event was built
                named_now(event, self.registry.get(container["id"]))
        else:
            wait = False
        if not (wait or self.hold.queue) or not self.hold.push((tracker, event), wait):
            deliver(tracker, event, self.emit)

    def deliver_counting_edges(self, tracker: TrackerDef, event: Event, emit: Emit) -> None:
        """For connections: count the edge it makes, then emit."""
        edge = edge_of(event)
        if edge is not None and (event["type"] == "connect" or not self._traced(edge[0])):
            # an accept counts only when the client's own connect is not traced
            self.edges[edge] = self.edges.get(edge, 0) + 1
        emit(tracker, event)

    def release(self, emit: Emit, everything: bool = False) -> None:
        """Emit held events whose container got its name, or that waited long enough."""
        if not len(self.hold):
            return
        registry = self.registry
        items = self.hold.flush() if everything else self.hold.ready(
            lambda item: registry.resolving(item[1]["container"]["id"]))
        for tracker, event in items:
            named_now(event, registry.get(event["container"]["id"]))
            self.deliver_counting_edges(tracker, event, emit)
