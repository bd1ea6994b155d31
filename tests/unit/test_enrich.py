"""Decoded records → enriched events (eunomia.pipeline.enrich), with the real plans of the
exec tracker (from exec.bpf.o's BTF), a real registry and process table."""

from __future__ import annotations

from pathlib import Path

import pytest

from eunomia import trackers
from eunomia.bpf.layout import RecordDecoder
from eunomia.bpf.object import ObjectSpec
from eunomia.context.model import CgroupRef, Container
from eunomia.context.processes import ProcessTable
from eunomia.context.registry import ContainerRegistry
from eunomia.pipeline.clock import BootClock
from eunomia.pipeline.enrich import Enricher

WEB = "3f4e1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
DB = "c0ffee00" * 8
WEB_CG, DB_CG, HOST_CG = 1001, 2002, 3003
EPOCH = 1_700_000_000_000_000_000  # wall time when ktime was 0


class FakeResolver:
    def __init__(self) -> None:
        self.known = {WEB: ("web", "nginx:1.27"), DB: ("db", "postgres:16")}
        self.calls = 0

    def resolve(self, ref: CgroupRef) -> Container | None:
        self.calls += 1
        if ref.container_id not in self.known:
            return None
        name, image = self.known[ref.container_id]
        return Container(id=ref.container_id, runtime=ref.runtime, name=name, image=image)


@pytest.fixture(scope="module")
def exec_tracker():
    return trackers.discover()["exec"]


@pytest.fixture(scope="module")
def layouts(exec_tracker):
    with ObjectSpec(exec_tracker.object_path) as spec:
        return list(RecordDecoder(spec.btf).layouts.values())


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    for pid, cgroup in ((300, "0::/system.slice/x.service\n"), (400, f"0::/docker/{DB}\n")):
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cgroup").write_text(cgroup)
    return root


@pytest.fixture
def registry() -> ContainerRegistry:
    reg = ContainerRegistry([FakeResolver()])
    reg.add_cgroup(WEB_CG, f"/system.slice/docker-{WEB}.scope")
    return reg


@pytest.fixture
def enricher(registry, proc_root, exec_tracker, layouts) -> Enricher:
    e = Enricher(registry, ProcessTable(), BootClock(realtime_ns=EPOCH, monotonic_ns=0), proc_root=proc_root)
    for kind, layout in layouts:
        e.plan(exec_tracker, kind, layout)
    return e


def task(pid, ppid=1, *, cgroup=WEB_CG, comm="ls", ts=1_500_000, flags=0, uid=1000):
    return {"task.ts": ts, "task.cgroup_id": cgroup, "task.pid": pid, "task.tid": pid, "task.ppid": ppid,
            "task.uid": uid, "task.gid": uid, "task.mntns": 4026532001, "task.pidns": 4026532002,
            "task.flags": flags, "task.comm": comm}


def exec_rec(pid, ppid=1, *, result=0, executable=None, cwd="/srv", filename=None, args=(), **kw):
    return {"type": 1, "result": result, **task(pid, ppid, **kw), "executable": executable, "cwd": cwd,
            "filename": filename, "args": list(args)}


def exit_rec(pid, ppid=1, *, status=0, duration=0, **kw):
    return {"type": 2, "status": status, **task(pid, ppid, **kw), "duration": duration}


def fork_rec(pid, child, ppid=1, **kw):
    return {"type": 3, "child_pid": child, **task(pid, ppid, **kw)}


WEB_FIELDS = {"id": WEB, "name": "web", "image": "nginx:1.27", "runtime": "docker", "pod": None, "namespace": None}


def test_exec_in_a_known_container(enricher, exec_tracker):
    event = enricher.enrich(exec_tracker, "exec", exec_rec(100, executable="/usr/bin/ls", args=["ls", "-l"]))
    assert event == {
        "time": "2023-11-14T22:13:20.001500Z",
        "type": "exec",
        "container": WEB_FIELDS,
        "process": {"pid": 100, "tid": 100, "parent": {"pid": 1}, "name": "ls",
                    "executable": "/usr/bin/ls", "working_directory": "/srv", "args": ["ls", "-l"]},
        "user": {"id": 1000},
        "group": {"id": 1000},
        "result": 0,
    }
    proc = enricher.processes.get(100)
    assert (proc.executable, proc.args, proc.cwd, proc.cgroup_id) == ("/usr/bin/ls", ["ls", "-l"], "/srv", WEB_CG)


def test_failed_exec_names_the_attempted_program(enricher, exec_tracker):
    enricher.enrich(exec_tracker, "exec", exec_rec(100, executable="/usr/bin/ls", args=["ls", "-l"]))
    failed = exec_rec(100, result=-2, filename="./tool", cwd="/tmp", args=["./tool", "--x"], comm="ls")
    event = enricher.enrich(exec_tracker, "exec", failed)
    assert event["result"] == "ENOENT"
    assert event["process"]["executable"] == "/tmp/tool"
    assert event["process"]["args"] == ["./tool", "--x"]
    assert event["process"]["working_directory"] == "/tmp"
    assert "command_path" not in event["process"]
    proc = enricher.processes.get(100)    # the old image still runs
    assert (proc.executable, proc.args, proc.cwd) == ("/usr/bin/ls", ["ls", "-l"], "/srv")

    # and its exit is the exit of what ran before the failed exec
    event = enricher.enrich(exec_tracker, "exit", exit_rec(100, status=3 << 8, duration=1_500_000_000))
    assert event["type"] == "exit"
    assert event["process"] == {"pid": 100, "tid": 100, "parent": {"pid": 1}, "name": "ls",
                                "exit_code": 3, "duration_ms": 1500.0, "executable": "/usr/bin/ls",
                                "args": ["ls", "-l"], "working_directory": "/srv"}
    assert "result" not in event
    assert enricher.processes.get(100).exited is True
    assert [p.pid for p in enricher.processes] == []


@pytest.mark.parametrize(("filename", "cwd", "expected"), [
    ("../bin/x", "/srv/app", "/srv/bin/x"),
    ("/opt/missing", "/tmp", "/opt/missing"),
    ("tool", None, "/tool"),
    ("", "/tmp", None),
])
def test_failed_exec_path_is_made_absolute(enricher, exec_tracker, filename, cwd, expected):
    event = enricher.enrich(exec_tracker, "exec", exec_rec(5, result=-13, filename=filename, cwd=cwd))
    assert event["process"]["executable"] == expected
    assert event["result"] == "EACCES"
    assert enricher.processes.get(5) is None


def test_killed_process_exit(enricher, exec_tracker):
    event = enricher.enrich(exec_tracker, "exit", exit_rec(77, status=9, duration=2_000_123))
    assert event["process"]["exit_code"] == 137
    assert event["process"]["exit_signal"] == "SIGKILL"
    assert event["process"]["duration_ms"] == 2.0
    # a process nobody saw start
    assert (event["process"]["executable"], event["process"]["args"], event["process"]["working_directory"]) == (
        None, [], None)


def test_fork_then_child_exit_carries_the_parent_image(enricher, exec_tracker):
    enricher.enrich(exec_tracker, "exec", exec_rec(200, executable="/bin/bash", args=["bash", "-c", "x"],
                                                   comm="bash", cwd="/root"))
    fork = enricher.enrich(exec_tracker, "fork", fork_rec(200, 201, comm="bash"))
    assert fork["type"] == "fork"
    assert fork["process"]["child"] == {"pid": 201}
    assert enricher.processes.get(201).ppid == 200

    event = enricher.enrich(exec_tracker, "exit", exit_rec(201, 200, comm="bash", status=1 << 8))
    assert event["process"] == {"pid": 201, "tid": 201, "name": "bash",
                                "parent": {"pid": 200, "name": "bash", "executable": "/bin/bash"},
                                "exit_code": 1, "duration_ms": 0.0, "executable": "/bin/bash",
                                "args": ["bash", "-c", "x"], "working_directory": "/root"}
    assert event["container"] == WEB_FIELDS


def test_unknown_cgroup_of_a_host_process_is_the_host(enricher, exec_tracker):
    event = enricher.enrich(exec_tracker, "exec", exec_rec(300, cgroup=HOST_CG, executable="/usr/sbin/cron"))
    assert event["container"] == {"id": "host", "name": None, "image": None, "runtime": None,
                                  "pod": None, "namespace": None}
    assert not enricher.registry.is_container_cgroup(HOST_CG)


def test_unknown_cgroup_of_a_gone_process_is_the_host(enricher, exec_tracker):
    event = enricher.enrich(exec_tracker, "exit", exit_rec(999, cgroup=4004))
    assert event["container"]["id"] == "host"


def test_unknown_cgroup_found_in_proc_is_its_container(enricher, exec_tracker):
    event = enricher.enrich(exec_tracker, "exec", exec_rec(400, cgroup=DB_CG, executable="/usr/bin/psql",
                                                            args=["psql"], comm="psql"))
    assert event["container"] == {"id": DB, "name": "db", "image": "postgres:16", "runtime": "docker",
                                  "pod": None, "namespace": None}
    assert enricher.registry.is_container_cgroup(DB_CG)
    assert enricher.registry.find("db")[0].id == DB


@pytest.mark.parametrize(("flags", "truncated"), [(0, False), (1, True), (2, False), (3, True)])
def test_truncated_flag(enricher, exec_tracker, flags, truncated):
    event = enricher.enrich(exec_tracker, "exec", exec_rec(100, flags=flags, args=["a"]))
    if truncated:
        assert event["truncated"] is True
    else:
        assert "truncated" not in event
