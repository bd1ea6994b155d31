"""Decoded records → enriched events (the JSON documented in docs/events.md).

Every record starts with struct eun_task (who did it); the enricher adds the
container (from the cgroup id) and what the process table knows, then
places the tracker's own fields where its TrackerDef says, formatted by
their C typedef.  Process lifecycle records (fork, exec, exit) also keep the
process table current.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any, Callable

from ..bpf.layout import RecordLayout
from ..context.cgroups import read_proc_cgroup_path
from ..context.model import HOST, HOST_CONTAINER, Container, container_fields, is_runtime_process
from ..context.processes import ProcessTable
from ..context.registry import ContainerRegistry
from ..trackers import TrackerDef, formatters
from .clock import BootClock
from .emitters import Emitter, EmitterContext, compile_emitter
from .formats import BY_TYPEDEF, cap_set, wait_status

Event = dict[str, Any]
FLAG_TRUNCATED, FLAG_PATH_PARTIAL = 1, 2  # enum eun_event_flags


class FieldPlan:
    """For one (tracker, kind): which record fields go where, formatted how:
    (record field, parent keys, leaf key, formatter), targets split once."""

    def __init__(self, tracker: TrackerDef, layout: RecordLayout,
                 by_typedef: dict[str, Callable[[Any], Any]]) -> None:
        self.placed: list[tuple[str, tuple[str, ...], str, Callable[[Any], Any] | None]] = []
        for name, target in tracker.fields.items():
            semantic = layout.semantic_of(name)
            present = any(f.name == name for f in layout.fields) or any(r == name for r, _ in layout.refs)
            if not present:
                continue
            formatter = by_typedef.get(semantic or "")
            *parents, leaf = target.split(".")
            self.placed.append((name, tuple(parents), leaf, formatter))

    def apply(self, rec: dict[str, Any], event: Event) -> None:
        """Place the record's fields; a formatted dict is merged into a dict
        already there (wait_status → process.exit_code, process.exit_signal).
        Kept plain: it is the reference the compiled emitters are tested against."""
        for name, parents, leaf, formatter in self.placed:
            value = rec.get(name)
            if value is None:
                continue
            if formatter is not None:
                value = formatter(value)
            node = event
            for key in parents:
                node = node.setdefault(key, {})
            if isinstance(value, dict) and isinstance(node.get(leaf), dict):
                node[leaf].update(value)
            else:
                node[leaf] = value


class Enricher:
    def __init__(self, registry: ContainerRegistry, processes: ProcessTable, clock: BootClock,
                 proc_root: Path = Path("/proc"), cgroup_root: Path | None = None,
                 keyed_by_mntns: bool = False, compiled: bool = True) -> None:
        self.registry = registry
        self.processes = processes
        self.clock = clock
        self.proc_root = proc_root
        self.cgroup_root = cgroup_root  # the cgroup v2 mount, to check paths against ids
        self.keyed_by_mntns = keyed_by_mntns  # v1-only hosts: no cgroup v2 ids
        self._by_mntns: dict[int, Container] = {}
        self._plans: dict[tuple[str, str], FieldPlan] = {}
        self.compiled = compiled  # False: every record takes the generic path (the reference)
        self._emitters: dict[tuple[str, str], Emitter] = {}
        self._emitter_context = EmitterContext(
            container_of=self.container_of,
            known_cgroups=None if keyed_by_mntns else registry.cgroup_table(), processes_get=processes.get,
            process_table=processes, process_blocks={}, process_blocks_seen=[-1], rfc3339=clock.rfc3339,
            add_known_process=self._add_known_process, registry=registry, lifecycle_of=self.lifecycle_of,
            owner=self)
        self._host_cgroups: set[int] = set()
        self._by_typedef = {**BY_TYPEDEF, "eun_wait_status": wait_status, **formatters()}

    def plan(self, tracker: TrackerDef, kind: str, layout: RecordLayout) -> None:
        plan = self._plans[(tracker.name, kind)] = FieldPlan(tracker, layout, self._by_typedef)
        if self.compiled:
            emitter = compile_emitter(self._emitter_context, tracker, kind, layout, plan.placed)
            if emitter is not None:
                self._emitters[(tracker.name, kind)] = emitter

    @staticmethod
    def lifecycle_of(kind: str) -> Callable[["Enricher", dict[str, Any], Event, Container], None] | None:
        """The process-table handler of a lifecycle kind (exec, fork, exit), else None."""
        return _LIFECYCLE.get(kind)

    def emitter(self, tracker: TrackerDef, kind: str) -> Emitter | None:
        """record → (kind, event) for this (tracker, kind), compiled at plan
        time; None where the generic decode + enrich() path serves."""
        return self._emitters.get((tracker.name, kind))

    def container_of(self, cgroup_id: int, pid: int, mntns: int = 0) -> Container:
        if self.keyed_by_mntns:
            return self._container_by_mntns(mntns, pid)
        if self.registry.is_container_cgroup(cgroup_id) or cgroup_id in self._host_cgroups:
            return self.registry.container_of(cgroup_id)
        # a cgroup the walk and the cgroup tracker did not see (v1-only host,
        # a lost cgroup_mkdir record, the filter off): ask /proc.  A process
        # already gone tells nothing: ask again on the next event.
        path = read_proc_cgroup_path(pid, self.proc_root)
        if path is None or not self._path_is_cgroup(path, cgroup_id):
            return self.registry.container_of(cgroup_id)
        if self.registry.add_cgroup(cgroup_id, path) is None:
            self._host_cgroups.add(cgroup_id)
        return self.registry.container_of(cgroup_id)

    def _container_by_mntns(self, mntns: int, pid: int) -> Container:
        """v1-only hosts: every task has the root v2 cgroup id, so the key is
        the mount namespace (one per container), resolved through /proc."""
        known = self._by_mntns.get(mntns)
        if known is not None:
            return known
        path = read_proc_cgroup_path(pid, self.proc_root)
        if path is None:
            return HOST_CONTAINER  # gone: ask again next time
        container = self.registry.container_at_path(path) or HOST_CONTAINER
        self._by_mntns[mntns] = container
        return container

    def _path_is_cgroup(self, path: str, cgroup_id: int) -> bool:
        """Does the v2 path name this cgroup id (its directory inode)?  Guards
        against a reused pid answering for another process."""
        if self.cgroup_root is None:
            return True
        try:
            return (self.cgroup_root / path.lstrip("/")).stat().st_ino == cgroup_id
        except OSError:
            return False

    def enrich(self, tracker: TrackerDef, kind: str, rec: dict[str, Any]) -> Event:
        pid, cgroup_id, ts = rec["task.pid"], rec["task.cgroup_id"], rec["task.ts"]
        container = self.container_of(cgroup_id, pid, rec["task.mntns"])
        plan = self._plans.get((tracker.name, kind))
        event: Event = {
            "time": self.clock.rfc3339(ts),
            # one layout may serve several kinds: an enum field `op` names it
            "type": rec.get("op", kind),
            "container": container_fields(container),
            "process": {"pid": pid, "tid": rec["task.tid"], "parent": {"pid": rec["task.ppid"]},
                        "name": rec["task.comm"]},
            "user": {"id": rec["task.uid"]},
            "group": {"id": rec["task.gid"]},
        }
        caps = rec.get("task.cap_effective")
        if caps is not None:
            event["process"]["cap_effective"] = cap_set(caps)
        if is_runtime_process(event["process"]["name"]):  # the container runtime setting the container up
            event["process"]["runtime_setup"] = True
        parent = self.processes.get(rec["task.ppid"])
        if parent is not None:
            event["process"]["parent"].update(name=parent.name, executable=parent.executable)
        if rec["task.flags"] & FLAG_TRUNCATED:
            event["truncated"] = True
        if rec["task.flags"] & FLAG_PATH_PARTIAL:
            event["path_partial"] = True
        if plan is not None:
            plan.apply(rec, event)
        lifecycle = _LIFECYCLE.get(kind)
        if lifecycle is not None:
            lifecycle(self, rec, event, container)
        else:
            self._add_known_process(event, pid)
        if tracker.post_enrich is not None:
            tracker.post_enrich(event, self.registry)
        return event

    def _add_known_process(self, event: Event, pid: int) -> None:
        proc = self.processes.get(pid)
        process = event["process"]
        process.setdefault("executable", proc.executable if proc else None)
        process.setdefault("args", proc.args if proc else [])
        process.setdefault("working_directory", proc.cwd if proc else None)

    def _on_exec(self, rec: dict[str, Any], event: Event, container: Container) -> None:
        process = event["process"]
        if rec["result"] < 0:
            # a failed execve: the program it tried to run, made absolute
            attempted = process.pop("command_path", None) or ""
            cwd = process.get("working_directory") or "/"
            process["executable"] = posixpath.normpath(posixpath.join(cwd, attempted)) if attempted else None
            return
        process.pop("command_path", None)
        self.processes.on_exec(rec["task.pid"], rec["task.ppid"], name=rec["task.comm"],
                               executable=process.get("executable"), args=process.get("args", []),
                               cwd=process.get("working_directory"), uid=rec["task.uid"], ts=rec["task.ts"],
                               cgroup_id=rec["task.cgroup_id"], tty=rec.get("tty", 0),
                               exe_flags=rec.get("exe_flags", 0),
                               loginuid=(event.get("user") or {}).get("login_id", -1))

    def _on_fork(self, rec: dict[str, Any], event: Event, container: Container) -> None:
        self._add_known_process(event, rec["task.pid"])  # the program the child inherits
        self.processes.on_fork(rec["task.pid"], rec["child_pid"], rec["task.ts"], rec["task.cgroup_id"])

    def _on_exit(self, rec: dict[str, Any], event: Event, container: Container) -> None:
        self._add_known_process(event, rec["task.pid"])
        self.processes.on_exit(rec["task.pid"])


_LIFECYCLE: dict[str, Callable[[Enricher, dict[str, Any], Event, Container], None]] = {
    "exec": Enricher._on_exec,
    "fork": Enricher._on_fork,
    "exit": Enricher._on_exit,
}

__all__ = ["Enricher", "Event", "HOST", "container_fields"]
