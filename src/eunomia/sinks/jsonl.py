"""JSON lines: one event per line, then a summary line at the end.

`JsonLinesSink` writes a stream (stdout, `-o FILE`).  As a sink by kind,
`jsonl:PATH[?max_bytes=N&keep=K]` appends to PATH and rotates it by size:
at N bytes (default 100 MiB) PATH becomes PATH.1, PATH.1 becomes PATH.2 …
and the oldest beyond K (default 5) is removed.  A write that fails (a full
disk) is counted, not raised: the agent goes on.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs

import orjson

from .escape import escape_text
from . import Event, SinkError, SinkSpecError

KIND = "jsonl"
USAGE = "PATH[?max_bytes=N&keep=K] (a JSON-lines file, rotated by size)"
DEFAULT_MAX_BYTES = 100 << 20
DEFAULT_KEEP = 5


BATCH_BYTES = 1 << 20


class JsonLinesSink:
    """Lines gather here and go out in one write per flush (the runner
    flushes after every poll), or once BATCH_BYTES wait: a stream's own
    8 KiB buffer would make a write(2) every dozen events."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.count = 0
        self._lines = bytearray()

    def write(self, event: Event) -> None:
        lines = self._lines
        lines += orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        self.count += 1
        if len(lines) >= BATCH_BYTES:
            self._write_lines()

    def _write_lines(self) -> None:
        if self._lines:
            try:
                self.out.write(self._lines)
            finally:  # written, or failed (a closed pipe, a full disk): not written again
                self._lines = bytearray()

    def flush(self) -> None:
        self._write_lines()
        self.out.flush()

    def close(self, summary: dict[str, Any]) -> None:
        self._lines += orjson.dumps({"type": "summary", **summary}, option=orjson.OPT_APPEND_NEWLINE)
        self.flush()


class RotatingJsonLines:
    """Appends JSON lines to a regular file, rotated by size (never through a link)."""

    name = KIND

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP) -> None:
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        self.count = 0
        self.undelivered = 0
        self.error: str | None = None
        self._buffer: list[bytes] = []
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        try:
            # O_NONBLOCK: a FIFO there must not block the agent (regular files ignore it)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                         | os.O_NONBLOCK, 0o640)
        except OSError as exc:
            why = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
            raise SinkError(f"--sink jsonl: cannot open {escape_text(str(self.path))}: {why}; "
                            "give a path to a regular file in a writable directory") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SinkError(f"--sink jsonl: {escape_text(str(self.path))} is not a regular file; "
                            "give a path to a regular file")
        return fd

    def write(self, event: Event) -> None:
        self._buffer.append(orjson.dumps(event) + b"\n")
        self.count += 1

    def flush(self) -> None:
        if not self._buffer:
            return
        data, lines = b"".join(self._buffer), len(self._buffer)
        self._buffer.clear()
        try:
            if self._fd < 0 or (self._size and self._size + len(data) > self.max_bytes):
                self._rotate()
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
            self._size += len(data)
        except (OSError, SinkError) as exc:
            self.undelivered += lines
            self.error = f"{self.path}: {getattr(exc, 'strerror', None) or exc}"

    def _rotate(self) -> None:
        """PATH → PATH.1 → … → PATH.K, then a new PATH.  On a failure the
        current file is kept (or reopened) and written on: a rename that
        cannot be done costs the rotation, not the events."""
        try:
            for n in range(self.keep - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.is_file() and not older.is_symlink():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
            if self.keep > 0:
                os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
            else:
                os.unlink(self.path)
        except OSError as exc:
            self.error = f"{self.path}: cannot rotate: {exc.strerror}"
            if self._fd >= 0:
                self._size = 0  # try again after another max_bytes
                return
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def close(self, summary: dict[str, Any] | None) -> None:
        if summary is not None:
            self.write({"type": "summary", **summary})
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def open_target(target: str) -> RotatingJsonLines:
    path, _, query = target.partition("?")
    options = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - {"max_bytes", "keep"})
    if unknown:
        raise SinkSpecError(f"--sink jsonl:{target}: unknown option {unknown[0]!r}; options: max_bytes, keep")
    try:
        max_bytes = int(options.get("max_bytes", DEFAULT_MAX_BYTES))
        keep = int(options.get("keep", DEFAULT_KEEP))
    except ValueError:
        raise SinkSpecError(f"--sink jsonl:{target}: max_bytes and keep are whole numbers") from None
    if max_bytes < 4096 or keep < 0:
        raise SinkSpecError(f"--sink jsonl:{target}: give max_bytes of at least 4096 and keep of 0 or more")
    return RotatingJsonLines(Path(path), max_bytes, keep)
