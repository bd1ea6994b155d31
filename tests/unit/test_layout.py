"""Record layouts from the BTF of the compiled objects (eunomia.bpf.layout).

Opening an object with libbpf needs no root and loads nothing in the kernel.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import eunomia
from eunomia.bpf.btf import Btf, BtfFormatError
from eunomia.bpf.errors import BpfError
from eunomia.bpf.layout import _STRINGS, REF_ABSENT, REF_DECODERS, RecordDecoder, decode_argv, decode_path, decode_str
from eunomia.bpf.object import ObjectSpec

TRACKERS = Path(eunomia.__file__).parent / "trackers"
EXEC_OBJ = TRACKERS / "exec" / "exec.bpf.o"
CGROUP_OBJ = TRACKERS / "cgroup" / "cgroup.bpf.o"


@pytest.fixture(scope="module")
def exec_spec():
    with ObjectSpec(EXEC_OBJ) as spec:
        yield spec


@pytest.fixture(scope="module")
def decoder(exec_spec):
    return RecordDecoder(exec_spec.btf)


def _layout(decoder, kind):
    return next(layout for k, layout in decoder.layouts.values() if k == kind)


def _record(layout, values: dict, tail: bytes = b"") -> bytes:
    """A record built byte for byte at the offsets the BTF gives."""
    size = (layout.tail_offset if layout.tail_offset is not None else layout.size) + len(tail)
    buf = bytearray(size)
    for f in layout.fields:
        default = b"" if f.code.endswith("s") else 0
        struct.pack_into("<" + f.code, buf, f.offset, values.get(f.name, default))
    if layout.tail_offset is not None:
        buf[layout.tail_offset:] = tail
    return bytes(buf)


TASK = {"task.ts": 5_000_000_123, "task.cgroup_id": 4242, "task.cap_effective": 0xA80425FB, "task.pid": 100, "task.tid": 101,
        "task.ppid": 1, "task.uid": 1000, "task.gid": 1001, "task.mntns": 4026531840,
        "task.pidns": 4026531836, "task.flags": 0}


def test_btf_and_kinds(exec_spec, decoder):
    assert isinstance(exec_spec.btf, Btf)
    assert set(decoder.kinds) == {"exec", "exit", "fork"}
    assert len(decoder.kinds) == 3


def test_exec_record_decodes_every_field(decoder):
    layout = _layout(decoder, "exec")
    argv, path = b"ls\0-l\0/tmp\0", b"ls\0bin\0usr\0"
    values = {"type": 1, "result": 0, **TASK, "task.comm": b"ls\0junk-after-nul", "tty": 34816, "exe_flags": 3, "loginuid": 1000, "pad": 0,
              "args.off": 0, "args.len": len(argv),
              "executable.off": len(argv), "executable.len": len(path),
              "cwd.off": len(argv) + len(path), "cwd.len": 0,
              "filename.off": REF_ABSENT, "filename.len": 0}
    buf = _record(layout, values, argv + path)

    kind, rec = decoder.decode(buf)

    assert kind == "exec"
    assert rec == {"type": 1, "result": 0, **TASK, "task.comm": "ls", "tty": 34816, "exe_flags": 3, "loginuid": 1000, "pad": 0,
                   "executable": "/usr/bin/ls", "cwd": "/", "filename": None,
                   "args": ["ls", "-l", "/tmp"]}


def test_failed_exec_record(decoder):
    layout = _layout(decoder, "exec")
    argv, filename, cwd = b"./tool\0", b"./tool\0", b"tmp\0"
    values = {"type": 1, "result": -2, **TASK, "task.comm": b"sh",
              "args.off": 0, "args.len": len(argv),
              "filename.off": len(argv), "filename.len": len(filename) - 1,
              "cwd.off": len(argv) + len(filename), "cwd.len": len(cwd),
              "executable.off": REF_ABSENT, "executable.len": 0}
    kind, rec = decoder.decode(_record(layout, values, argv + filename + cwd))
    assert kind == "exec"
    assert rec["result"] == -2
    assert (rec["executable"], rec["filename"], rec["cwd"], rec["args"]) == (None, "./tool", "/tmp", ["./tool"])


def test_invalid_utf8_is_escaped_not_fatal(decoder):
    layout = _layout(decoder, "exec")
    argv = b"caf\xe9\0\xff\xfe\0"
    values = {"type": 1, **TASK, "task.comm": b"b\xffad\0",
              "args.off": 0, "args.len": len(argv),
              "executable.off": REF_ABSENT, "cwd.off": REF_ABSENT, "filename.off": REF_ABSENT}
    _, rec = decoder.decode(_record(layout, values, argv))
    assert rec["args"] == ["caf\\xe9", "\\xff\\xfe"]
    assert rec["task.comm"] == "b\\xffad"
    assert rec["cwd"] is None and rec["executable"] is None


def test_fixed_size_records(decoder):
    fork = _layout(decoder, "fork")
    _, rec = decoder.decode(_record(fork, {"type": 3, "child_pid": 777, **TASK, "task.comm": b"bash"}))
    assert rec == {"type": 3, "child_pid": 777, **TASK, "task.comm": "bash"}

    exit_ = _layout(decoder, "exit")
    _, rec = decoder.decode(_record(exit_, {"type": 2, "status": 3 << 8, **TASK,
                                            "task.comm": b"0123456789abcdef", "duration": 1_500_000}))
    # a 16-byte comm has no NUL: all of it is the name
    assert rec == {"type": 2, "status": 768, **TASK, "task.comm": "0123456789abcdef", "duration": 1_500_000}


def test_unknown_event_type_is_none(decoder):
    fork = _layout(decoder, "fork")
    assert decoder.decode(_record(fork, {"type": 99})) is None
    assert decoder.decode(_record(fork, {"type": 0})) is None  # EUN_EV_NONE has no struct


def test_semantics_come_from_typedefs(decoder):
    exec_ = _layout(decoder, "exec")
    assert exec_.semantic_of("result") == "eun_errno"
    assert exec_.semantic_of("executable") == "eun_path_ref"
    assert exec_.semantic_of("cwd") == "eun_path_ref"
    assert exec_.semantic_of("args") == "eun_argv_ref"
    assert exec_.semantic_of("filename") == "eun_str_ref"
    assert exec_.semantic_of("task.ts") == "eun_ts"
    assert exec_.semantic_of("nosuchfield") is None
    assert _layout(decoder, "exit").semantic_of("status") == "eun_wait_status"
    assert _layout(decoder, "exit").semantic_of("duration") == "eun_duration"
    assert exec_.tail_offset == exec_.fixed_size  # tail starts right after the refs


@pytest.mark.parametrize(("raw", "expected"), [
    (b"", "/"),
    (b"ls\0", "/ls"),
    (b"ls\0bin\0usr\0", "/usr/bin/ls"),
    (b"ls\0bin", "/bin/ls"),               # last NUL cut off
    (b"my file\0dir\xff\0", "/dir\\xff/my file"),
])
def test_decode_path(raw, expected):
    assert decode_path(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (b"", []),
    (b"ls\0", ["ls"]),
    (b"a\0\0b\0", ["a", "", "b"]),        # an empty argument is kept
    (b"sh\0-c\0ec", ["sh", "-c", "ec"]),   # truncated: last argument without NUL
    (b"\x1b[31m\0", ["\x1b[31m"]),        # controls are kept here; sinks escape them
])
def test_decode_argv(raw, expected):
    assert decode_argv(raw) == expected


def test_tail_strings_are_decoded_without_being_kept():
    """Paths as passed are as often unique: they must not churn the cache of comms."""
    decode = REF_DECODERS["eun_str_ref"]
    before = len(_STRINGS)
    assert decode(b"/tmp/unique-\xff-name") == "/tmp/unique-\\xff-name"  # invalid UTF-8 stays visible
    assert decode(b"abc\0def") == "abc"
    assert len(_STRINGS) == before


def test_decode_str_stops_at_nul():
    assert decode_str(b"abc\0def") == "abc"
    assert decode_str(b"") == ""


@pytest.mark.parametrize("data", [b"", b"\x00" * 10, b"garbage!" * 8, b"\x9f\xeb"])
def test_btf_garbage_raises_format_error(data):
    with pytest.raises(BtfFormatError):
        Btf.from_bytes(data)


def test_btf_truncated_types_raise_format_error():
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 13, 13, 0)
    with pytest.raises(BtfFormatError):
        Btf.from_bytes(header + b"\0" * 13)


def test_knob_names(exec_spec):
    assert set(exec_spec.knob_names()) == {"filter_by_container", "filter_keep_host", "targ_wakeup_bytes",
                                           "targ_enter_next_slots", "targ_exit_next_slots"}
    with ObjectSpec(CGROUP_OBJ) as spec:
        assert {"filter_all_containers", "filter_by_container", "filter_keep_host"} <= set(spec.knob_names())
        assert set(RecordDecoder(spec.btf).kinds) == {"cgroup_mkdir", "cgroup_rmdir"}


def test_missing_object_says_make_bpf(tmp_path):
    with pytest.raises(BpfError, match="make bpf") as info:
        ObjectSpec(tmp_path / "nosuch.bpf.o")
    assert "nosuch.bpf.o" in str(info.value)


def test_garbage_object_is_a_bpf_error(tmp_path):
    bogus = tmp_path / "bogus.bpf.o"
    bogus.write_bytes(b"not an ELF file" * 8)
    with pytest.raises(BpfError, match="bogus.bpf.o"):
        ObjectSpec(bogus)


def test_map_keys_and_values_decode_from_their_btf_types():
    """Map.records() decodes with the map's own BTF types: no layout in Python."""
    import struct as _struct

    from eunomia.bpf._libbpf import lib
    from eunomia.bpf.layout import value_decoder
    from eunomia.trackers import discover

    with ObjectSpec(discover()["file"].object_path) as spec:
        handle = spec.maps["file_bytes"]._h
        decode_key = value_decoder(spec.btf, lib().bpf_map__btf_key_type_id(handle))
        decode_value = value_decoder(spec.btf, lib().bpf_map__btf_value_type_id(handle))
        key = decode_key(_struct.pack("<QQII", 7, 1234, 40, 0))
        value = decode_value(_struct.pack("<5Q", 1, 2, 3, 4, 5))
    assert key == {"cgroup_id": 7, "inode": 1234, "device": 40, "pad": 0}
    assert value == {"bytes_read": 1, "bytes_written": 2, "reads": 3, "writes": 4, "opens": 5}
