"""Telling a script that tracing has begun: every probe is attached.

`--ready-file FILE` is written (atomically: a temp file renamed into place)
once the session is up, so a caller can wait for the file instead of
sleeping or parsing stderr.  It holds eunomia's pid.
"""

from __future__ import annotations

import os
from pathlib import Path


def announce_ready(path: Path | None) -> None:
    if path is None:
        return
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(f"{os.getpid()}\n")
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write the ready file: {exc.strerror}", str(path)) from None
