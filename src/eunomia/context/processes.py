"""The process table: pid → what the process runs, where, and its parent.

Seeded from /proc when tracing starts, then kept current by the exec
tracker's fork, exec and exit events, so an exit event (which carries only
pid and code) can say what exited, and any event can name its ancestors.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..bpf.layout import decode_argv


@dataclass(slots=True)
class Process:
    pid: int
    ppid: int
    name: str = ""                        # comm
    executable: str | None = None
    args: list[str] = field(default_factory=list)
    cwd: str | None = None
    uid: int | None = None
    start_ns: int | None = None           # CLOCK_MONOTONIC ns, when known
    cgroup_id: int | None = None
    exited: bool = False
    tty: int = 0                          # tty_nr of the controlling terminal, 0: none
    exe_flags: int | None = 0             # enum eun_exe_flag: upper layer, memfd; None: unknown (read from /proc)
    loginuid: int = -1                    # audit login uid, -1: not set


class ProcessTable:
    """Live processes plus a bounded memory of exited ones."""

    def __init__(self, max_exited: int = 8192) -> None:
        self._live: dict[int, Process] = {}
        self._exited: OrderedDict[int, Process] = OrderedDict()
        self._max_exited = max_exited
        self.version = 0  # +1 at every change: what was read from the table may be stale

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[Process]:
        return iter(list(self._live.values()))

    def get(self, pid: int) -> Process | None:
        return self._live.get(pid) or self._exited.get(pid)

    def put(self, proc: Process) -> Process:
        self.version += 1
        self._exited.pop(proc.pid, None)
        self._live[proc.pid] = proc
        return proc

    def on_fork(self, parent_pid: int, child_pid: int, ts: int, cgroup_id: int | None) -> Process:
        parent = self._live.get(parent_pid)
        child = Process(pid=child_pid, ppid=parent_pid, start_ns=ts, cgroup_id=cgroup_id)
        if parent is not None:  # a fork runs the parent's image until it execs
            child.name, child.executable = parent.name, parent.executable
            child.args, child.cwd, child.uid = list(parent.args), parent.cwd, parent.uid
            child.tty, child.exe_flags, child.loginuid = parent.tty, parent.exe_flags, parent.loginuid
        return self.put(child)

    def on_exec(self, pid: int, ppid: int, *, name: str, executable: str | None, args: list[str],
                cwd: str | None, uid: int, ts: int, cgroup_id: int | None, tty: int = 0,
                exe_flags: int = 0, loginuid: int = -1) -> Process:
        proc = self._live.get(pid)
        if proc is None:
            proc = Process(pid=pid, ppid=ppid, start_ns=ts)
        proc.ppid, proc.name, proc.executable, proc.args = ppid, name, executable, args
        proc.cwd, proc.uid, proc.cgroup_id = cwd, uid, cgroup_id
        proc.tty, proc.exe_flags, proc.loginuid = tty, exe_flags, loginuid
        return self.put(proc)

    def on_exit(self, pid: int) -> Process | None:
        self.version += 1
        proc = self._live.pop(pid, None)
        if proc is None:
            return self._exited.get(pid)
        proc.exited = True
        self._exited[pid] = proc
        while len(self._exited) > self._max_exited:
            self._exited.popitem(last=False)
        return proc

    def ancestors(self, pid: int, limit: int = 64) -> list[Process]:
        """Parent, grandparent, … as far as known (stops at loops and pid 0)."""
        chain: list[Process] = []
        seen = {pid}
        proc = self.get(pid)
        while proc is not None and len(chain) < limit:
            parent = self.get(proc.ppid)
            if parent is None or parent.pid in seen:
                break
            chain.append(parent)
            seen.add(parent.pid)
            proc = parent
        return chain

    def seed(self, proc_root: Path = Path("/proc")) -> int:
        """Add every process /proc shows; returns how many were read."""
        count = 0
        try:
            entries = list(os.scandir(proc_root))
        except OSError:
            return 0
        for entry in entries:
            if entry.name.isdigit():
                proc = read_proc_process(int(entry.name), proc_root)
                if proc is not None and proc.pid not in self._live:
                    self.put(proc)
                    count += 1
        return count


def _parse_stat(text: str) -> tuple[str, int, int, int] | None:
    """(comm, ppid, starttime in clock ticks, tty_nr) from /proc/<pid>/stat.

    comm is in parentheses and may itself hold spaces and parentheses, so
    the fields after it are found from the last ')'.
    """
    open_at, close_at = text.find("("), text.rfind(")")
    if open_at < 0 or close_at < open_at:
        return None
    fields = text[close_at + 2 :].split()
    try:
        return text[open_at + 1 : close_at], int(fields[1]), int(fields[19]), int(fields[4])
    except (IndexError, ValueError):
        return None


def _readlink(path: Path) -> str | None:
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return target.removesuffix(" (deleted)")


def read_proc_process(pid: int, proc_root: Path = Path("/proc")) -> Process | None:
    """One process from /proc, or None if it is gone (or is a kernel thread)."""
    base = proc_root / str(pid)
    try:
        parsed = _parse_stat((base / "stat").read_text(errors="backslashreplace"))
        cmdline = (base / "cmdline").read_bytes()
        status = (base / "status").read_text(errors="replace")
    except OSError:
        return None
    if parsed is None:
        return None
    comm, ppid, start_ticks, tty = parsed
    executable = _readlink(base / "exe")
    if not cmdline and executable is None:
        return None  # a kernel thread (or a zombie): nothing to attribute
    uid = None
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
            break
    try:
        loginuid = int((base / "loginuid").read_text().strip() or -1)
    except (OSError, ValueError):
        loginuid = -1
    loginuid = -1 if loginuid == 0xFFFFFFFF else loginuid
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    # decode_argv also keeps a last argument without its NUL (setproctitle)
    return Process(pid=pid, ppid=ppid, name=comm, executable=executable, args=decode_argv(cmdline),
                   cwd=_readlink(base / "cwd"), uid=uid, start_ns=start_ticks * 1_000_000_000 // ticks, tty=tty,
                   loginuid=loginuid, exe_flags=None)
