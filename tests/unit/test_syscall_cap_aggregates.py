"""The syscall and cap trackers' aggregates from fake maps (shaped as
Map.records() decodes the real ones), and the capability event's two
fields with the real layout of cap.bpf.o."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from eunomia import syscalls, trackers
from eunomia.bpf.layout import RecordDecoder
from eunomia.bpf.object import ObjectSpec
from eunomia.context.model import CgroupRef, Container
from eunomia.context.processes import ProcessTable
from eunomia.context.registry import ContainerRegistry
from eunomia.pipeline.clock import BootClock
from eunomia.pipeline.enrich import Enricher
from eunomia.trackers import cap as cap_tracker
from eunomia.trackers import syscall as syscall_tracker

WEB = "3f4e1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
DB = "c0ffee00" * 8
WEB_CG, WEB_SUB_CG, DB_CG = 1001, 1002, 2002
SLOTS = 512  # SYSCALL_NR_MAX
NR = syscalls.numbers_of("read", "write", "openat", "execve", "capset", "mkdirat", "mmap", "brk", "fchownat")
UNKNOWN = 4000  # no architecture has it


class FakeResolver:
    def resolve(self, ref: CgroupRef) -> Container | None:
        return Container(id=ref.container_id, runtime=ref.runtime, name={WEB: "web", DB: "db"}.get(ref.container_id))


@pytest.fixture
def registry() -> ContainerRegistry:
    reg = ContainerRegistry([FakeResolver()])
    reg.add_cgroup(WEB_CG, f"/system.slice/docker-{WEB}.scope")
    reg.add_cgroup(WEB_SUB_CG, f"/system.slice/docker-{WEB}.scope/init.scope")
    reg.add_cgroup(DB_CG, f"/system.slice/docker-{DB}.scope")
    return reg


class FakeMap:
    def __init__(self, entries: list) -> None:
        self.entries = entries

    def records(self) -> list:
        return self.entries


class FakeObject:
    def __init__(self, **maps: list) -> None:
        self.maps = {name: FakeMap(entries) for name, entries in maps.items()}


def slot(counts: dict[int, int]) -> dict[str, bytes]:
    """One CPU's struct slot_counts."""
    n = [0] * SLOTS
    for nr, count in counts.items():
        n[nr] = count
    return {"n": struct.pack(f"<{SLOTS}Q", *n)}


def key(cgroup_id: int, nr: int) -> dict[str, int]:  # struct syscall_key
    return {"cgroup_id": cgroup_id, "nr": nr, "pad": 0}


def syscall_object(**overrides: list) -> FakeObject:
    maps: dict[str, list] = {
        "cgroup_slots": [(WEB_CG, 0), (DB_CG, 1), (WEB_SUB_CG, 2)],
        "slot_counts": [
            (0, [slot({NR["read"]: 5, NR["openat"]: 1}), slot({NR["read"]: 2})]),
            (1, [slot({}), slot({})]),                       # db: no workload calls
            (2, [slot({NR["write"]: 3}), slot({NR["write"]: 1})]),
        ],
        "syscall_counts": [(key(WEB_CG, UNKNOWN), [1, 0]), (key(WEB_SUB_CG, NR["openat"]), [0, 2])],
        "runtime_syscall_counts": [(key(WEB_CG, NR["execve"]), [1, 0]), (key(WEB_SUB_CG, NR["execve"]), [0, 1]),
                                   (key(WEB_CG, NR["capset"]), [1, 0]), (key(DB_CG, NR["execve"]), [1, 0])],
        "eperm_counts": [],
        "unfiltered_runtime_calls": [(0, [700, 12])],
    }
    maps.update(overrides)
    return FakeObject(**maps)


def by_type(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["type"], r["container"]["name"]): r for r in records}


def test_syscall_records_split_workload_and_runtime(registry):
    records = by_type(syscall_tracker.aggregates(syscall_object(), registry))
    assert set(records) == {("syscalls", "web"), ("syscalls", "db")}
    web = records[("syscalls", "web")]
    assert list(web) == ["type", "container", "syscalls", "runtime_syscalls", "total"]
    assert web["container"]["id"] == WEB
    # CPUs, slots, the fallback hash and the sub-cgroup summed; most frequent first
    assert list(web["syscalls"].items()) == [("read", 7), ("write", 4), ("openat", 3), (f"unknown_{UNKNOWN}", 1)]
    assert web["total"] == 15
    assert list(web["runtime_syscalls"].items()) == [("execve", 2), ("capset", 1)]
    # a container whose only calls were the runtime's still gets its record
    db = records[("syscalls", "db")]
    assert db["syscalls"] == {} and db["runtime_syscalls"] == {"execve": 1} and db["total"] == 0


def test_ties_are_ordered_by_number(registry):
    obj = syscall_object(slot_counts=[(0, [slot({NR["openat"]: 2, NR["write"]: 2, NR["read"]: 2})])],
                         syscall_counts=[])
    web = by_type(syscall_tracker.aggregates(obj, registry))[("syscalls", "web")]
    assert list(web["syscalls"]) == [syscalls.name_of(nr) for nr in sorted((NR["openat"], NR["write"], NR["read"]))]


def test_eperm_record_only_when_something_failed(registry):
    assert not [r for r in syscall_tracker.aggregates(syscall_object(), registry) if r["type"] == "syscall_failures"]
    obj = syscall_object(eperm_counts=[(key(WEB_CG, NR["mkdirat"]), [1, 1]), (key(WEB_SUB_CG, NR["mkdirat"]), [1, 0]),
                                       (key(WEB_CG, NR["read"]), [0, 1]), (key(DB_CG, NR["read"]), [0, 0])])
    records = by_type(syscall_tracker.aggregates(obj, registry))
    web = records[("syscall_failures", "web")]
    assert web == {"type": "syscall_failures", "container": web["container"], "eperm": {"mkdirat": 3, "read": 1}}
    assert list(web["eperm"]) == ["mkdirat", "read"]
    assert ("syscall_failures", "db") not in records  # only zero counts


def test_no_calls_no_record(registry):
    obj = syscall_object(cgroup_slots=[], slot_counts=[], syscall_counts=[], runtime_syscall_counts=[])
    assert syscall_tracker.aggregates(obj, registry) == []
    assert syscall_tracker.unfiltered_runtime_calls(syscall_object()) == 712


# -- cap ------------------------------------------------------------------------

def cap_key(cgroup_id: int, cap: int, granted: int, comm: str, syscall: int = -1, borrowed: int = 0,
            probe: int = 0) -> dict:
    return {"cgroup_id": cgroup_id, "cap": cap, "granted": granted, "comm": comm,
            "syscall": syscall, "borrowed": borrowed, "probe": probe}


def test_capability_checks_by_process_syscall_and_credentials(registry):
    entries = [
        (cap_key(WEB_CG, 21, 0, "sh", NR["brk"]), [2, 1]),
        (cap_key(WEB_SUB_CG, 21, 0, "sh", NR["brk"]), [1, 0]),
        (cap_key(WEB_CG, 21, 0, "sh"), [0, 533]),                        # page faults: no syscall
        (cap_key(WEB_CG, 21, 1, "sh", NR["openat"], borrowed=1), [6, 0]),  # overlay copy-up
        (cap_key(WEB_CG, 21, 0, "dd", NR["mmap"]), [1, 0]),
        (cap_key(WEB_CG, 0, 1, "chown", NR["fchownat"], borrowed=1), [1, 0]),
        (cap_key(WEB_CG, 0, 1, "chown", NR["fchownat"]), [1, 0]),
        (cap_key(WEB_CG, 0, 0, "chown", NR["fchownat"]), [0, 1]),
        (cap_key(WEB_CG, 0, 0, "touch", NR["fchownat"]), [0, 0]),         # never counted: left out
    ]
    records = cap_tracker.aggregates(FakeObject(cap_counts=entries), registry)
    assert len(records) == 1
    caps = records[0]["capabilities"]
    assert list(caps) == ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    assert caps["CAP_CHOWN"] == {
        "granted": 2, "denied": 1, "processes": ["chown"],
        "checks": [{"process": "chown", "syscall": "fchownat", "credentials": "own", "probe": False, "granted": 1, "denied": 1},
                   {"process": "chown", "syscall": "fchownat", "credentials": "borrowed", "probe": False, "granted": 1, "denied": 0}],
    }
    admin = caps["CAP_SYS_ADMIN"]
    assert (admin["granted"], admin["denied"], admin["processes"]) == (6, 538, ["dd", "sh"])
    assert admin["checks"] == [
        {"process": "dd", "syscall": "mmap", "credentials": "own", "probe": False, "granted": 0, "denied": 1},
        {"process": "sh", "syscall": None, "credentials": "own", "probe": False, "granted": 0, "denied": 533},
        {"process": "sh", "syscall": "brk", "credentials": "own", "probe": False, "granted": 0, "denied": 4},
        {"process": "sh", "syscall": "openat", "credentials": "borrowed", "probe": False, "granted": 6, "denied": 0},
    ]


def test_capability_formatters():
    assert cap_tracker.syscall_of(-1) is None
    assert cap_tracker.syscall_of(NR["mmap"]) == "mmap"
    assert cap_tracker.syscall_of(UNKNOWN) == f"unknown_{UNKNOWN}"
    assert (cap_tracker.credentials_of(0), cap_tracker.credentials_of(1)) == ("own", "borrowed")


def test_capability_event_names_syscall_and_credentials(registry):
    tracker = trackers.discover()["cap"]
    with ObjectSpec(tracker.object_path) as spec:
        layout = {kind: l for kind, l in RecordDecoder(spec.btf).layouts.values()}["capability"]
    values = {"type": 11, "result": 0, "task.pid": 7, "task.tid": 7, "task.ppid": 1, "task.cgroup_id": WEB_CG,
              "task.comm": b"sh", "task.ts": 1000, "cap": 21, "cap_number": 21, "granted": 1,
              "syscall": NR["openat"], "credentials": 1, "probe": 0}
    buf = bytearray(layout.size)
    for f in layout.fields:
        if f.name in values:
            struct.pack_into("<" + f.code, buf, f.offset, values[f.name])
    enricher = Enricher(registry, ProcessTable(), BootClock(realtime_ns=0, monotonic_ns=0))
    enricher.plan(tracker, "capability", layout)
    event = enricher.enrich(tracker, "capability", layout.decode(bytes(buf)))
    assert event["capability"] == {"name": "CAP_SYS_ADMIN", "number": 21, "granted": True,
                                   "syscall": "openat", "credentials": "borrowed", "probe": False}
    assert event["result"] == 0
