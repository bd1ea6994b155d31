"""Feature probes: what this kernel really offers, tried, not guessed.

Each hook kind is probed by loading and attaching a trivial program
(bpf/probes/probes.bpf.c) with every other program switched off; map types
and helpers by libbpf's own probes.  Results are cached per process.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import _libbpf
from .errors import BpfError
from .object import ObjectSpec
from .tracefs import TracefsError, ensure_tracefs

PROBES_OBJECT = Path(__file__).parent / "probes" / "probes.bpf.o"
VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")

BPF_MAP_TYPE_RINGBUF = 27
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_FUNC_LOOP = 181

# what each feature means for the user, shown by `eunomia doctor`
DESCRIPTIONS = {
    "btf": "kernel BTF (/sys/kernel/btf/vmlinux): CO-RE objects relocate against it",
    "ringbuf": "BPF ring buffer: how events reach user space",
    "bpf_loop": "bpf_loop helper: path walks and name scans in the kernel",
    "tracepoint": "classic tracepoints (syscalls:*): needs tracefs",
    "raw_tracepoint": "raw tracepoints (sched, cgroup, sys_enter): the cheap hooks",
    "kprobe": "kprobes: optional, nothing depends on them",
    "fentry": "fentry/fexit: optional, nothing depends on them",
    "tp_btf": "BTF-typed tracepoints (sys_enter, sys_exit): the syscall dispatcher",
    "lsm": "BPF LSM: optional, enforcement is left to seccomp and capabilities",
    "uprobe": "uprobes: user-space function hooks",
    "perf_event": "perf event programs: sampling",
}

_PROGRAM_FOR = {
    "tracepoint": "probe_tracepoint", "raw_tracepoint": "probe_raw_tracepoint", "kprobe": "probe_kprobe",
    "fentry": "probe_fentry", "tp_btf": "probe_tp_btf", "lsm": "probe_lsm",
    "uprobe": "probe_uprobe", "perf_event": "probe_perf_event",
}


@dataclass(frozen=True)
class Feature:
    name: str
    available: bool
    detail: str = ""

    @property
    def description(self) -> str:
        return DESCRIPTIONS.get(self.name, self.name)


_cache: dict[str, Feature] = {}


def probe(name: str) -> Feature:
    if name not in _cache:
        checker = _CHECKS.get(name)
        if checker is None:
            raise KeyError(f"unknown feature {name!r}")
        try:
            _cache[name] = checker(name)
        except BpfError as exc:
            _cache[name] = Feature(name, False, str(exc))
    return _cache[name]


def probe_all() -> dict[str, Feature]:
    return {name: probe(name) for name in _CHECKS}


def _btf(name: str) -> Feature:
    ok = VMLINUX_BTF.is_file()
    return Feature(name, ok, str(VMLINUX_BTF) if ok else "missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y")


def _ringbuf(name: str) -> Feature:
    ret = _libbpf.lib().libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, None)
    return Feature(name, ret == 1, "" if ret == 1 else f"libbpf probe returned {ret} (needs Linux >= 5.8)")


def _bpf_loop(name: str) -> Feature:
    ret = _libbpf.lib().libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_LOOP, None)
    return Feature(name, ret == 1, "" if ret == 1 else f"libbpf probe returned {ret} (needs Linux >= 5.17)")


def _attach_probe(name: str) -> Feature:
    if name == "tracepoint":
        try:
            ensure_tracefs()
        except TracefsError as exc:
            return Feature(name, False, str(exc))
    with ObjectSpec(PROBES_OBJECT) as spec:
        wanted = _PROGRAM_FOR[name]
        for program in spec.programs.values():
            program.autoload = program.name == wanted
        try:
            obj = spec.load()
        except BpfError as exc:
            return Feature(name, False, f"load failed: {exc}")
        with obj, _libbpf.captured_messages(quiet=True):
            program = obj.programs[wanted]
            try:
                if name == "uprobe":
                    link = program.attach_uprobe(_libc_path(), function="getpid")
                elif name == "perf_event":
                    # the link owns the perf event fd: destroying it closes the fd
                    link = program.attach_perf_event(_open_cpu_clock_event())
                else:
                    link = program.attach()
            except BpfError as exc:
                return Feature(name, False, f"attach failed: {exc}")
            link.destroy()
    return Feature(name, True)


def _libc_path() -> str:
    for candidate in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6",
                      "/usr/lib/libc.so.6", "/lib64/libc.so.6"):
        if os.path.exists(candidate):
            return candidate
    return "libc.so.6"


_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, PERF_FLAG_FD_CLOEXEC = 1, 0, 8


def _open_cpu_clock_event() -> int:
    nr = _PERF_EVENT_OPEN.get(platform.machine())
    if nr is None:
        raise BpfError(f"perf_event_open: unknown syscall number on {platform.machine()}")
    # struct perf_event_attr (PERF_ATTR_SIZE_VER5 = 112 bytes): type, size,
    # config, sample_period; the rest zero (flags: not disabled)
    attr = struct.pack("<IIQQ", PERF_TYPE_SOFTWARE, 112, PERF_COUNT_SW_CPU_CLOCK, 1_000_000).ljust(112, b"\0")
    buf = ctypes.create_string_buffer(attr, len(attr))
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(nr, buf, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        raise BpfError("perf_event_open failed", errno=ctypes.get_errno())
    return fd


_CHECKS: dict[str, Callable[[str], Feature]] = {
    "btf": _btf,
    "ringbuf": _ringbuf,
    "bpf_loop": _bpf_loop,
    **{name: _attach_probe for name in _PROGRAM_FOR},
}
