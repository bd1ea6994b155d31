"""Signal, ptrace, unix-connect and capability records → enriched events, with the
real layouts of signal.bpf.o and cap.bpf.o (their BTF), packed as the kernel
writes them, and the cap tracker's aggregates from a fake map."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from eunomia import trackers
from eunomia.bpf.layout import RecordDecoder, RecordLayout
from eunomia.bpf.object import ObjectSpec
from eunomia.context.model import CgroupRef, Container
from eunomia.context.processes import ProcessTable
from eunomia.context.registry import ContainerRegistry
from eunomia.pipeline.clock import BootClock
from eunomia.pipeline.enrich import Enricher
from eunomia.trackers.cap import aggregates

WEB = "3f4e1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
DB = "c0ffee00" * 8
WEB_CG, DB_CG, HOST_CG = 1001, 2002, 3003


class FakeResolver:
    def resolve(self, ref: CgroupRef) -> Container | None:
        names = {WEB: "web", DB: "db"}
        return Container(id=ref.container_id, runtime=ref.runtime, name=names.get(ref.container_id))


@pytest.fixture
def registry() -> ContainerRegistry:
    reg = ContainerRegistry([FakeResolver()])
    reg.add_cgroup(WEB_CG, f"/system.slice/docker-{WEB}.scope")
    reg.add_cgroup(DB_CG, f"/system.slice/docker-{DB}.scope")
    return reg


def layouts_of(name: str) -> dict[str, RecordLayout]:
    with ObjectSpec(trackers.discover()[name].object_path) as spec:
        return {kind: layout for kind, layout in RecordDecoder(spec.btf).layouts.values()}


@pytest.fixture(scope="module")
def signal_layouts() -> dict[str, RecordLayout]:
    return layouts_of("signal")


@pytest.fixture
def enricher(registry, signal_layouts) -> Enricher:
    e = Enricher(registry, ProcessTable(), BootClock(realtime_ns=0, monotonic_ns=0))
    tracker = trackers.discover()["signal"]
    for kind, layout in signal_layouts.items():
        e.plan(tracker, kind, layout)
    return e


def pack(layout: RecordLayout, values: dict[str, Any]) -> dict[str, Any]:
    """A record as the kernel writes it, decoded as user space reads it."""
    buf = bytearray(layout.size)
    for f in layout.fields:
        if f.name in values:
            struct.pack_into("<" + f.code, buf, f.offset, values[f.name])
    return layout.decode(bytes(buf))


def task(pid: int, cgroup: int, comm: bytes) -> dict[str, Any]:
    return {"task.pid": pid, "task.tid": pid, "task.ppid": 1, "task.cgroup_id": cgroup, "task.comm": comm,
            "task.uid": 0, "task.ts": 1000}


def enrich(enricher: Enricher, kind: str, layout: RecordLayout, values: dict[str, Any]) -> dict[str, Any]:
    return enricher.enrich(trackers.discover()["signal"], kind, pack(layout, values))


def test_kill_into_another_container(enricher, signal_layouts):
    layout = signal_layouts["signal"]
    event = enrich(enricher, "signal", layout, {
        "type": 8, "result": 0, **task(100, WEB_CG, b"sh"), "target.pid": 200, "target.tid": 200,
        "target.cgroup_id": DB_CG, "target.comm": b"sleep", "sig": 15, "signo": 15, "code": 0,
        "requested_pid": 7, "origin": 2, "group": 1, "has_requested_pid": 1})
    assert event["type"] == "signal"
    assert event["container"]["name"] == "web"
    assert event["signal"] == {"name": "SIGTERM", "number": 15, "code": "SI_USER", "origin": "kill", "group": True}
    assert event["result"] == "delivered"
    assert event["target"]["process"] == {"pid": 200, "tid": 200, "name": "sleep"}
    assert event["target"]["container"]["id"] == DB and event["target"]["container"]["name"] == "db"
    assert event["target"]["requested_pid"] == 7


def test_failed_kill_has_no_target_process(enricher, signal_layouts):
    event = enrich(enricher, "signal", signal_layouts["signal"], {
        "type": 8, "result": -3, **task(100, WEB_CG, b"sh"), "sig": 9, "signo": 9,
        "requested_pid": 99999, "origin": 2, "has_requested_pid": 1})
    assert event["result"] == "ESRCH"
    assert event["signal"] == {"name": "SIGKILL", "number": 9, "origin": "kill"}
    assert event["target"] == {"requested_pid": 99999}


def test_kernel_signal_to_the_host(enricher, signal_layouts):
    event = enrich(enricher, "signal", signal_layouts["signal"], {
        "type": 8, "result": 1, **task(100, WEB_CG, b"sleep"), "target.pid": 50, "target.tid": 50,
        "target.cgroup_id": HOST_CG, "target.comm": b"containerd-shim", "sig": 17, "signo": 17,
        "code": 1, "origin": 0, "group": 1})
    assert event["signal"]["origin"] == "kernel" and event["signal"]["code"] == "CLD_EXITED"
    assert event["result"] == "ignored"
    assert event["target"]["container"]["id"] == "host"
    assert "requested_pid" not in event["target"]


def test_ptrace_events(enricher, signal_layouts):
    layout = signal_layouts["ptrace"]
    attach = enrich(enricher, "ptrace", layout, {
        "type": 9, "result": 0, **task(100, WEB_CG, b"gdb"), "target.pid": 101, "target.tid": 101,
        "target.cgroup_id": WEB_CG, "target.comm": b"app", "request": 16, "requested_pid": 5})
    assert attach["type"] == "ptrace"
    assert attach["ptrace"] == {"request": "PTRACE_ATTACH"}
    assert attach["target"]["process"]["pid"] == 101 and attach["target"]["container"]["name"] == "web"
    assert attach["target"]["requested_pid"] == 5
    refused = enrich(enricher, "ptrace", layout, {
        "type": 9, "result": -1, **task(100, WEB_CG, b"gdb"), "request": 16, "requested_pid": 1})
    assert refused["result"] == "EPERM" and refused["target"] == {"requested_pid": 1}
    traceme = enrich(enricher, "ptrace", layout, {
        "type": 9, "result": 0, **task(102, WEB_CG, b"app"), "target.pid": 100, "target.tid": 100,
        "target.cgroup_id": WEB_CG, "target.comm": b"gdb", "request": 0, "requested_pid": 12345})
    assert "requested_pid" not in traceme["target"]  # TRACEME ignores its pid argument
    assert traceme["target"]["process"]["name"] == "gdb"


def test_unix_connect_event(enricher, signal_layouts):
    layout = signal_layouts["unix"]
    addr = ((11).to_bytes(2, "little") + b"/tmp/sock").ljust(112, b"\0")  # addrlen, sun_path
    event = enrich(enricher, "unix", layout, {
        "type": 10, "op": 1, "result": 0, **task(100, WEB_CG, b"client"), "target.pid": 90,
        "target.tid": 90, "target.cgroup_id": HOST_CG, "target.comm": b"dockerd", "sock_type": 1, "addr": addr})
    assert event["type"] == "unix_connect"
    assert event["unix"] == {"path": "/tmp/sock", "socket_type": "stream"}
    assert event["target"]["process"]["name"] == "dockerd" and event["target"]["container"]["id"] == "host"


def test_unix_addr_field_is_raw_bytes(signal_layouts):
    """The address is not text: abstract names start with a NUL."""
    field = next(f for f in signal_layouts["unix"].fields if f.name == "addr")
    assert (field.semantic, field.code, field.is_text) == ("eun_unix_addr", "112s", False)


def test_capability_event(registry):
    layout = layouts_of("cap")["capability"]
    tracker = trackers.discover()["cap"]
    enricher = Enricher(registry, ProcessTable(), BootClock(realtime_ns=0, monotonic_ns=0))
    enricher.plan(tracker, "capability", layout)
    rec = pack(layout, {"type": 11, "result": -1, **task(100, WEB_CG, b"chown"), "cap": 0, "cap_number": 0,
                        "granted": 0, "syscall": -1, "credentials": 0, "probe": 0})
    event = enricher.enrich(tracker, "capability", rec)
    assert event["type"] == "capability"
    assert event["capability"] == {"name": "CAP_CHOWN", "number": 0, "granted": False,
                                   "syscall": None, "credentials": "own", "probe": False}
    assert event["result"] == "EPERM"


class FakeMap:
    def __init__(self, entries: list) -> None:
        self.entries = entries

    def records(self) -> list:
        return self.entries


class FakeObject:
    def __init__(self, entries: list) -> None:
        self.maps = {"cap_counts": FakeMap(entries)}


def test_capability_aggregates_sum_cpus_and_cgroups(registry):
    registry.add_cgroup(4004, f"/system.slice/docker-{WEB}.scope/init.scope")  # nested: still web
    def key(cgroup_id, cap, granted, comm):  # struct cap_count_key, as Map.records() decodes it
        return {"cgroup_id": cgroup_id, "cap": cap, "granted": granted, "comm": comm, "syscall": -1, "borrowed": 0, "probe": 0}
    entries = [
        (key(WEB_CG, 0, 1, "chown"), [30, 20]),
        (key(4004, 0, 1, "chown"), [1, 0]),
        (key(WEB_CG, 0, 0, "chown"), [0, 2]),
        (key(WEB_CG, 21, 0, "mount"), [1, 0]),
        (key(DB_CG, 12, 1, "ip"), [4, 0]),
    ]
    records = {r["container"]["name"]: r for r in aggregates(FakeObject(entries), registry)}
    assert set(records) == {"web", "db"}
    assert records["web"]["type"] == "capabilities"
    def check(comm, granted, denied):
        return {"process": comm, "syscall": None, "credentials": "own", "probe": False, "granted": granted,
                "denied": denied}
    assert records["web"]["capabilities"] == {
        "CAP_CHOWN": {"granted": 51, "denied": 2, "processes": ["chown"], "checks": [check("chown", 51, 2)]},
        "CAP_SYS_ADMIN": {"granted": 0, "denied": 1, "processes": ["mount"], "checks": [check("mount", 0, 1)]},
    }
    assert list(records["web"]["capabilities"]) == ["CAP_CHOWN", "CAP_SYS_ADMIN"]  # kernel order
    assert records["db"]["capabilities"] == {"CAP_NET_ADMIN": {"granted": 4, "denied": 0, "processes": ["ip"],
                                                               "checks": [check("ip", 4, 0)]}}
