"""Compiled emitters against the generic path on layouts no tracker has yet
(the integration test covers every real tracker's records)."""

from __future__ import annotations

import struct
from pathlib import Path

import orjson

from eunomia.bpf.layout import Field, RecordLayout
from eunomia.context.processes import ProcessTable
from eunomia.context.registry import ContainerRegistry
from eunomia.pipeline.clock import BootClock
from eunomia.pipeline.enrich import Enricher
from eunomia.trackers import TrackerDef

TASK = [("type", "I"), ("task.pid", "I"), ("task.tid", "I"), ("task.ppid", "I"), ("task.uid", "I"),
        ("task.gid", "I"), ("task.flags", "I"), ("pad", "I"), ("task.ts", "Q"), ("task.cgroup_id", "Q"),
        ("task.mntns", "Q"), ("task.comm", "16s")]


def layout_with(*extra: tuple[str, str]) -> RecordLayout:
    fields, offset = [], 0
    for name, code in TASK + list(extra):
        size = struct.calcsize(code)
        fields.append(Field(name, offset, size, code, None, is_text=name == "task.comm"))
        offset += size
    return RecordLayout("event_test", offset, fields, [], None)


def record(layout: RecordLayout, **values: int | bytes) -> memoryview:
    buf = bytearray(layout.size)
    for f in layout.fields:
        struct.pack_into("<" + f.code, buf, f.offset, values.get(f.name, b"sh" if f.is_text else 0))
    return memoryview(bytes(buf))


def both(fields: dict[str, str], layout: RecordLayout, formatters=None, **values):
    tracker = TrackerDef(name="test", summary="", needs=(), fields=fields, formatters=formatters or {})
    enricher = Enricher(ContainerRegistry([]), ProcessTable(), BootClock(), proc_root=Path("/nonexistent"))
    enricher._by_typedef.update(formatters or {})
    enricher.plan(tracker, "test", layout)
    emitter = enricher.emitter(tracker, "test")
    assert emitter is not None
    buf = record(layout, **values)
    generic = enricher.enrich(tracker, "test", layout.decode(buf))
    return generic, emitter(buf)[1]


def test_a_field_under_a_block_every_event_has_keeps_that_block():
    layout = layout_with(("extra", "I"))
    generic, compiled = both({"extra": "user.name"}, layout, **{"task.uid": 1000, "extra": 7})
    assert compiled["user"] == generic["user"] == {"id": 1000, "name": 7}
    assert orjson.dumps(compiled) == orjson.dumps(generic)


def test_a_dict_placed_first_then_a_field_under_it():
    layout = layout_with(("status", "I"), ("extra", "I"))
    fields = {"status": "outcome", "extra": "outcome.detail"}
    semantic = {f.name: f for f in layout.fields}
    layout.fields[[f.name for f in layout.fields].index("status")] = Field(
        "status", semantic["status"].offset, 4, "I", "eun_test_status")
    layout = RecordLayout(layout.name, layout.size, layout.fields, [], None)
    generic, compiled = both(fields, layout, {"eun_test_status": lambda v: {"code": v}}, status=3, extra=9)
    assert compiled["outcome"] == generic["outcome"] == {"code": 3, "detail": 9}
    assert orjson.dumps(compiled) == orjson.dumps(generic)
