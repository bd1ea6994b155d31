"""file: opens, unlinks, renames, chmod/chown, mkdir, links and truncates as
events; bytes read and written per (container, file) counted in the kernel."""

from __future__ import annotations

from typing import Any

from eunomia import syscalls
from eunomia.trackers import TrackerDef

from .formats import FORMATTERS
from .io import read_file_bytes
from .paths import RAW, PathMemory, finish_event

# counted in the file_bytes map (the copy calls at both ends)
READ_WRITE = ("read", "write", "pread64", "pwrite64", "readv", "writev",
              "preadv", "pwritev", "preadv2", "pwritev2",
              "sendfile", "splice", "copy_file_range")
# one event each; the legacy ones (open, creat, rename, …) exist on x86-64, not arm64
FILE_OPS = ("open", "creat", "openat", "openat2", "unlink", "unlinkat", "rmdir",
            "rename", "renameat", "renameat2", "chmod", "fchmod", "fchmodat", "fchmodat2",
            "chown", "lchown", "fchown", "fchownat", "mkdir", "mkdirat",
            "symlink", "symlinkat", "link", "linkat", "truncate", "ftruncate")
# syscalls added since Linux 5.1 have one number on every architecture: used
# when the installed libseccomp is older than the syscall
UNIFIED_NUMBERS = {"openat2": 437, "fchmodat2": 452}
NR_NONE = 0xFFFFFFFF      # FILE_NR_NONE: this syscall does not exist here
MASK_WORDS = 8            # targ_syscall_mask_0..7: syscall numbers 0..511

# paths learnt from events during this process's traces, for the byte counts
MEMORY = PathMemory()


def syscall_numbers() -> dict[str, int]:
    """Number of every watched syscall that exists on this architecture."""
    names = READ_WRITE + FILE_OPS
    found = syscalls.numbers_of(*names)
    for name, number in UNIFIED_NUMBERS.items():
        found.setdefault(name, number)
    return found


def knobs() -> dict[str, int]:
    """targ_nr_<syscall> for each watched syscall, and the mask the hot path tests."""
    numbers = syscall_numbers()
    values = {f"targ_nr_{name}": numbers.get(name, NR_NONE) for name in READ_WRITE + FILE_OPS}
    masks = [0] * MASK_WORDS
    for number in numbers.values():
        if 0 <= number < 64 * MASK_WORDS:
            masks[number >> 6] |= 1 << (number & 63)
    values.update({f"targ_syscall_mask_{i}": mask for i, mask in enumerate(masks)})
    return values


def post_enrich(event: dict[str, Any], registry: Any) -> None:
    finish_event(event, MEMORY)


def aggregates(obj: Any, registry: Any) -> list[dict[str, Any]]:
    return read_file_bytes(obj, registry.container_of, MEMORY)


TRACKER = TrackerDef(
    name="file",
    summary="file opens (absolute path, flags, fd/errno), unlink, rename, chmod, chown, mkdir, "
            "links, truncate; bytes read/written per container and file",
    needs=("ringbuf", "raw_tracepoint", "bpf_loop"),
    ringbuf_bytes=8 << 20,
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
    formatters=FORMATTERS,
    knobs=knobs,
    aggregates=aggregates,
    on_forget=MEMORY.forget_containers,
    post_enrich=post_enrich,
)
