"""A tracing session: load trackers, seed the context, pump events.

    with TraceSession(trackers, scope, context) as session:   # all probes attached
        while not stopped:
            session.poll(emit, timeout=0.1)
    session.stats()   # kernel and user-space counts, drops included

The cgroup tracker is always loaded first: it owns the container filter
map that every other tracker shares, and it is drained first so a new
container is known before its first event is enriched.
"""

from __future__ import annotations

import logging
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection

from ..bpf.errors import BpfError
from ..bpf.layout import enum_short_names
from ..bpf.maps import Map
from ..bpf.object import destroy_links
from ..bpf.ringbuf import RingPoller
from ..context.cgroups import is_containerd_id
from ..context.docker import DockerResolver
from ..context.model import HOST, Container
from ..context.mounts import CgroupMounts, walk_cgroups
from ..context.processes import ProcessTable
from ..context.registry import ContainerRegistry
from ..trackers import TrackerDef, discover
from .clock import BootClock
from .enrich import Enricher, Event
from .dispatch import COUNTING_TRACKER, Dispatcher, Routes
from .loading import Running, check_features, load_tracker
from .routing import Router, emit_only
from .scope import AmbiguousContainerError, Scope, UnknownContainerError

log = logging.getLogger(__name__)

# one instance for all objects (the filter's answer cached per CPU too: a
# handler reached from the dispatcher finds the task's answer in it)
SHARED_MAPS = ("container_verdicts", "filter_generation", "filter_cache")
_RECORD_TYPE = struct.Struct("<I")  # every record starts with enum eun_event_type


@dataclass
class Context:
    """What the session enriches with; built by the caller (injectable)."""

    registry: ContainerRegistry
    processes: ProcessTable
    mounts: CgroupMounts
    docker: DockerResolver | None = None
    proc_root: Path = Path("/proc")
    # the containerd namespaces present now (OciStateResolver.containerd_namespaces)
    containerd_namespaces: Callable[[], list[str]] = list

    def close(self) -> None:
        """Its owner closes it (a session may be one of several users)."""
        self.registry.close()
        if self.docker is not None:
            self.docker.close()


class TraceSession:
    def __init__(self, trackers: list[TrackerDef], scope: Scope, context: Context,
                 knobs: dict[str, dict[str, Any]] | None = None, clock: BootClock | None = None) -> None:
        self.trackers = trackers
        self.scope = scope
        self.ctx = context
        # tracker name → {knob: value}, set over the tracker's own knobs
        # (e.g. {"syscall": {"targ_failures": True}})
        self.knobs = {name: dict(values) for name, values in (knobs or {}).items()}
        self.clock = clock if clock is not None else BootClock()  # (a retrack's new session keeps the clock)
        self.enricher = Enricher(context.registry, context.processes, self.clock, context.proc_root,
                                 context.mounts.unified, keyed_by_mntns=context.mounts.unified is None)
        self.selected_ids: set[str] = set()
        self.pending_names: set[str] = set()
        self._running: list[Running] = []
        self._dispatcher: Dispatcher | None = None
        self._poller: RingPoller | None = None
        self._verdicts: Map | None = None
        self._verdict_lock = threading.Lock()
        self._generation: Map | None = None
        self._selected: Map | None = None
        self._namespaces: Map | None = None
        self.undecodable = 0
        self.kernel_filter = context.mounts.unified is not None
        self.filtered_in_user_space = 0  # only on hosts without cgroup v2
        self.final_stats: dict[str, Any] | None = None
        self._handlers: list[Callable[[memoryview], None]] | None = None  # one per ring, made at the first poll
        self._subscribed = False  # to the Docker resolver's events (undone at close)
        # the handlers' events in time order, named, held, delivered (routing.py)
        self.router = Router(self.ctx.registry, self._traced)
        # container↔container connections seen: (source, destination, transport, port) → count
        self.edges = self.router.edges

    # -- start ---------------------------------------------------------------
    def __enter__(self) -> "TraceSession":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        check_features(self.trackers)
        cgroup_tracker = discover()["cgroup"]
        cgroup = self._load(cgroup_tracker, {"filter_all_containers": self.scope.all_containers})
        self._verdicts = cgroup.obj.maps["container_verdicts"].typed("<Q", "<B")
        self._generation = cgroup.obj.maps["filter_generation"].typed("<I", "<Q")
        self._selected = cgroup.obj.maps["selected_containers"].typed("64s", "<B")
        self._namespaces = cgroup.obj.maps["containerd_namespaces"].typed("64s", "<B")
        self._seed_containers()
        self.ctx.processes.seed(self.ctx.proc_root)
        shared = {name: cgroup.obj.maps[name] for name in SHARED_MAPS}
        # without cgroup v2 ids (v1-only hosts) the kernel cannot tell
        # containers apart: everything comes up and is filtered here
        knobs = self.scope.knobs() if self.kernel_filter else {"filter_by_container": False}
        self._load_dispatcher(knobs, shared)
        for tracker in self.trackers:
            self._load(tracker, knobs, shared=shared)
        if self._dispatcher is not None:  # once every handler is in place
            self._dispatcher.attach()
        # a ring whose kernel side wakes the reader for every record is read a
        # little later after a wakeup, so that records come in batches
        self._poller = RingPoller([r.ring for r in self._running],
                                  batch_delay=0.005 if any(r.woken_per_record for r in self._running) else 0.0)

    def _load_dispatcher(self, knobs: dict[str, Any], shared: dict[str, Map]) -> None:
        """The one program on sys_enter/sys_exit, for the trackers' syscall handlers."""
        counting = any(t.name == COUNTING_TRACKER for t in self.trackers)
        routes = Routes.of(self.trackers)
        if not routes.trackers and not counting:
            return
        failures = bool(self.knobs.get(COUNTING_TRACKER, {}).get("targ_failures"))
        self._dispatcher = Dispatcher.load(routes, knobs, shared=shared, counting=counting, failures=failures)

    def _load(self, tracker: TrackerDef, knobs: dict[str, Any], shared: dict[str, Map] | None = None) -> Running:
        running = load_tracker(tracker, knobs, shared=shared or {}, overrides=self.knobs.get(tracker.name, {}),
                               drain_on_clock=self.kernel_filter, registry=self.ctx.registry,
                               dispatcher=self._dispatcher)
        for kind, layout in running.obj.decoder.layouts.values():
            self.enricher.plan(tracker, kind, layout)
        self._running.append(running)
        return running

    def _seed_containers(self) -> None:
        """Containers that exist now: registry, selectors, and kernel verdicts."""
        registry, docker = self.ctx.registry, self.ctx.docker
        self._learn_namespaces()
        if docker is not None and docker.available:
            for container in docker.running():
                registry.add_container(container)
        unified = self.ctx.mounts.unified
        cgroups: list[tuple[int, Container]] = []
        if unified is not None:
            for cgroup_id, path in walk_cgroups(unified):
                container = registry.add_cgroup(cgroup_id, path)
                if container is not None:
                    cgroups.append((cgroup_id, container))
        self._resolve_selectors()
        for cgroup_id, container in cgroups:
            self._set_verdict(cgroup_id, container.id)
        if docker is not None and docker.available:
            # from now on (the event stream replays the last second)
            docker.on_create(self._container_named)
            docker.on_start(self._container_started)
            docker.on_stop(registry.forget_addresses)
            self._subscribed = True
            docker.follow_events()

    def _learn_namespaces(self) -> None:
        """containerd's namespaces, for the kernel and the registry: /<namespace>/<id> is a container."""
        known = self.ctx.registry.containerd_namespaces
        found = [n for n in self.ctx.containerd_namespaces() if n not in known and len(n.encode()) < 64]
        if not found:
            return
        if self._namespaces is not None:
            for name in found:
                self._namespaces[name.encode()] = 1
        self.ctx.registry.containerd_namespaces = known | frozenset(found)

    def _resolve_selectors(self) -> None:
        registry = self.ctx.registry
        for selector in self.scope.containers:
            matches = registry.find(selector)
            if not matches:
                if self.scope.allow_pending:
                    self.pending_names.add(selector)
                    if is_containerd_id(selector):  # `ctr run`'s id is its name: kept from its first exec
                        self._select(selector)
                    continue
                known = [c.display_name for c in registry.containers()]
                raise UnknownContainerError(selector, known)
            exact = any(c.name == selector or c.id == selector.lower() for c in matches)
            if len(matches) > 1 and not exact:
                raise AmbiguousContainerError(selector, [c.display_name for c in matches])
            for container in matches:
                self._select(container.id)

    def _select(self, container_id: str) -> None:
        self.selected_ids.add(container_id)
        if self._selected is not None:
            self._selected[container_id.encode()] = 1

    def _set_verdict(self, cgroup_id: int, container_id: str) -> None:
        if self._verdicts is None or self._generation is None or not self.scope.filter_by_container:
            return
        with self._verdict_lock:  # the pump and the Docker event thread both get here
            self._verdicts[cgroup_id] = self.scope.verdict(container_id, self.selected_ids)
            # Cached answers of the hot-path filter are stale now.  The kernel
            # bumps the generation by 1 concurrently; a jump of 2**32 can never
            # land on a value a CPU already cached.
            self._generation[0] = (self._generation.get(0, 0) + (1 << 32)) & ((1 << 64) - 1)

    def _container_named(self, container: Container) -> None:
        """Docker event thread: a container was created (or started, renamed):
        select it if a pending -c names it."""
        if container.name in self.pending_names and container.id not in self.selected_ids:
            self._select(container.id)
            for cgroup_id in self.ctx.registry.cgroups_of(container.id):
                self._set_verdict(cgroup_id, container.id)

    def _container_started(self, container: Container) -> None:
        self.ctx.registry.add_container(container)
        self._container_named(container)

    # -- pumping -------------------------------------------------------------
    def poll(self, emit: Callable[[TrackerDef, Event], None], timeout: float = 0.1) -> int:
        """Wait for events up to timeout seconds; enrich and emit each."""
        if self._poller is None:
            return 0
        if self._handlers is None:
            self._handlers = [self._handler(r) for r in self._running]
        if len(self.router.hold):  # come back in time to release what is held
            timeout = min(timeout, self.router.hold.max_hold / 2)
        count = self._poller.poll(self._handlers, timeout,
                                  before_drain=lambda busy: self.router.begin(emit, busy))
        self.router.route(emit)
        return count

    def _handler(self, running: Running) -> Callable[[memoryview], None]:
        """record → event, routed by self.router (the record's memory is valid only during the call)."""
        decoder, tracker, received = running.obj.decoder, running.tracker, running.received
        is_cgroup = tracker.name == "cgroup"
        # record type → its compiled emitter (emitters.py); the rest decode generically
        emitters = {} if is_cgroup else {
            etype: emitter for etype, (kind, _) in decoder.layouts.items()
            if (emitter := self.enricher.emitter(tracker, kind)) is not None}
        record_type = _RECORD_TYPE.unpack_from
        kernel_filter, wants, batch = self.kernel_filter, self.wants, self.router.batch.append
        merging, route_one = self.router.merging, self.router.route_one
        # only connections make container↔container edges
        deliver = self.router.deliver_counting_edges if tracker.name == "net" else emit_only

        def handle(record: memoryview) -> None:
            fast = emitters.get(record_type(record, 0)[0]) if emitters else None
            if fast is not None:
                op, event = fast(record)
                received[op] = received.get(op, 0) + 1
            else:
                decoded = decoder.decode(record)
                if decoded is None:
                    self.undecodable += 1
                    return
                kind, rec = decoded
                op = rec.get("op", kind)
                received[op] = received.get(op, 0) + 1
                if is_cgroup:
                    self._on_cgroup(kind, rec)
                    return
                event = self.enricher.enrich(tracker, kind, rec)
            if not kernel_filter and not wants(event["container"]["id"]):
                self.filtered_in_user_space += 1
                return
            if merging[0]:  # several rings had records: routed in time order after the drain (routing.py)
                batch((event["time"], deliver, tracker, event))
            else:
                route_one(deliver, tracker, event)

        return handle

    def _on_cgroup(self, kind: str, rec: dict[str, Any]) -> None:
        if kind == "cgroup_rmdir":
            # the container is gone (also without Docker's die event): the
            # addresses it held may go to the next one
            self.ctx.registry.cgroup_removed(rec["id"])
        elif kind == "cgroup_mkdir":
            if rec["level"] == 1 and rec["verdict"] == 0:  # perhaps a new containerd namespace
                self._learn_namespaces()
            container = self.ctx.registry.add_cgroup(rec["id"], rec["path"] or "")
            if container is not None and container.name in self.pending_names:
                self._container_named(container)  # a runtime without an event stream here (Podman)
            elif container is not None and rec["verdict"] != self.scope.verdict(container.id, self.selected_ids):
                # selected after the kernel decided (a late name match), or a namespace learnt late
                self._set_verdict(rec["id"], container.id)

    def wants(self, container_id: str) -> bool:
        """Is this container in the scope?  (Applied in user space on hosts
        without cgroup v2; a recording asks it for a signal's target.)"""
        if container_id == HOST:
            return self.scope.host
        return self.scope.all_containers or container_id in self.selected_ids

    def _traced(self, container_name: str) -> bool:
        """Are this container's events reaching user space?"""
        if self.scope.all_containers:
            return True
        return any(c.id in self.selected_ids for c in self.ctx.registry.find(container_name))

    def drain(self, emit: Callable[[TrackerDef, Event], None]) -> int:
        """Read what is left in the rings (at stop)."""
        total = 0
        while True:
            n = self.poll(emit, timeout=0)
            total += n
            if n == 0:
                self.router.release(emit, everything=True)
                return total

    def aggregates(self, only: Collection[str] | None = None) -> list[dict[str, Any]]:
        """What the trackers (or only these of them) aggregated in kernel maps, read now."""
        records: list[dict[str, Any]] = []
        for r in self._running:
            if r.tracker.aggregates is not None and (only is None or r.tracker.name in only):
                records.extend(r.tracker.aggregates(r.obj, self.enricher.registry))
        return records

    # -- accounting ------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self._running:
            # counter names are the enumerators of enum eun_stat (EUN_STAT_LOST → "lost")
            names = {v: n for v, n in enum_short_names(tuple(r.obj.enum("eun_stat").items())).items() if n != "max"}
            kernel = {name: 0 for name in names.values()}
            try:
                for index, per_cpu in r.obj.maps["tracker_stats"].records():
                    if index in names:
                        kernel[names[index]] = sum(per_cpu)
                if self._dispatcher is not None and "filtered" in kernel:
                    kernel["filtered"] += self._dispatcher.filtered_of(r.tracker)
            except BpfError as exc:
                log.warning("%s: cannot read stats: %s", r.tracker.name, exc)
            out[r.tracker.name] = {"received": dict(r.received), **kernel}
        return out

    def forget(self, container_ids: set[str], cgroup_ids: set[int]) -> int:
        """Drop what the trackers keep of long-gone containers: their own
        memory, and every kernel map entry keyed by one of their cgroups."""
        for r in self._running:
            if r.tracker.on_forget is not None and container_ids:
                r.tracker.on_forget(container_ids)
        return sum(m.delete_cgroups(cgroup_ids) for r in self._running for m in r.obj.maps.values()
                   if m.keyed_by_cgroup and cgroup_ids)

    def maps(self) -> list[tuple[str, Map]]:
        """(tracker, map) of every loaded object, for health metrics."""
        return [(r.tracker.name, m) for r in self._running for m in r.obj.maps.values()]

    def ring_fill(self) -> dict[str, float]:
        """Per tracker: the share of its ring buffer waiting to be read (0–1)."""
        return {r.tracker.name: r.ring.pending_bytes() / r.ring.size for r in self._running}

    def summary(self) -> dict[str, Any]:
        """The run's counts: per tracker (cgroup left out), lost in all, undecodable."""
        stats = self.stats() if self._running else (self.final_stats or {})
        summary: dict[str, Any] = {"trackers": {name: s for name, s in stats.items() if name != "cgroup"},
                                   "lost": sum(s["lost"] for s in stats.values()),
                                   "undecodable": self.undecodable}
        if not self.kernel_filter:
            summary["filtered_in_user_space"] = self.filtered_in_user_space
        return summary

    def detach(self) -> None:
        """Every probe off; the rings, maps and counts stay readable until close().
        Every link at once: each detach waits for the kernel."""
        dispatcher_links = self._dispatcher.links if self._dispatcher is not None else []
        destroy_links([*dispatcher_links, *(link for r in self._running for link in r.obj.links)])

    def close(self) -> None:
        if self._running and self.final_stats is None:
            self.final_stats = self.stats()
        if self._poller is not None:
            self._poller.close()
            self._poller = None
        docker = self.ctx.docker
        if docker is not None and self._subscribed:  # the agent may go on with another session
            docker.unsubscribe(self._container_named, self._container_started, self.ctx.registry.forget_addresses)
            self._subscribed = False
        self.detach()
        for r in reversed(self._running):
            r.ring.close()
            r.obj.close()
        self._running.clear()
        if self._dispatcher is not None:
            self._dispatcher.close()
            self._dispatcher = None
