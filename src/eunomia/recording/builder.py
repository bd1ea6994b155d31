"""One container's report (schema/report.schema.json), folded from its events.

Streamed events (exec, file, network, signal … events) are folded as they
arrive.  Aggregates the kernel keeps (bytes per file, UDP peers,
capability checks, syscall counts) are totals read from BPF maps: each
reading replaces the previous one.

A folder whose report.json was never written (the recorder was killed
before its first checkpoint) is folded again from its events.jsonl
(fold_folder): without the aggregates, which only the kernel had.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from ..context.model import HOST, is_runtime_setup
from . import SCHEMA_VERSION
from .files import bounded_lines, open_regular
from .processes import ProcessFold

Event = dict[str, Any]

# file event type → the operation counted on file.path
FILE_OPERATIONS = {
    "unlink": "delete", "rmdir": "rmdir", "rename": "rename", "chmod": "chmod", "chown": "chown",
    "mkdir": "mkdir", "symlink": "symlink", "link": "link", "truncate": "truncate",
}
AGGREGATE_TYPES = ("file_bytes", "udp_peers", "capabilities", "syscalls")
def container_label(container: dict[str, Any] | None) -> str | None:
    """How a report names another container: its name, else its short id; `host`."""
    if not container:
        return None
    if container.get("id") == HOST:
        return HOST
    return container.get("name") or (container.get("id") or "")[:12] or None


def _process_ref(process: dict[str, Any] | None) -> dict[str, Any]:
    process = process or {}
    return {"pid": process.get("pid"), "name": process.get("name"), "executable": process.get("executable")}


def open_operations(flags: list[str]) -> list[str]:
    operations = []
    if "read" in flags:
        operations.append("open_read")
    if "write" in flags:
        operations.append("open_write")
    if not operations:
        operations.append("open_path")  # O_PATH: a handle, no access
    if "create" in flags or "tmpfile" in flags:
        operations.append("create")
    if "truncate" in flags:
        operations.append("truncate")
    return operations


def _endpoint(end: dict[str, Any] | None, with_port: bool = True) -> dict[str, Any]:
    end = end or {}
    return {"ip": end.get("ip"), "port": end.get("port") if with_port else None, "container": end.get("container")}


def _new_file(path: str | None) -> dict[str, Any]:
    return {"path": path, "operations": {}, "failed": {}, "bytes_read": 0, "bytes_written": 0,
            "reads": 0, "writes": 0, "opens": 0}


def _bump(counts: dict[str, int], key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


class ContainerReport:
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        self.processes = ProcessFold()
        self._files: dict[str, dict[str, Any]] = {}
        self._connections: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._listening: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._signals: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._ptrace: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._unix: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._aggregates: list[Event] = []
        self.runtime_events = 0

    # -- streamed events ------------------------------------------------------
    def add(self, event: Event) -> None:
        kind = event.get("type")
        if is_runtime_setup(event):
            self.runtime_events += 1  # kept in events.jsonl, not part of the workload's report
            return
        if kind in ("fork", "exec", "exit"):
            self.processes.add(event)
        elif kind == "open" or kind in FILE_OPERATIONS:
            self._file(event)
        elif kind in ("connect", "accept", "close"):
            self._connection(event)
        elif kind in ("bind", "listen"):
            self._listen(event)
        elif kind == "signal":
            self._signal(event)
        elif kind == "ptrace":
            self._count(self._ptrace, {
                "request": (event.get("ptrace") or {}).get("request") or "", "result": event.get("result"),
                "tracer": _process_ref(event.get("process")),
                "target": _process_ref((event.get("target") or {}).get("process")),
                "target_container": container_label((event.get("target") or {}).get("container"))})
        elif kind == "unix_connect":
            unix = event.get("unix") or {}
            self._count(self._unix, {
                "path": unix.get("path"), "socket_type": unix.get("socket_type"), "result": event.get("result"),
                "process": _process_ref(event.get("process")),
                "target_container": container_label((event.get("target") or {}).get("container"))})

    def _file_entry(self, path: str) -> dict[str, Any]:
        entry = self._files.get(path)
        if entry is None:
            entry = self._files[path] = _new_file(path)
        return entry

    def _file(self, event: Event) -> None:
        file = event.get("file") or {}
        path = file.get("path")
        if path is None:
            return
        kind = event["type"]
        operations = open_operations(file.get("flags") or []) if kind == "open" else [FILE_OPERATIONS[kind]]
        entry = self._file_entry(path)
        result = event.get("result")
        if isinstance(result, str):  # an errno name: the call failed
            for operation in operations[:1]:
                _bump(entry["failed"].setdefault(operation, {}), result)
            return
        for operation in operations:
            _bump(entry["operations"], operation)
        if kind == "rename" and file.get("target_path"):
            _bump(self._file_entry(file["target_path"])["operations"], "rename_target")

    def _connection(self, event: Event) -> None:
        network = event.get("network") or {}
        direction = network.get("direction")
        source, destination = event.get("source") or {}, event.get("destination") or {}
        peer = destination.get("container") if direction == "outbound" else source.get("container")
        key = (direction, network.get("transport"), source.get("ip"), source.get("container"),
               destination.get("ip"), destination.get("port"), destination.get("container"))
        entry = self._connections.get(key)
        if entry is None:
            entry = self._connections[key] = {
                "direction": direction, "transport": network.get("transport") or "tcp",
                # the client's port is ephemeral: connections are grouped without it
                "source": _endpoint(source, with_port=False), "destination": _endpoint(destination),
                "peer_container": peer, "count": 0, "failed": {}, "bytes_sent": 0, "bytes_received": 0}
        if event["type"] == "close":
            entry["bytes_sent"] += network.get("bytes_sent") or 0
            entry["bytes_received"] += network.get("bytes_received") or 0
        elif event.get("result") == 0:
            entry["count"] += 1
        else:
            _bump(entry["failed"], str(event.get("result")))

    def _listen(self, event: Event) -> None:
        transport = (event.get("network") or {}).get("transport")
        # TCP servers listen; a bound UDP socket receives without listen()
        if event.get("result") != 0 or (event["type"], transport) not in (("listen", "tcp"), ("bind", "udp")):
            return
        source = event.get("source") or {}
        key = (transport, source.get("ip"), source.get("port"))
        self._listening.setdefault(key, {"transport": transport, "ip": source.get("ip"), "port": source.get("port")})

    def _signal(self, event: Event) -> None:
        target = event.get("target") or {}
        acting = (event.get("container") or {}).get("id")
        signal = event.get("signal") or {}
        self._count(self._signals, {
            "direction": "sent" if acting == self.container_id else "received",
            "signal": signal.get("name") or "", "origin": signal.get("origin"), "result": event.get("result"),
            "sender": _process_ref(event.get("process")),
            "sender_container": container_label(event.get("container")),
            "target": _process_ref(target.get("process")),
            "target_container": container_label(target.get("container"))})

    @staticmethod
    def _count(table: dict[tuple[Any, ...], dict[str, Any]], fields: dict[str, Any]) -> None:
        key = tuple(tuple(v.values()) if isinstance(v, dict) else v for v in fields.values())
        entry = table.get(key)
        if entry is None:
            entry = table[key] = {**fields, "count": 0}
        entry["count"] += 1

    # -- kernel aggregates ------------------------------------------------------
    def set_aggregates(self, records: list[Event]) -> None:
        """This container's aggregate records, read from the kernel just now."""
        self._aggregates = [r for r in records if r.get("type") in AGGREGATE_TYPES]

    def _files_with_bytes(self) -> list[dict[str, Any]]:
        files = {path: {**entry, "operations": dict(entry["operations"])} for path, entry in self._files.items()}
        unnamed: list[dict[str, Any]] = []
        for record in self._aggregates:
            if record["type"] != "file_bytes" or record.get("runtime_setup"):
                continue  # a file only the runtime's set-up opened is not the workload's
            path = (record.get("file") or {}).get("path")
            if path is None:  # open before the recording began
                entry = _new_file(None)
                unnamed.append(entry)
            else:
                entry = files.setdefault(path, _new_file(path))
            for key in ("bytes_read", "bytes_written", "reads", "writes", "opens"):
                entry[key] += record.get(key) or 0
        return sorted(files.values(), key=lambda f: f["path"]) + unnamed

    def _udp_connections(self) -> list[dict[str, Any]]:
        out = []
        for record in self._aggregates:
            if record["type"] != "udp_peers":
                continue
            destination = _endpoint(record.get("destination"))
            out.append({"direction": None, "transport": "udp",
                        "source": {"ip": None, "port": None, "container": container_label(record.get("container"))},
                        "destination": destination, "peer_container": destination["container"],
                        "count": (record.get("packets_sent") or 0) + (record.get("packets_received") or 0),
                        "failed": {}, "bytes_sent": record.get("bytes_sent") or 0,
                        "bytes_received": record.get("bytes_received") or 0})
        return out

    def _aggregate(self, kind: str, field: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for record in self._aggregates:
            if record["type"] == kind:
                merged.update(record.get(field) or {})
        return merged

    # -- output ---------------------------------------------------------------
    def to_dict(self, container: dict[str, Any], window: dict[str, Any], stats: dict[str, int],
                complete: bool) -> dict[str, Any]:
        stats = {**stats, "runtime_events": self.runtime_events}
        return {
            "schema_version": SCHEMA_VERSION,
            "complete": complete,
            "container": container,
            "window": window,
            "processes": [dict(p) for p in self.processes.entries],
            "files": self._files_with_bytes(),
            "network": {
                "connections": [dict(c) for c in self._connections.values()] + self._udp_connections(),
                "listening": sorted(self._listening.values(), key=lambda l: (l["transport"], l["port"] or 0)),
            },
            "signals": [dict(s) for s in self._signals.values()],
            "ptrace": [dict(p) for p in self._ptrace.values()],
            "unix_connects": [dict(u) for u in self._unix.values()],
            "capabilities": self._aggregate("capabilities", "capabilities"),
            "syscalls": self._aggregate("syscalls", "syscalls"),
            "runtime_syscalls": self._aggregate("syscalls", "runtime_syscalls"),
            "stats": stats,
        }


# -- folding events.jsonl again -----------------------------------------------------------------------

EVENTS = "events.jsonl"
INT_RANGE = (-(1 << 63), (1 << 64) - 1)


@dataclass
class Folded:
    """A container folder's events.jsonl, folded again."""

    folder: str
    container_id: str
    container: dict[str, Any]     # the container object of its events
    report: ContainerReport | None
    events: int = 0               # lines folded
    skipped: int = 0              # lines that are not events, or do not fold
    start: str | None = None      # the first and last event's time
    end: str | None = None

    @classmethod
    def unread(cls, folder: str) -> Folded:
        return cls(folder, folder.rsplit("-", 1)[-1], {}, None)

    def text(self, key: str) -> str | None:
        value = self.container.get(key)
        return value if isinstance(value, str) else None


def fold_folder(folder: Path) -> Folded | None:
    """The folder's events.jsonl folded into a report; None when it cannot be read.
    Lines that are not events (damaged, cut by a kill) are skipped and counted."""
    path = folder / EVENTS
    short = folder.name.rsplit("-", 1)[-1]
    try:
        with contextlib.closing(_read_events(path)) as events:
            container = _owner(short, events)
        report = ContainerReport(container["id"] if container else short)
        folded = Folded(folder.name, report.container_id, container, report)
        for event in _read_events(path):
            try:
                if not _is_event(event, 0):
                    raise ValueError("not an event")
                report.add(event)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError):
                folded.skipped += 1
                continue
            folded.events += 1
            folded.start = min(folded.start or event["time"], event["time"])
            folded.end = max(folded.end or event["time"], event["time"])
    except OSError:
        return None
    return folded


def _read_events(path: Path) -> Iterator[Any]:
    with open_regular(path) as f:
        for line in bounded_lines(f):
            if line is None:  # longer than any event: damaged
                yield None
                continue
            if not line.strip():
                continue
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                try:  # a lone surrogate escape, an integer over 64 bits
                    yield json.loads(line)
                except (ValueError, RecursionError):
                    yield None


def _owner(short: str, events: Iterable[Any]) -> dict[str, Any]:
    """The container the folder is of: the one whose id starts with the folder's short id
    (a folder also holds signals and connects from other containers)."""
    first: dict[str, Any] = {}
    for event in events:
        target = event.get("target") if isinstance(event, dict) else None
        for container in (event.get("container") if isinstance(event, dict) else None,
                          target.get("container") if isinstance(target, dict) else None):
            if isinstance(container, dict) and isinstance(container.get("id"), str):
                if container["id"][:12] == short:
                    return container
                first = first or container
    return first


def _is_event(value: Any, depth: int) -> bool:
    """Event-shaped, shallow, with numbers a report can hold."""
    if depth == 0 and not (isinstance(value, dict) and isinstance(value.get("type"), str)
                           and isinstance(value.get("time"), str) and isinstance(value.get("container"), dict)
                           and isinstance(value.get("process"), dict)
                           and type(value["process"].get("pid")) is int):
        return False
    if isinstance(value, (dict, list)):
        return depth < 8 and all(_is_event(v, depth + 1) for v in (value.values() if isinstance(value, dict)
                                                                   else value))
    if isinstance(value, float):
        return math.isfinite(value) and INT_RANGE[0] <= value <= INT_RANGE[1]
    return not isinstance(value, int) or INT_RANGE[0] <= value <= INT_RANGE[1]


def rebuilt_report(folded: Folded, start: str | None, unwritten: int, dropped: int) -> dict[str, Any]:
    """report.json as the folded events make it (complete=false: a checkpoint that was never written)."""
    assert folded.report is not None
    container = {"id": folded.container_id, "name": folded.text("name"), "image": folded.text("image"),
                 "runtime": folded.text("runtime"), "labels": {}, "pod": folded.text("pod"),
                 "namespace": folded.text("namespace"), "started": None, "exited": None, "exit_code": None}
    return folded.report.to_dict(container, {"start": start or folded.start, "end": folded.end},
                                 {"events": folded.events, "unwritten": unwritten, "dropped": dropped}, False)


def rebuilt_index(folds: list[Folded]) -> dict[str, Any]:
    """index.json as the folders make it, when the recorder died before writing one."""
    entries: dict[str, dict[str, Any]] = {}
    for f in folds:
        entries.setdefault(f.container_id, {"id": f.container_id, "name": f.text("name"), "image": f.text("image"),
                                            "folder": f.folder, "events": f.events, "unwritten": 0})
    unknown = "unknown"
    return {
        "schema_version": SCHEMA_VERSION, "tool": {"name": "eunomia", "version": unknown},
        "host": {"hostname": unknown, "kernel": unknown, "machine": unknown},
        "window": {"start": min((f.start for f in folds if f.start), default=None),
                   "end": max((f.end for f in folds if f.end), default=None)},
        "complete": False, "trackers": [], "scope": {"containers": [], "host": False}, "command": None,
        "containers": list(entries.values()),
        "stats": {"trackers": {}, "lost": 0, "undecodable": 0, "events": sum(f.events for f in folds),
                  "unwritten": 0},
    }
