"""tracefs: classic tracepoints are found (and attached) through it.

libbpf resolves `tracepoint/<category>/<name>` via
/sys/kernel/tracing/events/<category>/<name>/id (or the old debugfs path).
A fresh machine has no tracefs mounted (systemd would mount it; a machine
or container without systemd does not), so we mount it ourselves and say
so: `mounted_by_us()` tells doctor whether this process did.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
DEBUGFS_TRACING = Path("/sys/kernel/debug/tracing")

_mounted_here: Path | None = None


class TracefsError(OSError):
    """tracefs is not mounted and mounting it was refused (reason in the message)."""


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


def _libc_mount() -> ctypes._CFuncPtr:
    """mount(2): int mount(const char *source, const char *target,
    const char *filesystemtype, unsigned long mountflags, const void *data)."""
    mount = ctypes.CDLL(None, use_errno=True).mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    mount.restype = ctypes.c_int
    return mount


def _refusal(err: int, target: Path) -> str:
    why = os.strerror(err)
    if err == errno.EPERM or err == errno.EACCES:
        fix = ("run as root" if os.geteuid() != 0 else
               "inside a container, give it CAP_SYS_ADMIN and a writable /sys, or mount tracefs on the host")
    elif err == errno.ENODEV:
        fix = "this kernel has no tracefs (CONFIG_TRACING): syscall tracepoints are unavailable"
    elif err == errno.EROFS:
        fix = "/sys is read-only here: mount tracefs on the host, or run with a writable /sys"
    else:
        fix = f"mount it by hand: mount -t tracefs tracefs {target}"
    return f"cannot mount tracefs at {target}: {why}; {fix}"


def ensure_tracefs(proc_mounts: Path = Path("/proc/self/mounts"), target: Path = TRACEFS) -> Path:
    """Return the tracefs mount, mounting it at /sys/kernel/tracing if needed.

    Raises TracefsError with a one-line reason and fix when mounting is refused."""
    global _mounted_here
    root = tracefs_root(proc_mounts)
    if root is not None:
        return root
    if not target.is_dir():
        raise TracefsError(errno.ENOENT, f"cannot mount tracefs: {target} does not exist "
                           "(is /sys mounted? this kernel may lack CONFIG_TRACING)")
    if _libc_mount()(b"tracefs", str(target).encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise TracefsError(err, _refusal(err, target))
    _mounted_here = target
    return target


def mounted_by_us() -> Path | None:
    """The tracefs mount this process made, if it made one."""
    return _mounted_here
