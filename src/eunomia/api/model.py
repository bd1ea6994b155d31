"""What the API answers, read from the running agent: one resolver layer
that REST and GraphQL both call.

    view = AgentView(AgentParts(lock=runner.lock, registry=..., ...))
    view.containers()            # [ContainerSummary], the watched ones
    view.container("web")        # ContainerDetail, or NotFound / Ambiguous
    view.alerts(limit=100)       # the newest alerts, oldest first

Every read takes the pump's lock, so an answer sees the pipeline between
two polls (as a Prometheus scrape does).  The types are plain dataclasses:
GraphQL's schema is made from them, REST returns them as JSON.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable

from ..context.model import HOST, Container
from ..context.processes import ProcessTable
from ..context.registry import ContainerRegistry
from ..metrics.activity import Activity, Key
from .peers import Peer, PeerBook

ALERTS_KEPT = 1000  # the newest alerts the API can show
FILES_SHOWN = 500   # a container's files, most bytes first
# a container's lists beyond its summary (what GraphQL reads only when asked)
DETAIL_LISTS = frozenset(("syscalls", "files", "peers", "capabilities", "processes"))


class ModelError(Exception):
    """A request the model cannot answer; the message names the fix."""


class NotFound(ModelError):
    pass


class Ambiguous(ModelError):
    pass


class Conflict(ModelError):
    """The request contradicts the agent's state (e.g. stopping its last tracker)."""


class Unavailable(ModelError):
    """The agent cannot do it now (it is stopping, or busy past the wait); try again."""


class AgentFailure(ModelError):
    """The agent tried and failed (e.g. the kernel refused a tracker); the message says why."""


@dataclass
class Counts:
    """What the container's streamed events showed (the live view's columns)."""

    process_starts: int = 0
    exec_failures: int = 0
    shell_starts: int = 0
    file_opens: int = 0
    file_open_failures: int = 0
    tcp_connections: int = 0
    tcp_connect_failures: int = 0
    capability_checks: int = 0
    signals_sent: int = 0
    alerts: int = 0


@dataclass
class ContainerSummary:
    id: str
    short_id: str
    name: str | None
    image: str | None
    runtime: str | None
    state: str                 # running, or exited (kept for the grace of its series)
    started: str | None        # RFC 3339, when its runtime started it
    counts: Counts


@dataclass
class SyscallCount:
    name: str
    count: int


@dataclass
class FileActivity:
    path: str | None
    opens: int
    reads: int
    writes: int
    bytes_read: int
    bytes_written: int


@dataclass
class CapabilityUse:
    name: str
    granted: bool
    count: int


@dataclass
class ProcessInfo:
    pid: int
    ppid: int
    name: str
    executable: str | None
    args: list[str]


@dataclass
class ContainerDetail(ContainerSummary):
    syscalls: list[SyscallCount] = field(default_factory=list)
    files: list[FileActivity] = field(default_factory=list)
    peers: list[Peer] = field(default_factory=list)
    capabilities: list[CapabilityUse] = field(default_factory=list)
    processes: list[ProcessInfo] = field(default_factory=list)


@dataclass
class Alert:
    time: str | None
    rule: str
    priority: str
    output: str
    container: str | None      # its name (short id while unnamed, host)
    container_id: str | None


@dataclass
class Edge:
    source: str
    destination: str
    transport: str
    port: int
    count: int


@dataclass
class NetworkMap:
    containers: list[str]      # names of the watched containers
    edges: list[Edge]          # container → container connections seen


@dataclass
class Tracker:
    name: str
    running: bool
    description: str


@dataclass
class AgentParts:
    """The running agent's pieces the view reads (injected: tests give their own)."""

    lock: Any
    registry: ContainerRegistry
    processes: ProcessTable
    activity: Activity
    aggregates: Callable[[], list[dict[str, Any]]]   # the trackers' kernel maps, read now
    edges: Callable[[], dict[tuple[str, str, str, int], int]]  # (source, destination, transport, port) → count
    peers: PeerBook
    wants: Callable[[str], bool]                      # is this container watched?
    exited: Callable[[str], bool]                     # has it exited?
    trackers: Callable[[], list[Tracker]]
    # on the pump's thread: give the running trackers' names to the function, run the names it
    # returns from now on (in the registry's order; None: as they are); waits till done
    retrack: Callable[[Callable[[list[str]], list[str] | None]], None]
    alerts: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=ALERTS_KEPT))
    recordings: Any = None                            # recordings.Recordings, when the agent can record
    # start a recording on the pump's thread (recordings.Recordings.start there); waits till started
    start_recording: Callable[[str, float], Any] | None = None


class AgentView:
    def __init__(self, parts: AgentParts) -> None:
        self.parts = parts

    # -- containers ------------------------------------------------------------
    def containers(self) -> list[ContainerSummary]:
        with self.parts.lock:
            activity = self.parts.activity.snapshot()
            return [self._summary(c, activity.get(c.id)) for c in self._watched()]

    def container(self, ref: str, include: Collection[str] = DETAIL_LISTS) -> ContainerDetail:
        """One container by name, full id or unique id prefix, with the aggregates in `include`."""
        with self.parts.lock:
            return self._details([self._find(ref)], include)[0]

    def details(self, include: Collection[str] = DETAIL_LISTS) -> list[ContainerDetail]:
        """Every watched container with the aggregates in `include` (the kernel's maps are read once)."""
        with self.parts.lock:
            return self._details(self._watched(), include)

    def network(self) -> NetworkMap:
        with self.parts.lock:
            names = sorted(c.display_name for c in self._watched())
            edges = [Edge(s, d, t, port, n) for (s, d, t, port), n in sorted(self.parts.edges().items())]
        return NetworkMap(names, edges)

    # -- alerts and trackers ---------------------------------------------------
    def alerts(self, limit: int = 100, container: str | None = None) -> list[Alert]:
        with self.parts.lock:
            kept = list(self.parts.alerts)
        shown = [_alert(a) for a in kept]
        if container is not None:
            shown = [a for a in shown if container in (a.container, a.container_id)
                     or (a.container_id or "").startswith(container)]
        return shown[-limit:] if limit > 0 else []

    def trackers(self) -> list[Tracker]:
        return self.parts.trackers()

    def set_tracker(self, name: str, running: bool) -> list[Tracker]:
        """Start or stop one tracker (its BPF objects loaded or unloaded); every tracker after."""
        order = [t.name for t in self.parts.trackers()]
        if name not in order:
            raise NotFound(f"no tracker {name!r}; GET /api/v1/trackers lists them")

        def choose(now: list[str]) -> list[str] | None:  # on the pump's thread: no other change between
            wanted = [n for n in order if (n == name and running) or (n != name and n in now)]
            if not wanted:
                raise Conflict(f"{name} is the only tracker running: start another one before stopping it")
            return None if set(wanted) == set(now) else wanted
        self.parts.retrack(choose)  # (not under the lock: the pump takes it to do this)
        return self.parts.trackers()

    # -- helpers ---------------------------------------------------------------
    def _watched(self) -> list[Container]:
        return sorted((c for c in self.parts.registry.containers() if c.id != HOST and self.parts.wants(c.id)),
                      key=lambda c: (c.display_name, c.id))

    def _details(self, containers: list[Container], include: Collection[str]) -> list[ContainerDetail]:
        p = self.parts
        activity = p.activity.snapshot()
        records: dict[str, list[dict[str, Any]]] = {}
        if {"syscalls", "files"} & set(include):
            for r in p.aggregates():
                records.setdefault((r.get("container") or {}).get("id") or "", []).append(r)
        live = [q for q in p.processes if not q.exited] if "processes" in include else []
        out = []
        for c in containers:
            seen = activity.get(c.id)
            detail = ContainerDetail(**self._summary(c, seen).__dict__)
            mine = records.get(c.id, [])
            if "syscalls" in include:
                detail.syscalls = _syscalls(mine)
            if "files" in include:
                detail.files = _files(mine)
            if "peers" in include:
                detail.peers = p.peers.of(c.id)
            if "capabilities" in include:
                detail.capabilities = _capabilities(seen.counts if seen else {})
            if "processes" in include:
                cgroups = set(p.registry.cgroups_of(c.id))
                detail.processes = [ProcessInfo(q.pid, q.ppid, q.name, q.executable, list(q.args))
                                    for q in sorted(live, key=lambda q: q.pid) if q.cgroup_id in cgroups]
            out.append(detail)
        return out

    def _find(self, ref: str) -> Container:
        found = [c for c in self.parts.registry.find(ref) if c.id != HOST and self.parts.wants(c.id)]
        if not found:
            raise NotFound(f"no watched container {ref!r}; GET /api/v1/containers lists them")
        if len(found) > 1:
            raise Ambiguous(f"{ref!r} names {len(found)} containers; give more of the id")
        return found[0]

    def _summary(self, c: Container, activity: Any) -> ContainerSummary:
        counts = _counts(activity.counts if activity is not None else {})
        return ContainerSummary(id=c.id, short_id=c.short_id, name=c.name, image=c.image, runtime=c.runtime,
                                state="exited" if self.parts.exited(c.id) else "running", started=c.started,
                                counts=counts)


def _counts(counts: dict[Key, int]) -> Counts:
    out = Counts()
    for key, n in counts.items():
        if hasattr(out, key[0]):
            setattr(out, key[0], getattr(out, key[0]) + n)
    return out


def _syscalls(records: Iterable[dict[str, Any]]) -> list[SyscallCount]:
    totals: dict[str, int] = {}
    for r in records:
        if r["type"] == "syscalls":
            for name, n in r["syscalls"].items():
                totals[name] = totals.get(name, 0) + n
    return [SyscallCount(name, n) for name, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]


def _files(records: Iterable[dict[str, Any]]) -> list[FileActivity]:
    files = [FileActivity((r.get("file") or {}).get("path"), r["opens"], r["reads"], r["writes"], r["bytes_read"],
                          r["bytes_written"])
             for r in records if r["type"] == "file_bytes" and not r.get("runtime_setup")]
    files.sort(key=lambda f: (-(f.bytes_read + f.bytes_written), f.path or ""))
    return files[:FILES_SHOWN]


def _capabilities(counts: dict[Key, int]) -> list[CapabilityUse]:
    return sorted((CapabilityUse(key[1], key[2] == "true", n) for key, n in counts.items()
                   if key[0] == "capability_checks"), key=lambda c: (c.name, not c.granted))


def _alert(alert: dict[str, Any]) -> Alert:
    container = alert.get("container") or {}
    return Alert(alert.get("time"), str(alert.get("rule")), str(alert.get("priority")), str(alert.get("output")),
                 container.get("name") or (container.get("id") or "")[:12] or None, container.get("id"))
