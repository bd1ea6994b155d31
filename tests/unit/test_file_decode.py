"""struct event_file as the kernel writes it → the JSON event, through the
real layout read from file.bpf.o's BTF, the real enricher and TrackerDef."""

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

CID = "ab" * 32
CGROUP = 4242
ABSENT = 0xFFFF
EUN_EV_FILE = 6
OPS = ["open", "unlink", "rmdir", "rename", "chmod", "chown", "mkdir", "symlink", "link", "truncate"]


class Resolver:
    def resolve(self, ref: CgroupRef) -> Container | None:
        return Container(id=ref.container_id, runtime=ref.runtime, name="box", image="eunomia-test/busybox")


@pytest.fixture(scope="module")
def tracker():
    return trackers.discover()["file"]


@pytest.fixture(scope="module")
def decoder(tracker) -> RecordDecoder:
    with ObjectSpec(tracker.object_path) as spec:
        return RecordDecoder(spec.btf)


@pytest.fixture(scope="module")
def layout(decoder) -> RecordLayout:
    kind, layout = decoder.layouts[EUN_EV_FILE]
    assert kind == "file"
    return layout


@pytest.fixture
def enricher(tracker, layout) -> Enricher:
    registry = ContainerRegistry([Resolver()])
    registry.add_cgroup(CGROUP, f"/system.slice/docker-{CID}.scope")
    e = Enricher(registry, ProcessTable(), BootClock(realtime_ns=0, monotonic_ns=0))
    e.plan(tracker, "file", layout)
    return e


def path_bytes(path: str) -> bytes:
    """As tail_put_path writes it: components leaf first, each NUL-terminated."""
    return b"".join(p.encode() + b"\0" for p in reversed(path.strip("/").split("/")) if p)


def record(layout: RecordLayout, op: str, *, result: int = 0, flags: int = 0, mode: int = 0xFFFFFFFF,
           uid: int = 0xFFFFFFFF, gid: int = 0xFFFFFFFF, device: int = 0, inode: int = 0, size: int = 0,
           **refs: str) -> bytes:
    """Pack a record the way file.bpf.c fills it; refs: path/dir/target_dir (paths),
    name/target_name (strings)."""
    values: dict[str, Any] = {
        "type": EUN_EV_FILE, "op": OPS.index(op), "task.ts": 1_000, "task.cgroup_id": CGROUP, "task.cap_effective": 0,
        "task.pid": 10, "task.tid": 10, "task.ppid": 1, "task.uid": 0, "task.gid": 0, "task.mntns": 1,
        "task.pidns": 1, "task.flags": 0, "task.comm": b"sh", "result": result, "flags": flags,
        "mode": mode, "uid": uid, "gid": gid, "device": device, "inode": inode, "size": size,
    }
    tail = b""
    for ref, _typedef in layout.refs:
        values[f"{ref}.off"], values[f"{ref}.len"] = ABSENT, 0
        if ref in refs:
            data = path_bytes(refs[ref]) if ref in ("path", "dir", "target_dir") else refs[ref].encode()
            values[f"{ref}.off"], values[f"{ref}.len"] = len(tail), len(data)
            tail += data + (b"" if ref in ("path", "dir", "target_dir") else b"\0")
    buf = bytearray(layout.tail_offset + len(tail))
    for f in layout.fields:
        struct.pack_into("<" + f.code, buf, f.offset, values[f.name])
    buf[layout.tail_offset:] = tail
    return bytes(buf)


def enrich(enricher, tracker, decoder, raw: bytes) -> dict[str, Any]:
    kind, rec = decoder.decode(raw)
    return enricher.enrich(tracker, kind, rec)


def test_layout_has_every_operation(layout):
    op = next(f for f in layout.fields if f.name == "op")
    assert list(op.enum_names.values()) == OPS
    assert {ref for ref, _ in layout.refs} == {"path", "name", "dir", "target_name", "target_dir"}


def test_successful_open(enricher, tracker, decoder, layout):
    raw = record(layout, "open", result=3, flags=0o1101, mode=0o666, device=40, inode=77, path="/tmp/x")
    event = enrich(enricher, tracker, decoder, raw)
    assert event["type"] == "open"
    assert event["result"] == 3
    assert event["container"]["name"] == "box"
    assert event["file"] == {"path": "/tmp/x", "flags": ["write", "create", "truncate"], "mode": "0666",
                             "inode": 77, "device": "0:40"}
    assert "_file" not in event


def test_failed_relative_open(enricher, tracker, decoder, layout):
    raw = record(layout, "open", result=-2, flags=0, name="missing", dir="/tmp")
    event = enrich(enricher, tracker, decoder, raw)
    assert event["result"] == "ENOENT"
    assert event["file"] == {"path": "/tmp/missing", "flags": ["read"], "mode": None, "given_path": "missing"}


def test_rename_chown_and_symlink(enricher, tracker, decoder, layout):
    event = enrich(enricher, tracker, decoder,
                   record(layout, "rename", name="x", dir="/tmp", target_name="../tmp/y", target_dir="/tmp"))
    assert (event["type"], event["file"], event["result"]) == (
        "rename", {"path": "/tmp/x", "target_path": "/tmp/y", "given_path": "x"}, 0)

    event = enrich(enricher, tracker, decoder, record(layout, "chown", name="/tmp/y", uid=1))
    assert event["file"] == {"path": "/tmp/y", "uid": 1, "gid": None}   # gid -1: left unchanged

    event = enrich(enricher, tracker, decoder, record(layout, "symlink", result=-17, name="/tmp/z",
                                                      target_name="y"))
    assert (event["file"], event["result"]) == ({"path": "/tmp/z", "target_path": "y"}, "EEXIST")


def test_truncate_through_a_descriptor(enricher, tracker, decoder, layout):
    event = enrich(enricher, tracker, decoder,
                   record(layout, "truncate", size=100, device=(254 << 20), inode=9, path="/data/f"))
    assert event["file"] == {"path": "/data/f", "size": 100, "inode": 9, "device": "254:0"}
