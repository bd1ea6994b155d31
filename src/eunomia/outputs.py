"""Where eunomia writes what it was asked to: `report --html`, `trace -o`,
`record -d`, `advise … -o`, and standard output.

The rules, the same for every command (docs/report.md, "Output files"):

- a new path is created; a regular file is replaced — whole documents
  (--html, advise -o) atomically, by a temporary file in the same directory
  renamed over it; a stream (trace -o) is truncated and written;
- a character device, FIFO or socket (/dev/null, a terminal, a named pipe)
  is written as it is: never truncated, renamed over or replaced;
- a symbolic link is refused, never followed nor replaced — except one
  that names eunomia's own standard output or error (/dev/stdout,
  /dev/stderr, /proc/self/fd/1): that descriptor is written to;
- a directory, a block device or a link is never a file to write.

Failures are an OutputError: one line naming the fix; `usage` when the
path itself is wrong (exit 2), `closed` when the reader went away (a
`| head` that had enough: not an error).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from .sinks.escape import escape_text

STDOUT = "standard output"
FULL = (errno.ENOSPC, errno.EDQUOT)


class OutputError(Exception):
    """An output could not be written; the message names the fix."""

    def __init__(self, message: str, *, usage: bool = False, closed: bool = False, stdout: bool = False) -> None:
        super().__init__(message)
        self.usage = usage      # the path is wrong (exit 2), not the writing (exit 1)
        self.closed = closed    # EPIPE: the reader is gone
        self.stdout = stdout    # it was our standard output


def _show(path: Path | str) -> str:
    return escape_text(str(path))


def write_failed(where: str, exc: OSError, option: str | None, *, stdout: bool = False) -> OutputError:
    """The error for a write that failed half-way (full disk, I/O error, closed pipe)."""
    elsewhere = f"choose another path for {option}" if option else "write elsewhere"
    if exc.errno == errno.EPIPE:
        return OutputError(f"cannot write {where}: the reader closed it", closed=True, stdout=stdout)
    hint = f"free some space or {elsewhere}" if exc.errno in FULL else elsewhere
    return OutputError(f"cannot write {where}: {exc.strerror or exc}; {hint}", stdout=stdout)


def _cannot_open(path: Path, exc: OSError, option: str) -> OutputError:
    return OutputError(f"cannot write {_show(path)}: {exc.strerror or exc}; choose a writable path for {option}",
                       usage=True)


def _own_descriptor(path: Path) -> int | None:
    """1 or 2 when path (a link such as /dev/stdout) is our standard output or error."""
    try:
        target = os.stat(path)
    except OSError:
        return None
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            mine = os.fstat(fd)
            if (mine.st_dev, mine.st_ino) == (target.st_dev, target.st_ino):
                return fd
    return None


def _refuse(path: Path, mode: int, option: str) -> OutputError:
    if stat.S_ISLNK(mode):
        try:
            where = f" (to {_show(os.readlink(path))})"
        except OSError:
            where = ""
        return OutputError(f"{_show(path)} is a symbolic link{where}; eunomia does not write through links: "
                           f"give the file itself or a new path for {option}", usage=True)
    kind = "a directory" if stat.S_ISDIR(mode) else "a block device" if stat.S_ISBLK(mode) else "not a file"
    return OutputError(f"{_show(path)} is {kind}; give a new or regular file, a pipe or a character device "
                       f"(such as /dev/null) for {option}", usage=True)


def _open_existing(path: Path, option: str) -> int | None:
    """A descriptor for writing to what is at path now, without truncating:
    None when nothing is there; refuses links (but our own stdout/stderr),
    directories and block devices."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            raise _cannot_open(path, exc, option) from None
        if stat.S_ISLNK(mode):
            own = _own_descriptor(path)
            if own is not None:
                return os.dup(own)
        if stat.S_ISLNK(mode) or stat.S_ISDIR(mode):
            raise _refuse(path, mode, option) from None
        raise _cannot_open(path, exc, option) from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISBLK(mode):
        os.close(fd)
        raise _refuse(path, mode, option)
    return fd


def check(path: Path, option: str) -> None:
    """Refuse, before anything starts, a path that is no place to write (nothing is written)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise _cannot_open(path, FileNotFoundError(errno.ENOENT, "No such file or directory"), option) from None
        return
    except OSError as exc:
        raise _cannot_open(path, exc, option) from None
    if stat.S_ISLNK(mode) and _own_descriptor(path) is not None:
        return
    if stat.S_ISLNK(mode) or stat.S_ISDIR(mode) or stat.S_ISBLK(mode):
        raise _refuse(path, mode, option)


def write_file(path: Path, data: bytes, option: str) -> bool:
    """Write a whole document to path, by the rules above: a new path or a
    regular file gets all of it or nothing changes.  True when path was our
    own standard output (/dev/stdout)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _cannot_open(path, exc, option) from None
    fd = None if mode is None or stat.S_ISREG(mode) else _open_existing(path, option)
    if fd is not None and stat.S_ISREG(os.fstat(fd).st_mode) and not _is_own(fd):
        os.close(fd)  # it became a regular file meanwhile
        fd = None
    if fd is None:
        _replace(path, data, option, None if mode is None or not stat.S_ISREG(mode) else stat.S_IMODE(mode))
        return False
    own = _is_own(fd, (1,))
    out = Guarded(os.fdopen(fd, "wb"), _show(path), option, stdout=own)
    try:
        out.write(data)
        out.flush()
    finally:
        out.close()
    return own


def _replace(path: Path, data: bytes, option: str, keep_mode: int | None) -> None:
    where = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=where)
    except OSError as exc:
        raise _cannot_open(path, exc, option) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if keep_mode is None:
            umask = os.umask(0)
            os.umask(umask)
            keep_mode = 0o666 & ~umask
        os.chmod(temp, keep_mode)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise write_failed(_show(path), exc, option) from None


def open_stream(path: Path, option: str) -> Guarded:
    """A stream to path, by the rules above: a regular file is truncated,
    a device or pipe written as it is."""
    fd = _open_existing(path, option)
    if fd is None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise _cannot_open(path, exc, option) from None
    elif stat.S_ISREG(os.fstat(fd).st_mode) and not _is_own(fd):
        os.ftruncate(fd, 0)
    return Guarded(os.fdopen(fd, "wb"), _show(path), option)


def _is_own(fd: int, own_fds: tuple[int, ...] = (1, 2)) -> bool:
    """Is fd the same file as our stdout/stderr (opened through /dev/stdout)?"""
    mine = os.fstat(fd)
    for own in own_fds:
        with contextlib.suppress(OSError):
            other = os.fstat(own)
            if (other.st_dev, other.st_ino) == (mine.st_dev, mine.st_ino):
                return True
    return False


def stdout(option: str | None = None) -> Guarded:
    """Our standard output (binary), its failures as OutputError."""
    return Guarded(sys.stdout.buffer, STDOUT, option, stdout=True, owned=False)


def stdout_text() -> Guarded:
    """Our standard output (text, e.g. for Rich), its failures as OutputError."""
    return Guarded(sys.stdout, STDOUT, None, stdout=True, owned=False)


def write_stdout(text: str) -> None:
    """Write text to standard output now (not at exit, where a failure could not be reported)."""
    out = stdout_text()
    out.write(text)
    out.flush()


def discard_stdout() -> None:
    """After standard output failed: point fd 1 at /dev/null, so that what is
    still buffered (Python flushes at exit) goes nowhere instead of failing again."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


def stdout_closed() -> bool:
    """Is standard output a pipe whose reader went away?"""
    import select

    with contextlib.suppress(OSError, ValueError):
        poller = select.poll()
        poller.register(1, select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    return False


class Guarded:
    """A writable stream whose failures are OutputError (one line, the fix)."""

    def __init__(self, out: IO[Any], where: str, option: str | None, *, stdout: bool = False,
                 owned: bool = True) -> None:
        self._out, self.where, self.option, self.is_stdout, self._owned = out, where, option, stdout, owned
        self.failed = False

    def _error(self, exc: OSError) -> OutputError:
        self.failed = True
        return write_failed(self.where, exc, self.option, stdout=self.is_stdout)

    def write(self, data: Any) -> int:
        try:
            return self._out.write(data)
        except OSError as exc:
            raise self._error(exc) from None

    def flush(self) -> None:
        try:
            self._out.flush()
        except OSError as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        if not self._owned:
            if not self.failed:
                self.flush()
            return
        if self.failed:  # the buffer cannot be written: drop it, close the descriptor
            with contextlib.suppress(OSError):
                self._out.close()
            return
        try:
            self._out.close()
        except OSError as exc:
            raise self._error(exc) from None

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding … (Rich asks)
        return getattr(self._out, name)


def make_directory(path: Path, option: str = "-d") -> None:
    """Refuse a directory path that exists as something else or is a link
    (it is created by the caller); OutputError(usage) names the fix."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"cannot use {_show(path)}: {exc.strerror}; choose another directory with {option}",
                          usage=True) from None
    if stat.S_ISLNK(mode):
        raise OutputError(f"{_show(path)} is a symbolic link; eunomia does not write through links: give the "
                          f"directory itself or a new one with {option}", usage=True)
    if not stat.S_ISDIR(mode):
        raise OutputError(f"{_show(path)} exists and is not a directory; choose a new directory with {option}",
                          usage=True)
