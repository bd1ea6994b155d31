"""Reading the small files a user names (a config, rule files): bounded, never a FIFO.

A named pipe or a device would block or never end: only regular files are
read (a symbolic link to one is fine: /etc/eunomia/config.yaml may be one).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def read_small_file(path: Path, limit: int) -> bytes:
    """The file's bytes; OSError when it cannot be read, is not a regular file
    (EINVAL) or is larger than `limit` (EFBIG)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        with os.fdopen(fd, "rb") as f:
            fd = -1
            data = f.read(limit + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit >> 20} MiB", str(path))
    return data


def why_unreadable(exc: OSError) -> str:
    """The reason read_small_file failed, as words for a one-line error."""
    if exc.errno == errno.EFBIG:
        return exc.strerror or "too large"
    return f"cannot read it: {exc.strerror or exc}"
