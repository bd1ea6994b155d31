"""file: opens, unlinks, renames, chmod/chown, mkdir, links and truncates as
events; bytes read and written per (container, file) counted in the kernel."""

from __future__ import annotations

from typing import Any

from eunomia import syscalls
from eunomia.trackers import Composer, Handles, TrackerDef

from .io import read_file_bytes
from .paths import RAW, PathMemory, finish_event, shaper_for

# counted in the file_bytes map (the copy calls at both ends)
READS = ("read", "pread64", "readv", "preadv", "preadv2")
WRITES = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
COPIES = ("splice", "copy_file_range")  # sendfile has its own order of fds
READ_WRITE = READS + WRITES + ("sendfile",) + COPIES
# one event each; the legacy ones (open, creat, rename, …) exist on x86-64, not arm64
FILE_OPS = ("open", "creat", "openat", "openat2", "unlink", "unlinkat", "rmdir",
            "rename", "renameat", "renameat2", "chmod", "fchmod", "fchmodat", "fchmodat2",
            "chown", "lchown", "fchown", "fchownat", "mkdir", "mkdirat",
            "symlink", "symlinkat", "link", "linkat", "truncate", "ftruncate")
NR_NONE = 0xFFFFFFFF      # FILE_NR_NONE: this syscall does not exist here

# file.bpf.c's handlers see the calls of monitored tasks only; the
# dispatcher counts the file operations the container filter discards (the
# `filtered` statistic)
SYSCALL_HANDLERS = {
    "exit__read": Handles(READS),
    "exit__write": Handles(WRITES),
    "exit__sendfile": Handles(("sendfile",)),
    "exit__copy": Handles(COPIES),
    "exit__file_op": Handles(FILE_OPS, count_filtered=True),
}

# paths learnt from events during this process's traces, for the byte counts
MEMORY = PathMemory()


def knobs() -> dict[str, int]:
    """targ_nr_<syscall> for each file operation: how its handler tells them apart."""
    numbers = syscalls.numbers_of(*FILE_OPS)
    return {f"targ_nr_{name}": numbers.get(name, NR_NONE) for name in FILE_OPS}


def post_enrich(event: dict[str, Any], registry: Any) -> None:
    finish_event(event, MEMORY)


def aggregates(obj: Any, registry: Any) -> list[dict[str, Any]]:
    return read_file_bytes(obj, registry.container_of, MEMORY)


TRACKER = TrackerDef(
    name="file",
    summary="file opens (absolute path, flags, fd/errno), unlink, rename, chmod, chown, mkdir, "
            "links, truncate; bytes read/written per container and file",
    needs=("ringbuf", "raw_tracepoint", "bpf_loop", "tp_btf"),
    ringbuf_bytes=4 << 20,
    # the kernel's pieces go under RAW; post_enrich turns them into `file`
    fields={
        "result": "result",
        "path": f"{RAW}.resolved",
        "name": f"{RAW}.name",
        "dir": f"{RAW}.dir",
        "target_name": f"{RAW}.target_name",
        "target_dir": f"{RAW}.target_dir",
        "flags": f"{RAW}.flags",
        "mode": f"{RAW}.mode",
        "uid": f"{RAW}.uid",
        "gid": f"{RAW}.gid",
        "size": f"{RAW}.size",
        "inode": f"{RAW}.inode",
        "device": f"{RAW}.device",
    },
    # no formatters: the pieces under RAW are formatted by finish_event, for
    # the keys each kind shows only (paths.SHOWN_FORMAT)
    knobs=knobs,
    syscall_handlers=SYSCALL_HANDLERS,
    aggregates=aggregates,
    on_forget=MEMORY.forget_containers,
    post_enrich=post_enrich,
    composer=Composer(node=RAW, key="file", make=shaper_for),  # the emitters shape `file` at once
)
