"""What runs beside the workload.  Each condition is a context manager
(started before the workload, stopped after it, even on Ctrl-C) and may
wrap the workload's command (strace).

  alone                     nothing
  eunomia-default           `eunomia trace -f json -o FILE` (the default streaming trackers)
  eunomia-syscall           `eunomia trace syscall` (the syscall recorder only)
  eunomia-*-filtered        the same with `-c <decoy>`: the workload's container is filtered out
  bpftrace                  one-liners for exec, open (with the file name) and connect,
                            printing every event to a file; system-wide (no container filter)
  auditd                    auditd + `-a always,exit -S execve,openat,connect`; audit rules
                            cannot select a container (there is no cgroup field), so every
                            process on the machine is audited
  strace                    `strace -f -o /dev/null` around the workload's process
  empty-sys_enter, -sys_exit, -sys_enter+sys_exit
                            empty BPF programs on raw_tp/sys_enter, raw_tp/sys_exit, or both:
                            what merely attaching such hooks costs every syscall (the loop in
                            a container and on the host, and nginx); both is the floor of one
                            program per direction
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .agent import Agent
from .bpfstats import EmptyProgram
from .util import BenchError, log, sh, stop_process

BPFTRACE_SCRIPT = """
tracepoint:sched:sched_process_exec { printf("exec %d %s %s\\n", pid, comm, str(args->filename)); }
tracepoint:syscalls:sys_enter_openat { printf("open %d %s %s\\n", pid, comm, str(args->filename)); }
tracepoint:syscalls:sys_enter_connect { printf("connect %d %s\\n", pid, comm); }
"""
AUDIT_RULE = ["always,exit", "-F", "arch=b64", "-S", "execve,openat,connect", "-k", "eunomia-bench"]
AUDITD_CONF = """\
local_events = yes
write_logs = yes
log_file = {log}
log_group = root
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 64
num_logs = 2
max_log_file_action = ROTATE
space_left = 75
space_left_action = IGNORE
admin_space_left = 50
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
"""


class Condition:
    name = "alone"
    wraps = False
    note = ""

    def wrap(self, argv: list[str]) -> list[str]:
        return argv

    def start(self) -> None:
        pass

    def stop(self) -> dict[str, Any]:
        return {}

    def cpu_seconds(self) -> float | None:
        """CPU the tool itself used so far (None: not measurable here)."""
        return None

    def __enter__(self) -> Condition:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.info = self.stop()


class Eunomia(Condition):
    def __init__(self, name: str, trackers: list[str], args: list[str], workdir: Path) -> None:
        self.name = name
        self.trackers = trackers
        self.args = args
        self.out = workdir / f"{name}-{uuid.uuid4().hex[:6]}.jsonl"
        self.agent: Agent | None = None
        self.hooks: list[str] = []

    def start(self) -> None:
        self.agent = Agent(self.trackers, self.out, self.args)
        self.agent.start()
        self.hooks = syscall_hooks()

    def cpu_seconds(self) -> float | None:
        return self.agent.cpu_seconds() if self.agent and self.agent.proc else None

    def stop(self) -> dict[str, Any]:
        if self.agent is None:
            return {}
        memory = self.agent.memory_mib() if self.agent.proc and self.agent.proc.poll() is None else None
        t0 = time.monotonic()
        summary = self.agent.stop() or {}
        info = {"lost": summary.get("lost"), "attached_s": self.agent.attached_s, "ready_s": self.agent.ready_s,
                "stop_s": round(time.monotonic() - t0, 3), "memory_mib": memory, "syscall_hooks": self.hooks}
        self.out.unlink(missing_ok=True)
        self.agent = None
        return info


def syscall_hooks() -> list[str]:
    """Which of sys_enter and sys_exit have a program attached now (the
    agent's, the only BPF user while a condition runs): the floor that
    condition is compared with."""
    try:
        links = json.loads(sh(["bpftool", "-j", "link", "show"]).stdout or "[]")
    except (BenchError, OSError, ValueError):
        return []  # unknown: the matrix falls back to the floor of both hooks
    if any(link.get("type") == "perf_event" for link in links):
        # bpftool does not name a perf link's tracepoint; the builds that had
        # them (before the dispatcher) attached syscalls:* on both sides
        return ["sys_enter", "sys_exit"]
    return sorted({link["tp_name"] for link in links if link.get("tp_name") in ("sys_enter", "sys_exit")},
                  key=("sys_enter", "sys_exit").index)


class Bpftrace(Condition):
    name = "bpftrace"
    note = "bpftrace one-liners (exec, open with file name, connect) printing every event to a file; system-wide"

    def __init__(self, workdir: Path) -> None:
        self.out = workdir / f"bpftrace-{uuid.uuid4().hex[:6]}.txt"
        self.proc: subprocess.Popen[str] | None = None
        self.mounted_tracefs: Path | None = None

    def start(self) -> None:
        # its syscalls:* probes are classic tracepoints, found through tracefs;
        # eunomia needs none, so a fresh machine may not have it mounted
        from eunomia.bpf.tracefs import ensure_tracefs, tracefs_root
        if tracefs_root() is None:
            self.mounted_tracefs = ensure_tracefs()
        self.proc = subprocess.Popen(["bpftrace", "-o", str(self.out), "-e", BPFTRACE_SCRIPT],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        # ready when an open we make shows up in its output
        marker = f"/eunomia-bench-marker-{uuid.uuid4().hex}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"bpftrace exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                os.open(marker, os.O_RDONLY)
            except OSError:
                pass
            if self.out.exists() and marker.encode() in self.out.read_bytes()[-65536:]:
                return
            time.sleep(0.1)
        raise BenchError("bpftrace did not attach within 60 s")

    def cpu_seconds(self) -> float | None:
        from .agent import cpu_seconds
        return cpu_seconds(self.proc.pid) if self.proc and self.proc.poll() is None else None

    def stop(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        if self.proc is not None:
            stop_process(self.proc, sig=2, timeout=20)  # SIGINT: bpftrace's normal end
            self.proc = None
        if self.mounted_tracefs is not None:  # leave the machine as found
            subprocess.run(["umount", str(self.mounted_tracefs)], check=False)
            self.mounted_tracefs = None
        if self.out.exists():
            data = self.out.read_bytes()
            info = {"lines": data.count(b"\n"), "lost": sum(int(n) for n in re.findall(rb"Lost (\d+) events", data))}
            self.out.unlink()
        return info


class Auditd(Condition):
    name = "auditd"
    note = "audit rules cannot select a container (no cgroup field): every process on the machine is audited"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[str] | None = None
        self.confdir: Path | None = None
        self.enabled_before: str | None = None
        self.rule_added = False

    def start(self) -> None:
        status = self._status()
        self.enabled_before = status.get("enabled")
        if status.get("pid", "0") == "0":  # no auditd running: ours, logging to a scratch dir
            self.confdir = Path(tempfile.mkdtemp(prefix="eunbench-audit-", dir=self.workdir))
            conf = self.confdir / "auditd.conf"
            conf.write_text(AUDITD_CONF.format(log=self.confdir / "audit.log"))
            conf.chmod(0o600)
            self.proc = subprocess.Popen(["auditd", "-n", "-c", str(self.confdir)], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                         start_new_session=True)
            deadline = time.monotonic() + 20
            while self._status().get("pid") != str(self.proc.pid):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"auditd did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
                time.sleep(0.05)
        else:
            log(f"auditd already running (pid {status['pid']}): using it, leaving it running")
        sh(["auditctl", "-e", "1"])
        sh(["auditctl", "-a", *AUDIT_RULE])
        self.rule_added = True

    @staticmethod
    def _status() -> dict[str, str]:
        out = sh(["auditctl", "-s"], check=False).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    def cpu_seconds(self) -> float | None:
        from .agent import cpu_seconds
        return cpu_seconds(self.proc.pid) if self.proc and self.proc.poll() is None else None

    def stop(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        if self.rule_added:
            sh(["auditctl", "-d", *AUDIT_RULE], check=False)
            self.rule_added = False
            info["lost"] = int(self._status().get("lost", "0"))
        if self.proc is not None:
            stop_process(self.proc, timeout=20)
            self.proc = None
        if self.enabled_before is not None:
            sh(["auditctl", "-e", self.enabled_before], check=False)
        if self.confdir is not None:
            logs = list(self.confdir.glob("audit.log*"))
            info["log_bytes"] = sum(p.stat().st_size for p in logs)
            for p in self.confdir.iterdir():
                p.unlink()
            self.confdir.rmdir()
            self.confdir = None
        return info


class EmptyHook(Condition):
    """Empty BPF programs on the hooks named in `hooks` ("sys_enter+sys_exit")."""

    def __init__(self, hooks: str) -> None:
        self.name = f"empty-{hooks}"
        self.hooks = hooks.split("+")
        self.note = "empty BPF programs (" + ", ".join(EmptyProgram.PROGRAMS[h] for h in self.hooks) + ")"
        self.programs: list[EmptyProgram] = []

    def start(self) -> None:
        for hook in self.hooks:
            program = EmptyProgram(hook)
            program.__enter__()
            self.programs.append(program)

    def stop(self) -> dict[str, Any]:
        for program in reversed(self.programs):
            program.__exit__(None, None, None)
        self.programs.clear()
        return {}


class Strace(Condition):
    name = "strace"
    wraps = True
    note = "strace -f -o /dev/null around the workload's process (ptrace: every syscall stops the tracee)"

    def wrap(self, argv: list[str]) -> list[str]:
        # the host's strace: bind-mounted at the same path in every bench container
        return ["/usr/bin/strace", "-f", "-o", "/dev/null", *argv]


DEFAULT_TRACKERS: list[str] = []   # eunomia's own default: every streaming tracker


def make(name: str, workdir: Path, decoy: str) -> Condition:
    """The condition called `name` (see the module docstring)."""
    if name == "alone":
        return Condition()
    if name.startswith("eunomia-"):
        trackers = {"eunomia-default": DEFAULT_TRACKERS, "eunomia-syscall": ["syscall"]}[name.removesuffix("-filtered")]
        args = ["-c", decoy] if name.endswith("-filtered") else []
        return Eunomia(name, trackers, args, workdir)
    if name == "bpftrace":
        return Bpftrace(workdir)
    if name == "auditd":
        return Auditd(workdir)
    if name == "strace":
        return Strace()
    if name.startswith("empty-"):
        return EmptyHook(name.removeprefix("empty-"))
    raise ValueError(f"unknown condition {name!r}")


NOTES = {c.name: c.note for c in (Bpftrace(Path("/tmp")), Auditd(Path("/tmp")), Strace())}
