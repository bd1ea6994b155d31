"""Typed views of a recording: index.json and each container's report.json.

The constructors take documents that have already been validated against the
JSON Schemas in eunomia.recording.schema, so they only pick fields; every
string is kept exactly as recorded (escaping is the renderers' job).  The
validated documents themselves are kept too (`document`), for the commands
that read fields the views leave out (eunomia advise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..context.model import split_checks

HOST_ID = "host"


@dataclass(frozen=True)
class Endpoint:
    ip: Optional[str]
    port: Optional[int]
    container: Optional[str]

    @classmethod
    def of(cls, d: dict[str, Any]) -> Endpoint:
        return cls(ip=d["ip"], port=d["port"], container=d["container"])

    @property
    def address(self) -> str:
        ip = self.ip or "?"
        ip = f"[{ip}]" if ":" in ip else ip
        return ip if self.port is None else f"{ip}:{self.port}"


@dataclass(frozen=True)
class ProcessRef:
    pid: Optional[int]
    name: Optional[str]
    executable: Optional[str]

    @classmethod
    def of(cls, d: dict[str, Any]) -> ProcessRef:
        return cls(pid=d["pid"], name=d["name"], executable=d["executable"])

    @property
    def label(self) -> str:
        who = self.name or self.executable or "?"
        return who if self.pid is None else f"{who} ({self.pid})"


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: Optional[str]
    image: Optional[str]
    runtime: Optional[str]
    labels: dict[str, str]
    pod: Optional[str]
    namespace: Optional[str]
    started: Optional[str]
    exited: Optional[str]
    exit_code: Optional[int]

    @classmethod
    def of(cls, d: dict[str, Any]) -> ContainerInfo:
        return cls(id=d["id"], name=d["name"], image=d["image"], runtime=d["runtime"],
                   labels=dict(d["labels"]), pod=d["pod"], namespace=d["namespace"],
                   started=d["started"], exited=d["exited"], exit_code=d["exit_code"])


@dataclass(frozen=True)
class Process:
    pid: int
    parent_pid: Optional[int]
    name: Optional[str]
    executable: Optional[str]
    args: tuple[str, ...]
    working_directory: Optional[str]
    user_id: Optional[int]
    start: Optional[str]
    end: Optional[str]
    exit_code: Optional[int]
    exit_signal: Optional[str]
    exec: bool

    @classmethod
    def of(cls, d: dict[str, Any]) -> Process:
        return cls(pid=d["pid"], parent_pid=d["parent_pid"], name=d["name"], executable=d["executable"],
                   args=tuple(d["args"]), working_directory=d["working_directory"], user_id=d["user_id"],
                   start=d["start"], end=d["end"], exit_code=d["exit_code"], exit_signal=d["exit_signal"],
                   exec=d["exec"])


@dataclass(frozen=True)
class FileActivity:
    path: Optional[str]
    operations: dict[str, int]
    failed: dict[str, dict[str, int]]
    bytes_read: int
    bytes_written: int
    reads: int
    writes: int
    opens: int

    @classmethod
    def of(cls, d: dict[str, Any]) -> FileActivity:
        return cls(path=d["path"], operations=dict(d["operations"]),
                   failed={op: dict(errnos) for op, errnos in d["failed"].items()},
                   bytes_read=d["bytes_read"], bytes_written=d["bytes_written"],
                   reads=d["reads"], writes=d["writes"], opens=d["opens"])

    @property
    def total_bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def failures(self) -> int:
        return sum(sum(errnos.values()) for errnos in self.failed.values())

    @property
    def operation_count(self) -> int:
        """Successful and failed operations together."""
        return sum(self.operations.values()) + self.failures


@dataclass(frozen=True)
class Connection:
    direction: Optional[str]     # "outbound", "inbound" or None (unknown, e.g. UDP)
    transport: str
    source: Endpoint
    destination: Endpoint
    peer_container: Optional[str]
    count: int
    failed: dict[str, int]
    bytes_sent: int
    bytes_received: int

    @classmethod
    def of(cls, d: dict[str, Any]) -> Connection:
        return cls(direction=d["direction"], transport=d["transport"], source=Endpoint.of(d["source"]),
                   destination=Endpoint.of(d["destination"]), peer_container=d["peer_container"],
                   count=d["count"], failed=dict(d["failed"]), bytes_sent=d["bytes_sent"],
                   bytes_received=d["bytes_received"])


@dataclass(frozen=True)
class Listening:
    transport: str
    ip: Optional[str]
    port: Optional[int]

    @classmethod
    def of(cls, d: dict[str, Any]) -> Listening:
        return cls(transport=d["transport"], ip=d["ip"], port=d["port"])


@dataclass(frozen=True)
class SignalRecord:
    direction: str
    signal: str
    origin: Optional[str]
    result: str | int | None
    sender: ProcessRef
    sender_container: Optional[str]
    target: ProcessRef
    target_container: Optional[str]
    count: int

    @classmethod
    def of(cls, d: dict[str, Any]) -> SignalRecord:
        return cls(direction=d["direction"], signal=d["signal"], origin=d["origin"], result=d["result"],
                   sender=ProcessRef.of(d["sender"]), sender_container=d["sender_container"],
                   target=ProcessRef.of(d["target"]), target_container=d["target_container"], count=d["count"])


@dataclass(frozen=True)
class PtraceRecord:
    request: str
    result: str | int | None
    tracer: ProcessRef
    target: ProcessRef
    target_container: Optional[str]
    count: int

    @classmethod
    def of(cls, d: dict[str, Any]) -> PtraceRecord:
        return cls(request=d["request"], result=d["result"], tracer=ProcessRef.of(d["tracer"]),
                   target=ProcessRef.of(d["target"]), target_container=d["target_container"], count=d["count"])


@dataclass(frozen=True)
class UnixConnect:
    path: Optional[str]
    socket_type: Optional[str]
    result: str | int | None
    process: ProcessRef
    target_container: Optional[str]
    count: int

    @classmethod
    def of(cls, d: dict[str, Any]) -> UnixConnect:
        return cls(path=d["path"], socket_type=d["socket_type"], result=d["result"],
                   process=ProcessRef.of(d["process"]), target_container=d["target_container"], count=d["count"])


@dataclass(frozen=True)
class Capability:
    """A capability's checks in a container: the decisions of its own
    processes; probes (a kernel function asking, never failing a call) and
    the runtime's set-up counted apart (older reports: totals only)."""

    name: str
    granted: int
    denied: int
    processes: tuple[str, ...]
    probes: int = 0
    runtime: int = 0

    @staticmethod
    def of(name: str, d: dict[str, Any]) -> "Capability":
        checks = d.get("checks")
        if not checks:
            return Capability(name=name, granted=d["granted"], denied=d["denied"], processes=tuple(d["processes"]))
        decided, probes, runtime = split_checks(checks)
        return Capability(name=name, granted=sum(c.get("granted", 0) for c in decided),
                          denied=sum(c.get("denied", 0) for c in decided),
                          processes=tuple(sorted({str(c.get("process")) for c in decided})),
                          probes=probes, runtime=runtime)

    @property
    def used(self) -> bool:
        """Did the container's own processes get a decision on it?"""
        return bool(self.granted or self.denied)


@dataclass(frozen=True)
class Report:
    """One container's report.json."""

    container: ContainerInfo
    window: tuple[Optional[str], Optional[str]]
    complete: bool
    processes: tuple[Process, ...]
    files: tuple[FileActivity, ...]
    connections: tuple[Connection, ...]
    listening: tuple[Listening, ...]
    signals: tuple[SignalRecord, ...]
    ptrace: tuple[PtraceRecord, ...]
    unix_connects: tuple[UnixConnect, ...]
    capabilities: tuple[Capability, ...]
    syscalls: dict[str, int]
    events: int
    unwritten: int
    dropped: int
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # report.json as validated

    @classmethod
    def of(cls, d: dict[str, Any]) -> Report:
        net = d["network"]
        return cls(
            container=ContainerInfo.of(d["container"]),
            window=(d["window"]["start"], d["window"]["end"]),
            complete=d["complete"],
            processes=tuple(Process.of(p) for p in d["processes"]),
            files=tuple(FileActivity.of(f) for f in d["files"]),
            connections=tuple(Connection.of(c) for c in net["connections"]),
            listening=tuple(Listening.of(x) for x in net["listening"]),
            signals=tuple(SignalRecord.of(s) for s in d["signals"]),
            ptrace=tuple(PtraceRecord.of(p) for p in d["ptrace"]),
            unix_connects=tuple(UnixConnect.of(u) for u in d["unix_connects"]),
            capabilities=tuple(Capability.of(k, v) for k, v in d["capabilities"].items()),
            syscalls=dict(d["syscalls"]),
            events=d["stats"]["events"], unwritten=d["stats"]["unwritten"], dropped=d["stats"]["dropped"],
            document=d)


@dataclass(frozen=True)
class IndexEntry:
    """A container as index.json lists it."""

    id: str
    name: Optional[str]
    image: Optional[str]
    folder: str
    events: int
    unwritten: int

    @classmethod
    def of(cls, d: dict[str, Any]) -> IndexEntry:
        return cls(id=d["id"], name=d["name"], image=d["image"], folder=d["folder"],
                   events=d["events"], unwritten=d["unwritten"])


@dataclass(frozen=True)
class ContainerRecording:
    """A listed container and its report, None when report.json is missing.

    rebuilt: the report was folded again from the folder's events.jsonl (the
    recorder died before writing report.json): the kernel's totals are missing."""

    entry: IndexEntry
    report: Optional[Report]
    path: Path
    rebuilt: bool = False

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def short_id(self) -> str:
        return self.entry.id[:12]

    @property
    def name(self) -> Optional[str]:
        return self.entry.name or (self.report.container.name if self.report else None)

    @property
    def display_name(self) -> str:
        return self.name or self.short_id

    @property
    def image(self) -> Optional[str]:
        return self.entry.image or (self.report.container.image if self.report else None)


@dataclass(frozen=True)
class RunStats:
    trackers: dict[str, dict[str, Any]]
    lost: int
    undecodable: int
    events: int
    unwritten: int
    error: Optional[str]


@dataclass
class Recording:
    """A whole recording directory."""

    path: Path
    tool_version: str
    host: dict[str, str]
    window: tuple[Optional[str], Optional[str]]
    complete: bool
    trackers: tuple[str, ...]
    scope_containers: tuple[str, ...]
    scope_host: bool
    command: Optional[tuple[tuple[str, ...], Optional[int]]]   # (argv, exit code) of a wrapped command
    stats: RunStats
    containers: list[ContainerRecording] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict, repr=False)  # index.json as validated (or rebuilt)
    index_rebuilt: bool = False   # there was no index.json: made from the folders (host, trackers unknown)

    @classmethod
    def of(cls, path: Path, d: dict[str, Any]) -> Recording:
        s = d["stats"]
        cmd = d["command"]
        return cls(path=path, tool_version=d["tool"]["version"], host=dict(d["host"]),
                   window=(d["window"]["start"], d["window"]["end"]), complete=d["complete"],
                   trackers=tuple(d["trackers"]), scope_containers=tuple(d["scope"]["containers"]),
                   scope_host=d["scope"]["host"],
                   command=None if cmd is None else (tuple(cmd["argv"]), cmd["exit_code"]),
                   stats=RunStats(trackers=dict(s["trackers"]), lost=s["lost"], undecodable=s["undecodable"],
                                  events=s["events"], unwritten=s["unwritten"], error=s.get("error")),
                   document=d)
