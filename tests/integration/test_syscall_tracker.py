"""The syscall tracker: per-container counts from a kernel map, checked
against strace's view of the same program."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from .conftest import docker, unique

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


def counts_of(events: list[dict], container_id: str) -> dict[str, int]:
    records = [e for e in events if e["type"] == "syscalls" and e["container"]["id"] == container_id]
    assert len(records) == 1, f"expected one syscalls record for {container_id}, got {len(records)}"
    return records[0]["syscalls"]


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
    time.sleep(1.0)  # attached
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
    assert counts_of(events, keep_id)["execve"] >= 1
