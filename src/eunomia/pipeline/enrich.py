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
from ..context.model import HOST, Container
from ..context.processes import ProcessTable
from ..context.registry import ContainerRegistry
from ..trackers import TrackerDef, formatters
from .clock import BootClock
from .formats import BY_TYPEDEF, wait_status

Event = dict[str, Any]


def container_fields(c: Container) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "image": c.image, "runtime": c.runtime,
            "pod": c.pod, "namespace": c.namespace}


def _place(event: Event, path: str, value: Any) -> None:
    node = event
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if isinstance(value, dict) and isinstance(node.get(leaf), dict):
        node[leaf].update(value)
    else:
        node[leaf] = value


class FieldPlan:
    """For one (tracker, kind): which record fields go where, formatted how."""

    def __init__(self, tracker: TrackerDef, layout: RecordLayout,
                 by_typedef: dict[str, Callable[[Any], Any]]) -> None:
        self.steps: list[tuple[str, str, Callable[[Any], Any] | None]] = []
        for name, target in tracker.fields.items():
            semantic = layout.semantic_of(name)
            present = any(f.name == name for f in layout.fields) or any(r == name for r, _ in layout.refs)
            if not present:
                continue
            self.steps.append((name, target, by_typedef.get(semantic or "")))


class Enricher:
    def __init__(self, registry: ContainerRegistry, processes: ProcessTable, clock: BootClock,
                 proc_root: Path = Path("/proc")) -> None:
        self.registry = registry
        self.processes = processes
        self.clock = clock
        self.proc_root = proc_root
        self._plans: dict[tuple[str, str], FieldPlan] = {}
        self._host_cgroups: set[int] = set()
        self._by_typedef = {**BY_TYPEDEF, "eun_wait_status": wait_status, **formatters()}

    def plan(self, tracker: TrackerDef, kind: str, layout: RecordLayout) -> None:
        self._plans[(tracker.name, kind)] = FieldPlan(tracker, layout, self._by_typedef)

    def container_of(self, cgroup_id: int, pid: int) -> Container:
        if self.registry.is_container_cgroup(cgroup_id) or cgroup_id in self._host_cgroups:
            return self.registry.container_of(cgroup_id)
        # a cgroup the walk and the cgroup tracker did not see (v1-only host,
        # or the filter off): ask /proc once per cgroup
        path = read_proc_cgroup_path(pid, self.proc_root)
        if path is None or self.registry.add_cgroup(cgroup_id, path) is None:
            self._host_cgroups.add(cgroup_id)
        return self.registry.container_of(cgroup_id)

    def enrich(self, tracker: TrackerDef, kind: str, rec: dict[str, Any]) -> Event:
        pid, cgroup_id, ts = rec["task.pid"], rec["task.cgroup_id"], rec["task.ts"]
        container = self.container_of(cgroup_id, pid)
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
        parent = self.processes.get(rec["task.ppid"])
        if parent is not None:
            event["process"]["parent"].update(name=parent.name, executable=parent.executable)
        if rec["task.flags"] & 1:
            event["truncated"] = True
        if plan is not None:
            for name, target, formatter in plan.steps:
                value = rec.get(name)
                if value is None:
                    continue
                _place(event, target, formatter(value) if formatter else value)
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
                               cgroup_id=rec["task.cgroup_id"])

    def _on_fork(self, rec: dict[str, Any], event: Event, container: Container) -> None:
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
