"""The event path never waits for Docker: background lookups and the bounded hold."""

from __future__ import annotations

import threading

from eunomia.context.lookups import BackgroundLookups
from eunomia.context.model import CgroupRef, Container
from eunomia.context.registry import ContainerRegistry
from eunomia.pipeline.hold import HoldQueue

WEB = "3f4e1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_hold_keeps_order_and_bounds_the_wait():
    clock = Clock()
    hold: HoldQueue[str] = HoldQueue(max_hold=0.1, clock=clock)
    assert hold.push("a", wait=False) is False          # nothing held: straight through
    assert hold.push("b", wait=True) is True
    assert hold.push("c", wait=False) is True            # behind a held one: queued, order kept
    waiting = {"b"}
    assert list(hold.ready(lambda item: item in waiting)) == []
    clock.now += 0.05
    assert list(hold.ready(lambda item: item in waiting)) == []
    waiting.clear()                                      # b's answer came
    assert list(hold.ready(lambda item: item in waiting)) == ["b", "c"]
    assert hold.push("d", wait=True) and hold.push("e", wait=False)
    clock.now += 0.1                                     # d waited its 100 ms: out, answered or not
    assert list(hold.ready(lambda item: True)) == ["d", "e"]
    assert hold.held == 2 and len(hold) == 0


def test_hold_flush_gives_everything_in_order():
    hold: HoldQueue[int] = HoldQueue(max_hold=10)
    for i in range(5):
        hold.push(i, wait=i % 2 == 0)
    assert list(hold.flush()) == [0, 1, 2, 3, 4]


class SlowResolver:
    """Answers only when the test lets it: a Docker daemon that takes its time."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.calls = 0

    def resolve(self, ref: CgroupRef) -> Container | None:
        self.calls += 1
        self.go.wait(10)
        return Container(id=ref.container_id, runtime="docker", name="web", image="nginx")


def test_registry_returns_at_once_and_fills_in_from_the_worker():
    resolver = SlowResolver()
    lookups = BackgroundLookups()
    registry = ContainerRegistry([resolver], background=lookups)
    try:
        container = registry.add_cgroup(7, f"/docker/{WEB}")  # does not wait for the resolver
        assert container is not None and container.name is None
        assert registry.resolving(WEB)
        assert registry.container_of(7) is container         # asked again: not submitted twice
        resolver.go.set()
        for _ in range(200):
            if not registry.resolving(WEB):
                break
            threading.Event().wait(0.01)
        assert not registry.resolving(WEB)
        assert (container.name, container.image) == ("web", "nginx")
        assert resolver.calls == 1
    finally:
        registry.close()


class CachedResolver:
    def __init__(self) -> None:
        self.resolved = 0

    def cached(self, ref: CgroupRef) -> Container | None:
        return Container(id=ref.container_id, runtime="docker", name="from-events")

    def resolve(self, ref: CgroupRef) -> Container | None:
        self.resolved += 1
        return None


def test_what_a_resolver_holds_in_memory_is_taken_at_once():
    resolver = CachedResolver()
    registry = ContainerRegistry([resolver], background=BackgroundLookups())
    try:
        container = registry.add_cgroup(7, f"/docker/{WEB}")
        assert container is not None and container.name == "from-events"
        assert not registry.resolving(WEB) and resolver.resolved == 0
    finally:
        registry.close()
