"""Telling a script that tracing has begun: every probe is attached.

`--ready-file FILE` is written (atomically: a temp file renamed into place)
once the session is up, so a caller can wait for the file instead of
sleeping or parsing stderr.  It holds eunomia's pid.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def announce_ready(path: Path | None) -> None:
    if path is None:
        return
    temp: str | None = None
    try:
        # a new file of our own (O_EXCL, unpredictable name), renamed into place
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as out:
            out.write(f"{os.getpid()}\n")
        os.replace(temp, path)
    except OSError as exc:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise OSError(exc.errno, f"cannot write the ready file: {exc.strerror}", str(path)) from None
