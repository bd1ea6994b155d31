"""One tracker made live: its object loaded with its knobs and the shared
maps, its probes attached, its ring mapped.

    check_features(trackers)                  # NotSupportedError names what is missing
    running = load_tracker(tracker, knobs, shared=..., overrides=..., drain_on_clock=True, registry=...)
    running.ring, running.obj, running.knobs  # what the session pumps and reads
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..bpf import features
from ..bpf.errors import NotSupportedError
from ..bpf.maps import Map
from ..bpf.object import Object, ObjectSpec
from ..bpf.ringbuf import RingBuffer
from ..context.registry import ContainerRegistry
from ..trackers import TrackerDef
from .dispatch import Dispatcher

log = logging.getLogger(__name__)

WAKEUP_KNOB = "targ_wakeup_bytes"  # common.h: bytes waiting unread before the kernel wakes the reader


@dataclass
class Running:
    tracker: TrackerDef
    obj: Object
    ring: RingBuffer
    received: dict[str, int] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)  # what its object was loaded with

    @property
    def woken_per_record(self) -> bool:
        """Does the kernel wake the reader for every record of this ring?"""
        return not self.knobs.get(WAKEUP_KNOB)


def check_features(trackers: list[TrackerDef]) -> None:
    needed = {need for t in trackers for need in t.needs} | {"ringbuf", "raw_tracepoint", "bpf_loop"}
    for name in sorted(needed):
        feature = features.probe(name)
        if not feature.available:
            raise NotSupportedError(name, f"{feature.description} — unavailable: {feature.detail}")


def load_tracker(tracker: TrackerDef, knobs: dict[str, Any], *, shared: dict[str, Map],
                 overrides: dict[str, Any], drain_on_clock: bool, registry: ContainerRegistry,
                 dispatcher: Dispatcher | None = None) -> Running:
    """Load, attach and map one tracker.  `knobs` are the session's (the
    container filter), then the tracker's own, then `overrides` (the
    caller's, checked against the object's knobs).  With `drain_on_clock`
    the kernel wakes the reader only when a quarter of the ring waits.  Its
    syscall handlers go to the `dispatcher`, never attached themselves."""
    if tracker.syscall_handlers and dispatcher is None:
        raise ValueError(f"tracker {tracker.name!r} has syscall handlers: it needs the dispatcher")
    with ObjectSpec(tracker.object_path) as spec:
        spec.maps["events"].max_entries = tracker.ringbuf_bytes
        if dispatcher is not None:
            shared = {**shared, **dispatcher.maps_for(tracker)}
        spec.share(shared)
        if tracker.knobs is not None:
            knobs = {**knobs, **tracker.knobs()}
        if dispatcher is not None:
            knobs = {**knobs, **dispatcher.knobs_for(tracker)}
        known = spec.knob_names()
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"tracker {tracker.name!r} has no knob {', '.join(map(repr, unknown))}; "
                             f"its knobs: {', '.join(sorted(known))}")
        session_wide = sorted(k for k in overrides if k.startswith("filter_"))
        if session_wide:
            # every object shares one cache of the filter's answers (filter.h)
            raise ValueError(f"tracker {tracker.name!r}: {', '.join(session_wide)} is the session's, "
                             "not one tracker's: choose containers with -c/--host instead")
        if WAKEUP_KNOB in known and drain_on_clock:
            # Not on hosts without cgroup v2: there each event's container is
            # looked up in /proc, which a short-lived process leaves soon.
            knobs = {WAKEUP_KNOB: tracker.ringbuf_bytes // 4, **knobs}
        knobs = {k: v for k, v in {**knobs, **overrides}.items() if k in known}
        spec.set_knobs(**knobs)
        for program, knob in tracker.knob_programs.items():
            if not knobs.get(knob):
                spec.programs[program].autoload = False
        for program, feature in tracker.optional_programs.items():
            if not features.probe(feature).available:
                log.info("%s: %s off (no %s)", tracker.name, program, feature)
                spec.programs[program].autoload = False
        obj = spec.load()
    try:
        if dispatcher is not None:
            dispatcher.register(tracker, obj)
        obj.attach_all(skip=tracker.syscall_handlers)
        running = Running(tracker, obj, RingBuffer(obj.maps["events"]), knobs=knobs)
        if tracker.on_load is not None:
            tracker.on_load(obj, registry)
    except BaseException:
        obj.close()
        raise
    return running
