"""Telling a script that tracing has begun: every probe is attached.

`--ready-file FILE` is written, by the rules every output follows
(eunomia.outputs: atomically onto a new path or a regular file, never
through a link), once the session is up, so a caller can wait for the file
instead of sleeping or parsing stderr.  It holds eunomia's pid.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import outputs

OPTION = "--ready-file"


def check_ready_file(path: Path | None) -> None:
    """Refuse a path that is no place to write, before tracing starts."""
    if path is not None:
        outputs.check(path, OPTION)


def announce_ready(path: Path | None) -> None:
    if path is not None:
        outputs.write_file(path, f"{os.getpid()}\n".encode(), OPTION)
