"""Outputs never replace what is not a regular file, never follow a link
(eunomia.outputs, and every command that writes: report --html, trace -o,
record -d, advise -o); a closed pipe ends quietly, a full disk in one line;
a failing ring-buffer handler's error is not replaced by a BufferError."""

from __future__ import annotations

import mmap
import os
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest
import typer
from typer.testing import CliRunner

import eunomia.cli.errors
from eunomia import outputs
from eunomia.bpf.ringbuf import RingBuffer
from eunomia.cli import app
from eunomia.cli.errors import handle_errors

from ..recording_samples import WEB, write_recording

ROOT = Path(__file__).resolve().parents[2]
EUNOMIA = str(ROOT / ".venv" / "bin" / "eunomia")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "rec")


@pytest.fixture
def chardev(tmp_path: Path) -> Path:
    """A character device node of our own (the null device, 1:3)."""
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    path = tmp_path / "null-device"
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return path


@pytest.fixture
def dev_null() -> Iterator[Path]:
    """The real /dev/null; a regression that replaced it is undone, and fails the test."""
    null = Path("/dev/null")
    yield null
    if not _is_char_device(null) and os.geteuid() == 0:
        null.unlink()
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(null, 0o666)
        pytest.fail("/dev/null was replaced by a regular file (restored)")


@pytest.fixture
def link(tmp_path: Path) -> tuple[Path, Path]:
    """A symbolic link to a regular file holding b"precious"."""
    target = tmp_path / "precious.txt"
    target.write_bytes(b"precious")
    path = tmp_path / "link"
    path.symlink_to(target)
    return path, target


def _stderr(result) -> str:
    try:
        return result.stderr
    except (ValueError, AttributeError):
        return result.output


def _is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


def _link_intact(path: Path, target: Path) -> bool:
    return path.is_symlink() and os.readlink(path) == str(target) and target.read_bytes() == b"precious"


class _FifoReader:
    """Reads a FIFO in a thread (a writer's open blocks until a reader opens)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path, self.data = path, b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as fifo:
            self.data = fifo.read()

    def join(self) -> bytes:
        self.thread.join(timeout=30)
        return self.data


# -- eunomia.outputs ------------------------------------------------------------------
def test_write_file_new_and_regular_replaced_whole_keeping_the_mode(tmp_path: Path) -> None:
    new = tmp_path / "new.html"
    assert outputs.write_file(new, b"one", "--html") is False
    assert new.read_bytes() == b"one"
    new.chmod(0o600)
    outputs.write_file(new, b"two", "--html")
    assert new.read_bytes() == b"two" and stat.S_IMODE(new.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.html"]  # no temporary file left


def test_write_file_to_devices_writes_them_and_leaves_them_devices(tmp_path: Path, chardev: Path,
                                                                  dev_null: Path) -> None:
    outputs.write_file(dev_null, b"x" * 100_000, "--html")
    assert _is_char_device(dev_null)
    outputs.write_file(chardev, b"page", "--html")
    assert _is_char_device(chardev)
    reader = _FifoReader(tmp_path / "fifo")
    outputs.write_file(reader.path, b"through the pipe", "--html")
    assert reader.join() == b"through the pipe" and stat.S_ISFIFO(os.lstat(reader.path).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "null-device"]


def test_write_file_refuses_links_directories_and_keeps_them(tmp_path: Path, link: tuple[Path, Path]) -> None:
    path, target = link
    with pytest.raises(outputs.OutputError, match="is a symbolic link .*does not write through links") as caught:
        outputs.write_file(path, b"evil", "--html")
    assert caught.value.usage and _link_intact(path, target)
    to_null = tmp_path / "to-null"
    to_null.symlink_to("/dev/null")
    with pytest.raises(outputs.OutputError, match="symbolic link"):
        outputs.write_file(to_null, b"x", "-o")
    assert to_null.is_symlink()
    with pytest.raises(outputs.OutputError, match="is a directory; give a new or regular file") as caught:
        outputs.write_file(tmp_path, b"x", "-o")
    assert caught.value.usage


def test_write_file_full_device_is_a_runtime_error_naming_the_fix() -> None:
    with pytest.raises(outputs.OutputError) as caught:
        outputs.write_file(Path("/dev/full"), b"x", "--html")
    assert str(caught.value) == ("cannot write /dev/full: No space left on device; free some space or choose "
                                 "another path for --html")
    assert not caught.value.usage and not caught.value.closed
    assert _is_char_device(Path("/dev/full"))


def test_dev_stdout_writes_to_our_own_descriptor(capfd: pytest.CaptureFixture[str]) -> None:
    assert outputs.write_file(Path("/dev/stdout"), b"to stdout\n", "--html") is True
    assert capfd.readouterr().out == "to stdout\n"
    assert os.path.islink("/dev/stdout")


def test_open_stream_truncates_regular_files_only(tmp_path: Path, chardev: Path, link: tuple[Path, Path]) -> None:
    regular = tmp_path / "events.jsonl"
    regular.write_bytes(b"old content that is long\n")
    with_stream = outputs.open_stream(regular, "-o")
    with_stream.write(b"new\n")
    with_stream.close()
    assert regular.read_bytes() == b"new\n"
    stream = outputs.open_stream(chardev, "-o")
    stream.write(b"event\n")
    stream.close()
    assert _is_char_device(chardev)
    path, target = link
    with pytest.raises(outputs.OutputError, match="symbolic link"):
        outputs.open_stream(path, "-o")
    assert _link_intact(path, target)


def test_stream_write_errors_are_one_line(tmp_path: Path) -> None:
    stream = outputs.open_stream(Path("/dev/full"), "-o")
    stream.write(b"x")
    with pytest.raises(outputs.OutputError, match="^cannot write /dev/full: No space left on device; free some "
                                                  "space or choose another path for -o$"):
        stream.flush()
    stream.close()  # after a failure: drops the buffer, does not raise again
    read, write = os.pipe()
    os.close(read)
    closed = outputs.Guarded(os.fdopen(write, "wb"), "the pipe", "-o")
    with pytest.raises(outputs.OutputError) as caught:
        closed.write(b"x" * 100_000)
        closed.flush()
    assert caught.value.closed
    closed.close()


def test_make_directory_refuses_what_is_not_a_directory(tmp_path: Path, chardev: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(outputs.OutputError, match="file exists and is not a directory; choose a new directory "
                                                  "with -d"):
        outputs.make_directory(tmp_path / "file")
    with pytest.raises(outputs.OutputError, match="not a directory"):
        outputs.make_directory(chardev)
    (tmp_path / "empty").mkdir()
    (tmp_path / "dirlink").symlink_to(tmp_path / "empty")
    with pytest.raises(outputs.OutputError, match="symbolic link"):
        outputs.make_directory(tmp_path / "dirlink")
    outputs.make_directory(tmp_path / "empty")  # an empty directory, or a new path: fine
    outputs.make_directory(tmp_path / "new")


# -- the commands -------------------------------------------------------------------
def test_report_html_to_devices_keeps_them_devices(runner: CliRunner, recording: Path, chardev: Path,
                                                   dev_null: Path) -> None:
    for device in (dev_null, chardev):
        result = runner.invoke(app, ["report", str(recording), "--html", str(device)])
        assert result.exit_code == 0, result.output
        assert _is_char_device(device)


def test_report_html_into_a_fifo(runner: CliRunner, recording: Path, tmp_path: Path) -> None:
    reader = _FifoReader(tmp_path / "fifo")
    result = runner.invoke(app, ["report", str(recording), "--html", str(reader.path)])
    assert result.exit_code == 0, result.output
    assert reader.join().startswith(b"<!DOCTYPE html>") and stat.S_ISFIFO(os.lstat(reader.path).st_mode)


def test_report_html_refuses_a_symlink(runner: CliRunner, recording: Path, link: tuple[Path, Path]) -> None:
    path, target = link
    result = runner.invoke(app, ["report", str(recording), "--html", str(path)])
    assert result.exit_code == 2
    assert "is a symbolic link" in _stderr(result) and "--html" in _stderr(result)
    assert _link_intact(path, target)


def test_advise_o_to_devices_and_links(runner: CliRunner, recording: Path, chardev: Path,
                                       link: tuple[Path, Path], dev_null: Path) -> None:
    for device in (dev_null, chardev):
        result = runner.invoke(app, ["advise", "seccomp", str(recording), "-c", WEB, "-o", str(device)])
        assert result.exit_code == 0, result.output
        assert _is_char_device(device)
    path, target = link
    result = runner.invoke(app, ["advise", "caps", str(recording), "-c", WEB, "-o", str(path)])
    assert _link_intact(path, target)
    result = runner.invoke(app, ["advise", "seccomp", str(recording), "-c", WEB, "-o", str(path)])
    assert result.exit_code == 2 and "is a symbolic link" in _stderr(result)
    assert _link_intact(path, target)


def test_record_d_refuses_devices_files_and_links(runner: CliRunner, chardev: Path, tmp_path: Path,
                                                  dev_null: Path) -> None:
    result = runner.invoke(app, ["record", "-d", str(chardev), "-T", "1"])
    assert result.exit_code == 2 and "exists and is not a directory; choose a new directory with -d" in \
        _stderr(result)
    assert _is_char_device(chardev)
    result = runner.invoke(app, ["record", "-d", str(dev_null), "-T", "1"])
    assert result.exit_code == 2 and _is_char_device(dev_null)
    (tmp_path / "empty").mkdir()
    (tmp_path / "dirlink").symlink_to(tmp_path / "empty")
    result = runner.invoke(app, ["record", "-d", str(tmp_path / "dirlink"), "-T", "1"])
    assert result.exit_code == 2 and "is a symbolic link" in _stderr(result)
    assert (tmp_path / "dirlink").is_symlink() and not any((tmp_path / "empty").iterdir())


@pytest.fixture
def not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(eunomia.cli.errors, "_has_bpf_caps", lambda: False)


def test_trace_o_checks_the_path_before_anything(runner: CliRunner, chardev: Path, link: tuple[Path, Path],
                                                 not_root: None) -> None:
    path, target = link
    result = runner.invoke(app, ["trace", "exec", "-o", str(path)])
    assert result.exit_code == 2 and "is a symbolic link" in _stderr(result) and "-o" in _stderr(result)
    assert _link_intact(path, target)
    result = runner.invoke(app, ["trace", "exec", "-o", str(chardev)])
    assert "needs root" in _stderr(result)  # a device is a fine place to write
    assert _is_char_device(chardev)


# -- closed pipes and full disks --------------------------------------------------------
def _run(args: list[str], stdout: int) -> subprocess.CompletedProcess:
    return subprocess.run([EUNOMIA, *args], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)


def test_report_into_a_closed_pipe_ends_quietly(recording: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line, as after `| head -1`
    try:
        done = _run(["report", str(recording)], stdout=write)
    finally:
        os.close(write)
    assert done.returncode == 0 and done.stderr == ""


def test_report_into_head(recording: Path) -> None:
    report = subprocess.Popen([EUNOMIA, "report", str(recording)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=report.stdout, stdout=subprocess.PIPE)
    assert report.stdout is not None
    report.stdout.close()
    first, _ = head.communicate(timeout=60)
    _, err = report.communicate(timeout=60)
    assert b"eunomia recording" in first
    assert report.returncode == 0 and err == b""


def test_report_and_advise_into_a_full_disk_say_so_in_one_line(recording: Path) -> None:
    with open("/dev/full", "wb") as full:
        for args in (["report", str(recording)], ["advise", "seccomp", str(recording), "-c", WEB]):
            done = _run(args, stdout=full.fileno())
            assert done.returncode == 1
            assert done.stderr == ("eunomia: error: cannot write standard output: No space left on device; "
                                   "free some space or write elsewhere\n")


def test_a_broken_pipe_that_is_not_stdout_is_an_error(runner: CliRunner) -> None:
    command = typer.Typer()

    @command.command()
    @handle_errors
    def broken(debug: bool = False) -> None:
        raise BrokenPipeError(32, "Broken pipe")  # a socket, COMMAND's stdin: not our reader leaving

    result = runner.invoke(command, [])
    assert result.exit_code == 1 and "Broken pipe" in _stderr(result)


# -- the ring buffer ------------------------------------------------------------------
def _ring_with_one_record(payload: bytes) -> RingBuffer:
    return _ring_with_records([payload])


def test_a_handler_error_survives_closing_the_ring() -> None:
    """The error a handler raises (a closed pipe, a full disk) must reach the
    user: closing the ring while it unwinds must not fail on the record's view."""
    ring = _ring_with_one_record(b"payload!")

    def handle(record: memoryview) -> None:
        header = record[:4]  # views of the record, alive in this frame
        assert bytes(header) == b"payl"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        try:
            ring.drain(handle)
        finally:
            ring.close()  # as TraceSession.close does, while the error unwinds
    assert ring._producer.closed  # unmapped now, not left to the garbage collector
    assert sys.exc_info() == (None, None, None)


def _ring_with_records(payloads: list[bytes]) -> RingBuffer:
    """A RingBuffer over anonymous memory laid out as the kernel's (no BPF)."""
    page, size = mmap.PAGESIZE, 1 << 16
    ring = object.__new__(RingBuffer)
    ring.name, ring.fd, ring.size, ring.mask, ring.records = "test", -1, size, size - 1, 0
    ring._consumer = mmap.mmap(-1, page)
    ring._producer = mmap.mmap(-1, page + 2 * size)
    ring._view(ring._consumer, ring._producer, memoryview(ring._producer)[page:])
    offset = 0
    for payload in payloads:
        struct.pack_into("<II", ring._producer, page + offset, len(payload), 0)
        ring._producer[page + offset + 8: page + offset + 8 + len(payload)] = payload
        offset += (8 + len(payload) + 7) & ~7
    struct.pack_into("<Q", ring._producer, 0, offset)
    return ring


def test_a_record_whose_handler_failed_is_not_read_again() -> None:
    """The failing record is consumed with those before it: the next drain
    (e.g. the final one at stop) goes on with the records after it."""
    ring = _ring_with_records([b"first", b"boom", b"third"])
    seen: list[bytes] = []

    def handle(record: memoryview) -> None:
        if bytes(record) == b"boom":
            raise ValueError("bad record")
        seen.append(bytes(record))

    with pytest.raises(ValueError):
        ring.drain(handle)
    assert ring.drain(handle) == 1
    assert seen == [b"first", b"third"]
    assert ring.drain(handle) == 0
    ring.close()
