"""Bad places to write and bad ways to stop, with the real CLI, BPF and Docker:
a closed pipe ends quietly, a full disk says so in one line, -o never
replaces a device or a link, and `record -- docker run` stops what it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from .conftest import EUNOMIA, IMAGE, docker, unique

pytestmark = pytest.mark.integration

STUBBORN = "trap '' TERM; sleep 60"  # ignores SIGTERM (and PID 1 ignores it anyway)


@contextlib.contextmanager
def host_execs() -> Iterator[None]:
    """Host processes exec'ing all along, so that `trace exec --host` has output."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            subprocess.run(["/bin/true"], check=False)
            time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def dev_null() -> Iterator[Path]:
    """The real /dev/null; a regression that replaced it is undone, and fails the test."""
    null = Path("/dev/null")
    yield null
    if not stat.S_ISCHR(os.lstat(null).st_mode):
        null.unlink()
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(null, 0o666)
        pytest.fail("/dev/null was replaced by a regular file (restored)")


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error" in line.lower() or "Traceback" in line]


def test_trace_into_head_ends_quietly_with_exit_0() -> None:
    with host_execs():
        trace = subprocess.Popen([EUNOMIA, "trace", "exec", "--host", "-T", "3", "-f", "json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        head = subprocess.Popen(["head", "-1"], stdin=trace.stdout, stdout=subprocess.PIPE, text=True)
        assert trace.stdout is not None
        trace.stdout.close()  # only head reads it, as in a shell pipeline
        first, _ = head.communicate(timeout=60)
        _, err = trace.communicate(timeout=60)
    assert json.loads(first)["type"] in ("exec", "exit", "exec_failed")
    assert trace.returncode == 0, err
    assert _errors(err) == [], err


def test_trace_into_a_full_disk_says_so_in_one_line() -> None:
    with host_execs(), open("/dev/full", "wb") as full:
        done = subprocess.run([EUNOMIA, "trace", "exec", "--host", "-T", "3", "-f", "json"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert _errors(done.stderr) == ["eunomia: error: cannot write standard output: No space left on device; "
                                    "free some space or choose another path for -o"], done.stderr
    assert "BufferError" not in done.stderr


def test_trace_o_writes_devices_and_pipes_and_refuses_links(tmp_path: Path, dev_null: Path) -> None:
    device = tmp_path / "null-device"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    link = tmp_path / "link"
    link.symlink_to(target)
    with host_execs():
        for path in (dev_null, device):
            done = subprocess.run([EUNOMIA, "trace", "exec", "--host", "-T", "1", "-o", str(path)],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert stat.S_ISCHR(os.lstat(path).st_mode)
        # /dev/stdout is a link, to our own standard output: written to, as a user expects
        done = subprocess.run([EUNOMIA, "trace", "exec", "--host", "-T", "1", "-o", "/dev/stdout"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert lines and lines[-1]["type"] == "summary"
    done = subprocess.run([EUNOMIA, "trace", "exec", "-T", "1", "-o", str(link)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"eunomia: error: {link} is a symbolic link (to {target}); eunomia does not "
                                  "write through links")
    assert link.is_symlink() and target.read_text() == "precious"


def _wait_running(name: str, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = docker("inspect", "--format", "{{.State.Running}} {{.Id}}", name, check=False)
        if found.returncode == 0 and found.stdout.startswith("true "):
            return found.stdout.split()[1]
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"container {name} did not start"
        time.sleep(0.2)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
    return found


def _record_stubborn(tmp_path: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen([EUNOMIA, "record", "-c", name, "-d", str(tmp_path / "rec"), "--",
                             "docker", "run", "--rm", "--name", name, IMAGE, "sh", "-c", STUBBORN],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigterm_removes_the_container_that_ignores_it(tmp_path: Path) -> None:
    name = unique("stubborn")
    proc = _record_stubborn(tmp_path, name)
    try:
        container_id = _wait_running(name, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
        assert docker("inspect", name, check=False).returncode != 0, "the container is still there"
        removed = [line for line in err.splitlines() if line.startswith("eunomia: removed container")]
        assert removed == [f"eunomia: removed container {container_id[:12]} that COMMAND started (it did not "
                           "stop within 10 s of SIGTERM)"], err
        assert proc.returncode == 137, err  # COMMAND's: docker run reports its container killed
        assert (tmp_path / "rec" / "command.cid").read_text().strip() == container_id
        index = json.loads((tmp_path / "rec" / "index.json").read_text())
        assert index["complete"] is True and index["command"]["argv"][:2] == ["docker", "run"]
        assert "--cidfile" not in index["command"]["argv"]  # the command as given
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        docker("rm", "-f", name, check=False)


def test_sigkill_of_eunomia_kills_command_and_leaves_the_container_id(tmp_path: Path) -> None:
    name = unique("orphan")
    proc = _record_stubborn(tmp_path, name)
    try:
        container_id = _wait_running(name, proc)
        (client,) = _children(proc.pid)  # the docker run CLI
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{client}") and _state(client) != "Z":
            assert time.monotonic() < deadline, "docker run outlived eunomia's SIGKILL"
            time.sleep(0.1)
        # the Docker daemon's container outlives the CLI (documented); its id is in DIR/command.cid
        assert (tmp_path / "rec" / "command.cid").read_text().strip() == container_id
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        docker("rm", "-f", name, check=False)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
