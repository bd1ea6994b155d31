"""The decoder's event layouts against ground truth it did not compute.

eunomia.bpf.btf / eunomia.bpf.layout read each object's BTF themselves.
Here the same objects are read by bpftool (`bpftool btf dump file X.bpf.o
format raw`, libbpf's own parser), its text output is parsed, and for every
`struct event_*` of every tracker the members — nested structs (struct
eun_task, struct eun_target, struct eun_tail_ref) flattened with dots, and
arrays — must have the names, offsets and sizes the decoder uses.  Then
records are packed byte by byte at bpftool's offsets and the decoder must
read back the same values.

Without the built objects (`make bpf`) or bpftool these tests are skipped;
with CI=true the project's policy (tests/conftest.py) makes those skips
failures: a CI run must not pass by skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NoReturn

import pytest

from eunomia import trackers
from eunomia.bpf.layout import REF_ABSENT, TAIL_MEMBER, RecordDecoder, RecordLayout, struct_layout
from eunomia.bpf.object import ObjectSpec

TRACKERS = trackers.discover()
MODIFIERS = {"TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"}
EVENT_ENUM = "eun_event_type"
REF_TYPEDEFS = ("eun_path_ref", "eun_str_ref", "eun_argv_ref")


def skip_or_fail(reason: str) -> NoReturn:
    """A skip; tests/conftest.py turns every skip into a failure under CI=true,
    so a CI run cannot pass by not checking the layouts."""
    pytest.skip(reason)


# -- bpftool's raw dump, parsed -------------------------------------------------

@dataclass
class RawType:
    id: int
    kind: str
    name: str
    attrs: dict[str, str]
    members: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # members, enumerators


HEADER = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")
MEMBER = re.compile(r"^\s+'([^']*)'(.*)$")
ATTR = re.compile(r"(\w+)=(\S+)")


def parse_raw(text: str) -> dict[int, RawType]:
    types: dict[int, RawType] = {}
    current: RawType | None = None
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            tid, kind, name, rest = header.groups()
            current = types[int(tid)] = RawType(int(tid), kind, name, dict(ATTR.findall(rest)))
            continue
        member = MEMBER.match(line)
        if member and current is not None:
            current.members.append((member.group(1), dict(ATTR.findall(member.group(2)))))
    return types


def bpftool_types(obj: Path) -> dict[int, RawType]:
    tool = shutil.which("bpftool") or next((p for p in ("/usr/sbin/bpftool", "/sbin/bpftool") if os.path.exists(p)),
                                           None)
    if tool is None:
        skip_or_fail("bpftool is not installed (apt-get install bpftool)")
    if not obj.exists():
        skip_or_fail(f"{obj.name} is not built: run `make bpf`")
    out = subprocess.run([tool, "btf", "dump", "file", str(obj), "format", "raw"],
                         capture_output=True, text=True, check=True)
    return parse_raw(out.stdout)


@dataclass(frozen=True)
class Leaf:
    """One scalar or array member of an event, as bpftool describes it."""

    name: str              # dotted through nested structs
    offset: int            # bytes
    size: int
    kind: str              # INT, ENUM, ENUM64, PTR, ARRAY
    signed: bool = False
    elem_size: int = 0     # ARRAY: size of one element
    enumerators: tuple[tuple[str, int], ...] = ()
    typedef: str | None = None   # the outermost typedef the member was declared with


class Truth:
    def __init__(self, types: dict[int, RawType]) -> None:
        self.types = types

    def resolve(self, tid: int) -> tuple[RawType, str | None]:
        typedef = None
        t = self.types[tid]
        while t.kind in MODIFIERS:
            if t.kind == "TYPEDEF" and typedef is None:
                typedef = t.name
            t = self.types[int(t.attrs["type_id"])]
        return t, typedef

    def size_of(self, tid: int) -> int:
        t, _ = self.resolve(tid)
        if t.kind == "ARRAY":
            return int(t.attrs["nr_elems"]) * self.size_of(int(t.attrs["type_id"]))
        if t.kind == "PTR":
            return 8
        return int(t.attrs["size"])

    def structs(self, prefix: str) -> dict[str, RawType]:
        return {t.name: t for t in self.types.values() if t.kind == "STRUCT" and t.name.startswith(prefix)}

    def enum(self, name: str) -> dict[str, int]:
        t = next(t for t in self.types.values() if t.kind in ("ENUM", "ENUM64") and t.name == name)
        return {n: int(a["val"]) for n, a in t.members}

    def leaves(self, struct: RawType, prefix: str = "", base: int = 0) -> list[Leaf]:
        found: list[Leaf] = []
        for name, attrs in struct.members:
            assert int(attrs.get("bitfield_size", 0)) == 0, f"{prefix}{name} is a bitfield"
            bits = int(attrs["bits_offset"])
            assert bits % 8 == 0, f"{prefix}{name} is not byte-aligned"
            offset, tid = base + bits // 8, int(attrs["type_id"])
            t, typedef = self.resolve(tid)
            if t.kind == "STRUCT":
                found.extend(self.leaves(t, f"{prefix}{name}.", offset))
                continue
            assert t.kind in ("INT", "ENUM", "ENUM64", "PTR", "ARRAY"), f"{prefix}{name}: {t.kind}"
            leaf: dict[str, Any] = {"name": prefix + name, "offset": offset, "size": self.size_of(tid),
                                    "kind": t.kind, "typedef": typedef}
            if t.kind == "INT":
                leaf["signed"] = t.attrs.get("encoding") == "SIGNED"
            elif t.kind in ("ENUM", "ENUM64"):
                leaf["signed"] = t.attrs.get("encoding") == "SIGNED"
                leaf["enumerators"] = tuple((n, int(a["val"])) for n, a in t.members)
            elif t.kind == "ARRAY":
                leaf["elem_size"] = self.size_of(int(t.attrs["type_id"]))
            found.append(Leaf(**leaf))
        return found

    def refs(self, struct: RawType) -> dict[str, str]:
        """Top-level members declared with an eun_*_ref typedef: name → typedef."""
        found = {}
        for name, attrs in struct.members:
            _, typedef = self.resolve(int(attrs["type_id"]))
            if typedef in REF_TYPEDEFS:
                found[name] = typedef
        return found


@pytest.fixture(scope="module", params=sorted(TRACKERS))
def tracker_object(request: pytest.FixtureRequest) -> Iterator[tuple[str, Truth, Any]]:
    obj = TRACKERS[request.param].object_path
    truth = Truth(bpftool_types(obj))
    with ObjectSpec(obj) as spec:
        yield request.param, truth, spec.btf


def events_of(truth: Truth, btf: Any) -> list[tuple[RawType, RecordLayout]]:
    return [(raw, struct_layout(btf, name)) for name, raw in sorted(truth.structs("event_").items())]


def int_code(size: int, signed: bool) -> str:
    code = {1: "b", 2: "h", 4: "i", 8: "q"}[size]
    return code if signed else code.upper()


# -- the layouts ---------------------------------------------------------------

def test_every_tracker_with_a_ring_defines_events(tracker_object):
    name, truth, _ = tracker_object
    if TRACKERS[name].streaming or name == "cgroup":
        assert truth.structs("event_"), f"{name}.bpf.o has no struct event_*"


def test_members_names_offsets_and_sizes(tracker_object):
    _, truth, btf = tracker_object
    for raw, layout in events_of(truth, btf):
        leaves = [leaf for leaf in truth.leaves(raw) if leaf.name != TAIL_MEMBER]
        assert layout.name == raw.name
        assert layout.size == int(raw.attrs["size"]), raw.name
        assert [(f.name, f.offset, f.size) for f in layout.fields] == [(x.name, x.offset, x.size) for x in leaves]
        tail = [leaf for leaf in truth.leaves(raw) if leaf.name == TAIL_MEMBER]
        assert layout.tail_offset == (tail[0].offset if tail else None), raw.name


def test_members_types(tracker_object):
    """Signedness, enum values, arrays and the typedef each member was declared with."""
    _, truth, btf = tracker_object
    for raw, layout in events_of(truth, btf):
        leaves = {leaf.name: leaf for leaf in truth.leaves(raw)}
        for f in layout.fields:
            leaf = leaves[f.name]
            assert f.semantic == leaf.typedef, f"{raw.name}.{f.name}"
            if leaf.kind == "ARRAY":
                assert f.code == f"{leaf.size}s" and f.is_text == (leaf.elem_size == 1), f"{raw.name}.{f.name}"
            else:
                assert f.code == int_code(leaf.size, leaf.signed), f"{raw.name}.{f.name}"
            if leaf.enumerators:
                assert f.enum_names is not None and sorted(f.enum_names) == sorted(v for _, v in leaf.enumerators)
                for enumerator, value in leaf.enumerators:
                    assert enumerator.lower().endswith(f.enum_names[value]), (enumerator, f.enum_names[value])
            else:
                assert f.enum_names is None
        assert sorted(layout.refs) == sorted(truth.refs(raw).items()), raw.name


def test_nested_structs_are_flattened(tracker_object):
    """struct eun_task is in every event, at the same place in every object."""
    _, truth, btf = tracker_object
    for raw, layout in events_of(truth, btf):
        members = dict(raw.members)
        if "task" not in members:
            continue
        task, _ = truth.resolve(int(members["task"]["type_id"]))
        base = int(members["task"]["bits_offset"]) // 8
        expected = {f"task.{name}": base + int(a["bits_offset"]) // 8 for name, a in task.members}
        got = {f.name: f.offset for f in layout.fields if f.name.startswith("task.")}
        assert got == expected, raw.name


def test_every_event_struct_is_decoded_by_its_type(tracker_object):
    """RecordDecoder maps enumerator EUN_EV_<X> (values from bpftool) to struct event_<x>."""
    _, truth, btf = tracker_object
    structs = truth.structs("event_")
    if not structs:
        return
    values = truth.enum(EVENT_ENUM)
    decoder = RecordDecoder(btf)
    for name in structs:
        kind = name[len("event_"):]
        value = values[f"EUN_EV_{kind.upper()}"]
        assert decoder.layouts[value][0] == kind and decoder.layouts[value][1].name == name


# -- round trip: bytes packed at bpftool's offsets ----------------------------------

REF_DATA = {  # what a BPF program writes in the tail for each kind of reference → what it means
    "eun_path_ref": (b"leaf\0mid\0root\0", "/root/mid/leaf"),
    "eun_str_ref": (b"a string", "a string"),
    "eun_argv_ref": (b"sh\0-c\0echo hi\0", ["sh", "-c", "echo hi"]),
}


def pattern(i: int, size: int) -> bytes:
    """Distinct bytes for the i-th member: a shifted offset reads other bytes."""
    return bytes((i * 29 + k * 7 + 1) & 0xFF for k in range(size))


def pack_record(truth: Truth, raw: RawType) -> tuple[bytes, dict[str, Any]]:
    """A record filled member by member at bpftool's offsets, and what each member holds."""
    leaves = truth.leaves(raw)
    buf = bytearray(int(raw.attrs["size"]))
    expected: dict[str, Any] = {}
    refs = truth.refs(raw)
    tail_leaf = next((leaf for leaf in leaves if leaf.name == TAIL_MEMBER), None)
    tail, absent = b"", sorted(refs)[-1:] if len(refs) > 1 else []  # one reference left absent
    ref_at: dict[str, tuple[int, int]] = {}
    for ref, typedef in sorted(refs.items()):
        if ref in absent:
            ref_at[ref], expected[ref] = (REF_ABSENT, 0), None
            continue
        data, meaning = REF_DATA[typedef]
        ref_at[ref], expected[ref] = (len(tail), len(data)), meaning
        tail += data
    for i, leaf in enumerate(leaves):
        if leaf.name == TAIL_MEMBER:
            continue
        ref, _, part = leaf.name.rpartition(".")
        if ref in ref_at:
            value = ref_at[ref][0 if part == "off" else 1]
            buf[leaf.offset:leaf.offset + leaf.size] = value.to_bytes(leaf.size, "little")
            continue
        if leaf.kind == "ARRAY" and leaf.elem_size == 1:
            text = f"m{i}"[: leaf.size - 1]
            buf[leaf.offset:leaf.offset + len(text)] = text.encode()
            expected[leaf.name] = text
        elif leaf.kind == "ARRAY":
            data = pattern(i, leaf.size)
            buf[leaf.offset:leaf.offset + leaf.size] = data
            expected[leaf.name] = data
        elif leaf.enumerators:
            enumerator, value = leaf.enumerators[i % len(leaf.enumerators)]
            buf[leaf.offset:leaf.offset + leaf.size] = value.to_bytes(leaf.size, "little", signed=leaf.signed)
            expected[leaf.name] = (enumerator, value)
        else:
            data = pattern(i, leaf.size)
            buf[leaf.offset:leaf.offset + leaf.size] = data
            expected[leaf.name] = int.from_bytes(data, "little", signed=leaf.signed)
    if tail:
        assert tail_leaf is not None, f"{raw.name} has references but no tail"
        buf[tail_leaf.offset:tail_leaf.offset + len(tail)] = tail
    return bytes(buf), expected


def assert_decoded(record: dict[str, Any], expected: dict[str, Any], struct: str) -> None:
    assert set(record) == set(expected), struct
    for name, want in expected.items():
        got = record[name]
        if isinstance(want, tuple):  # an enum: its value, or (not `type`) its enumerator's short name
            enumerator, value = want
            if name == "type":
                assert got == value, struct
            else:
                assert isinstance(got, str) and got and enumerator.lower().endswith(got), (struct, name, got)
        else:
            assert got == want, f"{struct}.{name}: {got!r} != {want!r}"


def test_round_trip_at_bpftool_offsets(tracker_object):
    _, truth, btf = tracker_object
    for raw, layout in events_of(truth, btf):
        data, expected = pack_record(truth, raw)
        assert_decoded(layout.decode(data), expected, raw.name)


def test_round_trip_through_the_record_decoder(tracker_object):
    """The whole path `trace` uses: the record's `type` (EUN_EV_<X>, from bpftool) picks its layout."""
    _, truth, btf = tracker_object
    decoder = RecordDecoder(btf)
    for raw, _ in events_of(truth, btf):
        data, expected = pack_record(truth, raw)
        kind = raw.name[len("event_"):]
        enumerator = f"EUN_EV_{kind.upper()}"
        value = truth.enum(EVENT_ENUM)[enumerator]
        at = int(dict(raw.members)["type"]["bits_offset"]) // 8
        decoded = decoder.decode(data[:at] + value.to_bytes(4, "little") + data[at + 4:])
        assert decoded is not None and decoded[0] == kind
        assert_decoded(decoded[1], {**expected, "type": (enumerator, value)}, raw.name)


def test_raw_parser_reads_members_and_enumerators():
    sample = ("[1] INT 'unsigned int' size=4 bits_offset=0 nr_bits=32 encoding=(none)\n"
              "[2] TYPEDEF 'eun_pid' type_id=1\n"
              "[3] STRUCT 'event_x' size=8 vlen=2\n"
              "\t'pid' type_id=2 bits_offset=0\n"
              "\t'e' type_id=4 bits_offset=32\n"
              "[4] ENUM 'x_op' encoding=UNSIGNED size=4 vlen=2\n"
              "\t'X_OP_A' val=0\n"
              "\t'X_OP_B' val=1\n")
    truth = Truth(parse_raw(sample))
    leaves = truth.leaves(truth.structs("event_")["event_x"])
    assert [(x.name, x.offset, x.size, x.kind, x.typedef) for x in leaves] == [
        ("pid", 0, 4, "INT", "eun_pid"), ("e", 4, 4, "ENUM", None)]
    assert leaves[1].enumerators == (("X_OP_A", 0), ("X_OP_B", 1))


def test_missing_build_is_a_skip_naming_the_fix(tmp_path):
    """(tests/conftest.py makes it a failure when CI=true.)"""
    with pytest.raises(pytest.skip.Exception, match="is not built: run `make bpf`"):
        bpftool_types(tmp_path / "absent.bpf.o")
