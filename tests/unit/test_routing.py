"""A poll's events reach the caller in time order across the trackers' rings."""

from __future__ import annotations

from typing import Any

from eunomia.context.registry import ContainerRegistry
from eunomia.pipeline.routing import Router, emit_only
from eunomia.trackers import TrackerDef

EXEC = TrackerDef(name="exec", summary="", needs=())
FILE = TrackerDef(name="file", summary="", needs=())
WEB = {"id": "a" * 64, "name": "web"}


def _event(time: str, kind: str) -> dict[str, Any]:
    return {"time": f"2026-12-02T10:00:{time}Z", "type": kind, "container": dict(WEB)}


def test_a_poll_is_delivered_in_time_order_and_ties_keep_their_ring_order() -> None:
    router = Router(ContainerRegistry([]), traced=lambda name: True)
    out: list[tuple[str, str]] = []
    # as one poll drains them: the exec ring first, then the file ring
    for tracker, event in ((EXEC, _event("00.000300", "exec")), (EXEC, _event("00.000900", "exit")),
                           (FILE, _event("00.000100", "open")), (FILE, _event("00.000300", "read")),
                           (FILE, _event("00.000700", "close"))):
        router.batch.append((event["time"], emit_only, tracker, event))
    router.route(lambda tracker, event: out.append((tracker.name, event["type"])))
    assert out == [("file", "open"), ("exec", "exec"), ("file", "read"), ("file", "close"), ("exec", "exit")]
    assert router.batch == []  # the next poll starts empty


def test_a_poll_with_records_in_one_ring_only_goes_straight_through() -> None:
    router = Router(ContainerRegistry([]), traced=lambda name: True)
    out: list[str] = []
    router.begin(lambda tracker, event: out.append(event["type"]), rings_with_records=1)
    assert router.merging == [False]  # the handlers call route_one at once
    router.route_one(emit_only, FILE, _event("00.000200", "open"))
    assert out == ["open"] and router.batch == []
    router.begin(lambda tracker, event: out.append(event["type"]), rings_with_records=2)
    assert router.merging == [True]
