"""The syscall tracker: per-container counts from a kernel map, checked
against strace's view of the same program; the workload/runtime split
around runc's seccomp filter; the -EPERM counts of targ_failures (set
through a session knob, in this process)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from eunomia import trackers as tracker_registry
from eunomia.cli.context import build_context
from eunomia.pipeline.scope import Scope
from eunomia.pipeline.session import TraceSession

from .conftest import IMAGE, docker, unique

WORKLOAD = ("ls -la /etc >/dev/null; cat /etc/passwd >/dev/null; mkdir -p /tmp/d; echo x > /tmp/d/f; "
            "ln -s /tmp/d/f /tmp/d/l; chmod 600 /tmp/d/f; rm -r /tmp/d; date >/dev/null; uname -a >/dev/null; "
            "id >/dev/null; sleep 0.1")


def strace_syscalls(path: Path) -> set[str]:
    """Syscall names in an `strace -f -o` log (unfinished/resumed calls once)."""
    names = set()
    for line in path.read_text().splitlines():
        m = re.match(r"^\d+\s+([a-z_][a-z0-9_]*)\(", line)
        if m:
            names.add(m.group(1))
    return names


# what runc does here (1.1, Debian 12) before the container's seccomp filter
# is in force — mounts, the root switch, the hostname, device nodes, the
# session keyring, namespaces, the filter itself — and what its
# runc:[2:INIT] still does under the filter: drop privileges, exec
RUNC_BEFORE_FILTER = ("mount", "umount2", "pivot_root", "sethostname", "mknodat", "keyctl", "unshare", "seccomp")
RUNC_UNDER_FILTER = ("capset", "setgroups", "setuid", "setgid", "execve")


def record_of(events: list[dict], container_id: str, kind: str = "syscalls") -> dict[str, Any]:
    records = [e for e in events if e["type"] == kind and e["container"]["id"] == container_id]
    assert len(records) == 1, f"expected one {kind} record for {container_id}, got {len(records)}"
    return records[0]


def counts_of(events: list[dict], container_id: str) -> dict[str, int]:
    return record_of(events, container_id)["syscalls"]


def wait_traced(pid: int, strace: subprocess.Popen, timeout: float = 20) -> None:
    """Until strace is attached: the kernel names the tracer in /proc/PID/status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert strace.poll() is None, "strace exited"
        status = Path(f"/proc/{pid}/status").read_text()
        if "TracerPid:\t0\n" not in status:
            return
        time.sleep(0.02)
    raise AssertionError(f"strace did not attach to {pid}")


def test_counts_cover_every_syscall_strace_sees(tracer, containers, tmp_path):
    name = unique()
    # the shell waits for a go file, then execs the workload: strace attaches first
    containers.run(name, "sh", "-c", f"while [ ! -e /tmp/go ]; do sleep 0.05; done; exec sh -c '{WORKLOAD}'",
                   detach=True)
    cid = containers.full_id(name)
    pid = docker("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    t = tracer("syscall")
    log = tmp_path / "strace.log"
    strace = subprocess.Popen(["strace", "-f", "-qq", "-o", str(log), "-p", pid])
    wait_traced(int(pid), strace)
    docker("exec", name, "touch", "/tmp/go")
    docker("wait", name, timeout=60)
    strace.wait(timeout=60)
    events, summary = t.stop()

    seen_by_strace = strace_syscalls(log)
    # the workload really ran under strace (x86-64 busybox uses mkdir, arm64 only has mkdirat)
    assert {"execve", "getdents64", "uname"} <= seen_by_strace
    for variants in ({"mkdir", "mkdirat"}, {"symlink", "symlinkat"}, {"chmod", "fchmodat"}):
        assert variants & seen_by_strace
    counts = counts_of(events, cid)
    missing = seen_by_strace - set(counts)
    assert not missing, f"strace saw syscalls eunomia did not count: {sorted(missing)}"
    assert all(n > 0 for n in counts.values())
    assert counts["execve"] >= 1
    assert summary["trackers"]["syscall"]["map_full"] == 0


def test_syscall_counts_only_for_selected_container(tracer, containers):
    keep, other = unique("keep"), unique("other")
    containers.run(keep, "sleep", "60", detach=True)
    containers.run(other, "sleep", "60", detach=True)
    keep_id, other_id = containers.full_id(keep), containers.full_id(other)
    t = tracer("syscall", "-c", keep)
    docker("exec", keep, "cat", "/etc/passwd")
    docker("exec", other, "cat", "/etc/passwd")
    events, _ = t.stop()
    records = [e for e in events if e["type"] == "syscalls"]
    # the kernel map itself holds nothing of the other container (or the host)
    assert {r["container"]["id"] for r in records} == {keep_id}
    assert other_id not in {r["container"]["id"] for r in records}
    # the exec'd cat: runc's final execve, then cat's own calls
    record = record_of(events, keep_id)
    assert record["runtime_syscalls"]["execve"] == 1
    assert {"openat", "exit_group"} <= set(record["syscalls"])


def test_workload_excludes_the_runtime_set_up(tracer, containers):
    name = unique("split")
    t = tracer("syscall")  # before the container exists: runc's set-up is seen
    containers.run(name, "sleep", "60", detach=True)
    cid = containers.full_id(name)
    docker("exec", name, "true")
    docker("exec", name, "true")
    events, summary = t.stop()

    record = record_of(events, cid)
    workload, runtime = record["syscalls"], record["runtime_syscalls"]
    assert set(record) == {"type", "container", "syscalls", "runtime_syscalls", "total"}
    assert record["total"] == sum(workload.values())
    assert list(workload.values()) == sorted(workload.values(), reverse=True)
    assert list(runtime.values()) == sorted(runtime.values(), reverse=True)
    # runc's set-up before the filter is in neither set
    assert not set(RUNC_BEFORE_FILTER) & set(workload), workload
    assert not set(RUNC_BEFORE_FILTER) & set(runtime), runtime
    # what runc:[2:INIT] does under the filter is the runtime's, not the workload's
    assert set(RUNC_UNDER_FILTER) <= set(runtime), runtime
    assert not {"capset", "setgroups"} & set(workload)
    # one final execve per runc:[2:INIT]: the container's start and each exec
    assert runtime["execve"] == 3
    # the workload: sleep, then two `true`s (their execve was runc's)
    assert {"clock_nanosleep", "exit_group"} <= set(workload)
    assert "execve" not in workload
    assert summary["trackers"]["syscall"]["map_full"] == 0


def test_without_a_seccomp_filter_the_runtime_is_not_counted(tracer, containers):
    name = unique("unconfined")
    t = tracer("syscall")
    containers.names.append(name)
    docker("run", "--name", name, "--security-opt", "seccomp=unconfined", IMAGE, "sh", "-c", "cat /etc/hostname")
    cid = containers.full_id(name)
    events, _ = t.stop()

    record = record_of(events, cid)
    assert record["runtime_syscalls"] == {}
    assert not set(RUNC_BEFORE_FILTER + RUNC_UNDER_FILTER[:-1]) & set(record["syscalls"])
    assert record["syscalls"]["execve"] == 1  # sh's exec of cat (runc's exec of sh is not counted)


# -- targ_failures, through TraceSession(knobs=…) -------------------------------

DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


def trace_in_process(knobs: dict[str, dict[str, Any]] | None,
                     action: Callable[[], Any]) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    """Run the syscall tracker in this process around action(): (aggregates, summary, what action returned)."""
    context = build_context()
    session = TraceSession(tracker_registry.select(["syscall"]), Scope(), context, knobs=knobs)
    with session, contextlib.closing(context):
        result = action()
        session.drain(lambda tracker, event: None)  # the cgroup records name the new container
        return session.aggregates(), session.summary(), result


def xlated_bytes(program: str) -> int:
    """Size of a loaded program after the verifier (bpftool's bytes_xlated)."""
    shown = json.loads(subprocess.run(["bpftool", "-j", "prog", "show", "name", program],
                                      capture_output=True, text=True, check=True).stdout or "[]")
    shown = shown if isinstance(shown, list) else [shown]
    assert shown, f"no program {program} loaded"
    # the newest: a closed session's program may linger until the kernel frees it
    return max(shown, key=lambda p: p["id"])["bytes_xlated"]


def run_denied_mkdir(containers, profile: Path, measure: bool = True) -> Callable[[], tuple[str, int]]:
    def action() -> tuple[str, int]:
        name = unique("eperm")
        containers.names.append(name)
        out = docker("run", "--name", name, "--security-opt", f"seccomp={profile}", IMAGE,
                     "sh", "-c", "mkdir /x; mkdir /y; ls /x", check=False)
        assert "Operation not permitted" in out.stderr, out.stderr
        size = xlated_bytes("dispatch_sys_exit") if measure and shutil.which("bpftool") else -1
        return containers.full_id(name), size
    return action


def test_failures_knob_counts_eperm_of_a_seccomp_profile(containers, tmp_path):
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps(DENY_MKDIR))
    records, summary, (cid, size) = trace_in_process({"syscall": {"targ_failures": True}},
                                                     run_denied_mkdir(containers, profile))
    failures = record_of(records, cid, "syscall_failures")
    assert set(failures) == {"type", "container", "eperm"}
    # busybox's mkdir calls mkdir on x86-64 (arm64 has only mkdirat); both
    # were denied, once per `mkdir` command
    eperm = failures["eperm"]
    made = "mkdir" if "mkdir" in eperm else "mkdirat"
    assert eperm[made] == 2
    # the filter rejects the call before the sys_enter tracepoint: never counted as made
    record = record_of(records, cid)
    workload, runtime = record["syscalls"], record["runtime_syscalls"]
    assert made not in workload and made not in runtime
    # -EPERM has other sources, and their calls did enter: here runc:[2:INIT]'s
    # Go runtime, under the filter, adding regular files to its epoll set
    others = {name: n for name, n in eperm.items() if name != made}
    assert set(others) <= set(workload) | set(runtime), others
    assert size > 200  # the dispatcher's sys_exit program, loaded for the knob
    assert summary["trackers"]["syscall"]["map_full"] == 0


def loaded_ids(program: str) -> set[int]:
    shown = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                                      check=True).stdout or "[]")
    return {p["id"] for p in shown if p.get("name") == program}


def test_failures_knob_off_measures_nothing(containers, tmp_path):
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps(DENY_MKDIR))
    before = loaded_ids("dispatch_sys_exit")
    during: set[int] = set()

    def action() -> tuple[str, int]:
        result = run_denied_mkdir(containers, profile, measure=False)()
        during.update(loaded_ids("dispatch_sys_exit"))
        return result

    records, _, (cid, _) = trace_in_process(None, action)
    assert not [r for r in records if r["type"] == "syscall_failures"]
    assert "mkdir" not in record_of(records, cid)["syscalls"]
    # with the knob off (and no tracker handling an exit) the dispatcher's
    # sys_exit program is not even loaded: no cost per syscall
    assert during <= before


def test_unknown_knob_for_a_loaded_tracker_is_refused():
    context = build_context()
    session = TraceSession(tracker_registry.select(["syscall"]), Scope(), context,
                           knobs={"syscall": {"targ_no_such_knob": 1}, "file": {"ignored": 1}})
    with contextlib.closing(context), pytest.raises(ValueError, match="targ_no_such_knob"):
        with session:
            pass
