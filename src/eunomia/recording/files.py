"""Writing a recording's files without losing or corrupting what is there.

events.jsonl is appended whole lines at a time: after a crash (or kill -9)
it parses line by line up to its last complete line, and a write that
fails half-way (disk full) is cut back to its last complete line.  Reports,
CSVs and the index are replaced atomically (temp file + rename), so a
reader never sees half a report.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

FOLDER_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class RecordingWriteError(OSError):
    """A recording's file could not be written (the disk is full, …)."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.path = path

    def __str__(self) -> str:
        hint = "free some space or record elsewhere with -d" if self.errno in (errno.ENOSPC, errno.EDQUOT) \
            else "check the directory's permissions or record elsewhere with -d"
        return f"cannot write {self.path}: {self.strerror}; {hint}"


MAX_DOCUMENT_BYTES = 256 << 20  # an index.json or report.json larger than this is not ours
MAX_EVENT_LINE = 16 << 20       # one line of events.jsonl; longer ones are skipped


def open_regular(path: Path) -> BinaryIO:
    """A recording's file for reading: a regular file, not a link (a link
    could point anywhere, e.g. at /proc/kmsg, which never ends) and not a FIFO
    (opening one would wait for a writer).  OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: Path, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The whole of a regular file of at most `limit` bytes; OSError (EFBIG) when larger."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit >> 20} MiB", str(path))
    return data


def bounded_lines(f: BinaryIO, limit: int = MAX_EVENT_LINE) -> Iterator[bytes | None]:
    """The lines of f; None for a line longer than `limit` (read past, not kept)."""
    while True:
        line = f.readline(limit)
        if not line:
            return
        if len(line) == limit and not line.endswith(b"\n"):
            while True:  # the rest of that line
                rest = f.readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line


def folder_name(container_id: str, name: str | None) -> str:
    """A container's folder: `<name>-<short id>` made filesystem-safe."""
    short = container_id[:12]
    if not name or container_id == "host":
        return short
    safe = FOLDER_UNSAFE.sub("_", name).strip("._")[:64]
    return f"{safe}-{short}" if safe else short


def replace_file(path: Path, data: bytes) -> None:
    """Write data to path atomically: all of it or nothing changes."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as exc:
        try:
            temp.unlink()
        except OSError:
            pass
        raise RecordingWriteError(path, exc) from None


class EventLog:
    """One container's events.jsonl, appended in whole lines.

    The file is opened when there is something to write and may be closed
    in between (suspend(): a recording of thousands of containers must not
    hold a descriptor for each); O_APPEND makes reopening safe."""

    FLUSH_AT = 1 << 16

    def __init__(self, path: Path, *, failed: bool = False) -> None:
        self.path = path
        self._fd: int | None = None
        self._buffer = bytearray()
        self._pending = 0        # lines in the buffer
        self.written = 0         # lines on disk
        self.unwritten = 0       # lines that could not be written
        self.failed = failed     # writing failed once: count, do not retry
        self.writes = 0          # flushes that wrote something (recency, for suspend)

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    @property
    def pending(self) -> int:
        """Lines appended but not written yet."""
        return self._pending

    def append(self, line: bytes) -> None:
        """line: one JSON document ending in a newline."""
        if self.failed:
            self.unwritten += 1
            return
        self._buffer += line
        self._pending += 1
        if len(self._buffer) >= self.FLUSH_AT:
            self.flush()

    def _give_up(self, exc: OSError, lines_written: int) -> None:
        self.written += lines_written
        self.unwritten += self._pending - lines_written
        self._buffer.clear()
        self._pending = 0
        self.failed = True
        raise RecordingWriteError(self.path, exc) from None

    def flush(self) -> None:
        """Write the buffer; on failure keep whole lines only, count the rest and raise."""
        if not self._buffer:
            return
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                self._give_up(exc, 0)
        assert self._fd is not None
        data = memoryview(bytes(self._buffer))  # immutable: the buffer may be cleared while views live
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as exc:
            whole = self._buffer.rfind(b"\n", 0, done) + 1
            if whole < done:  # cut the partial line back off
                try:
                    os.ftruncate(self._fd, os.fstat(self._fd).st_size - (done - whole))
                except OSError:
                    pass
            self._give_up(exc, self._buffer.count(b"\n", 0, whole))
        self.written += self._pending
        self.writes += 1
        self._buffer.clear()
        self._pending = 0

    def moved_to(self, path: Path) -> None:
        """Its folder was renamed (an open descriptor stays valid)."""
        self.path = path

    def suspend(self) -> None:
        """Flush and close the descriptor until there is more to write."""
        try:
            self.flush()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def close(self) -> None:
        self.suspend()
