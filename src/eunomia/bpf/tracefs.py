"""tracefs: classic tracepoints are found (and attached) through it.

libbpf resolves `tracepoint/<category>/<name>` via
/sys/kernel/tracing/events/<category>/<name>/id (or the old debugfs path);
a fresh machine may not have tracefs mounted, so we mount it.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
DEBUGFS_TRACING = Path("/sys/kernel/debug/tracing")


class TracefsError(OSError):
    pass


def tracefs_root(proc_mounts: Path = Path("/proc/self/mounts")) -> Path | None:
    """Where tracefs is mounted, if it is."""
    try:
        lines = proc_mounts.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "tracefs":
            return Path(fields[1].replace("\\040", " "))
    return None


def ensure_tracefs() -> Path:
    """Return the tracefs mount, mounting it at /sys/kernel/tracing if needed."""
    root = tracefs_root()
    if root is not None:
        return root
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 4 + [ctypes.c_void_p]
    if libc.mount(b"tracefs", str(TRACEFS).encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise TracefsError(err, f"cannot mount tracefs at {TRACEFS}: {os.strerror(err)} "
                           f"(run as root, or: mount -t tracefs tracefs {TRACEFS})")
    return TRACEFS
