"""The behaviour of a container: the programs it ran, the directories it
wrote in, the peers it called, the syscalls it made.

One notion for `eunomia advise` (the syscalls a profile must allow) and for
drift (`eunomia run --baseline DIR`: what a container does beyond its
recorded behaviour).  A recorded report (report.json) gives a Behaviour; a
live event gives the observations it stands for, in the same terms, so a
recording and the same events seen live agree (tests/unit/test_behaviour.py
folds one set of events both ways).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..context.model import is_runtime_setup
from ..recording.builder import FILE_OPERATIONS, open_operations

Event = dict[str, Any]

# the file operations of a report that change what is in a directory (or a file in it)
WRITE_OPERATIONS = frozenset({"open_write", "create", "truncate", "delete", "rmdir", "rename", "rename_target",
                              "chmod", "chown", "mkdir", "symlink", "link"})
PROGRAM, WRITE_DIR, PEER, SYSCALL = "program", "write_dir", "peer", "syscall"


@dataclass(frozen=True)
class Peer:
    """Whom a container called: the peer container's name, else its address."""

    transport: str
    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}/{self.transport}" if self.port is not None else f"{host}/{self.transport}"


@dataclass(frozen=True, order=True)
class Program:
    """What ran: the executable and the name the process took (comm).  Both
    matter: a multi-call binary (busybox as `nc` or as `sh`) and an
    interpreter's scripts (python3 as `app.py`) are one executable each."""

    executable: str
    name: str

    def __str__(self) -> str:
        base = posixpath.basename(self.executable)
        return self.executable if not self.name or self.name == base[:15] else f"{self.executable} (as {self.name})"


Observation = tuple[str, Any]   # (PROGRAM, Program), (WRITE_DIR, "/tmp"), (PEER, Peer), (SYSCALL, "openat")


@dataclass
class Behaviour:
    programs: set[Program] = field(default_factory=set)
    write_dirs: set[str] = field(default_factory=set)
    peers: set[Peer] = field(default_factory=set)
    syscalls: dict[str, int] = field(default_factory=dict)   # the workload's calls → how many
    runtime_syscalls: set[str] = field(default_factory=set)  # the runtime's, after the container's filter
    # every recording merged had the syscall tracker on (None: nothing merged yet): else no profile
    syscalls_recorded: bool | None = None

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> "Behaviour":
        """From a validated report.json (the runtime's own set-up is already left out of it)."""
        behaviour = cls()
        for process in report.get("processes") or ():
            if process.get("executable"):
                behaviour.programs.add(Program(process["executable"], process.get("name") or ""))
        for file in report.get("files") or ():
            if file.get("path") is not None and WRITE_OPERATIONS.intersection(file.get("operations") or {}):
                behaviour.write_dirs.add(posixpath.dirname(file["path"]))
        for connection in (report.get("network") or {}).get("connections") or ():
            if connection.get("direction") in ("outbound", None):  # None: UDP peers, counted by the kernel
                peer = _peer(connection.get("transport"), connection.get("destination"))
                if peer is not None:
                    behaviour.peers.add(peer)
        behaviour.syscalls = dict(report.get("syscalls") or {})
        behaviour.runtime_syscalls = set(report.get("runtime_syscalls") or ())
        behaviour.syscalls_recorded = bool(behaviour.syscalls)
        return behaviour

    def add(self, other: "Behaviour") -> "Behaviour":
        """Another recording of the same workload: the behaviour is what either did."""
        self.programs |= other.programs
        self.write_dirs |= other.write_dirs
        self.peers |= other.peers
        for name, n in other.syscalls.items():
            self.syscalls[name] = self.syscalls.get(name, 0) + n
        self.runtime_syscalls |= other.runtime_syscalls
        if other.syscalls_recorded is not None:
            self.syscalls_recorded = other.syscalls_recorded and self.syscalls_recorded is not False
        return self

    def knows(self, observation: Observation) -> bool:
        aspect, key = observation
        if aspect == PROGRAM:
            return key in self.programs
        if aspect == WRITE_DIR:
            return key in self.write_dirs
        if aspect == PEER:
            return key in self.peers
        return key in self.syscalls or key in self.runtime_syscalls

    def ports_of(self, host: str) -> list[int]:
        return sorted({p.port for p in self.peers if p.host == host and p.port is not None})


def _peer(transport: str | None, end: dict[str, Any] | None) -> Peer | None:
    end = end or {}
    host = end.get("container") or end.get("ip")
    return None if host is None else Peer(transport or "tcp", str(host), end.get("port"))


def observations(event: Event) -> list[Observation]:
    """What a live event shows of the container's behaviour (nothing for the runtime's set-up)."""
    kind = event.get("type")
    if kind not in ("exec", "connect", "open") and kind not in FILE_OPERATIONS or is_runtime_setup(event):
        return []
    result = event.get("result")
    if kind == "connect":
        if (event.get("network") or {}).get("direction") != "outbound":
            return []
        peer = _peer((event.get("network") or {}).get("transport"), event.get("destination"))
        return [] if peer is None else [(PEER, peer)]  # tried, even when refused: a call all the same
    if isinstance(result, str):  # an errno name: it did not happen
        return []
    if kind == "exec":
        process = event.get("process") or {}
        executable = process.get("executable")
        return [(PROGRAM, Program(executable, process.get("name") or ""))] if executable else []
    file = event.get("file") or {}
    path = file.get("path")
    operations = open_operations(file.get("flags") or []) if kind == "open" else [FILE_OPERATIONS[kind]]
    if path is None or not WRITE_OPERATIONS.intersection(operations):
        return []
    found = [(WRITE_DIR, posixpath.dirname(path))]
    if kind == "rename" and file.get("target_path"):
        found.append((WRITE_DIR, posixpath.dirname(file["target_path"])))
    return found


def syscall_observations(records: Iterable[Event]) -> dict[str, tuple[Event, list[Observation]]]:
    """Per container id: its `syscalls` aggregate record and the syscalls it shows."""
    found: dict[str, tuple[Event, list[Observation]]] = {}
    for record in records:
        if record.get("type") == "syscalls":
            cid = str((record.get("container") or {}).get("id"))
            found[cid] = (record, [(SYSCALL, name) for name in record.get("syscalls") or {}])
    return found
