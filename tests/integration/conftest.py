"""Integration tests: real BPF in this kernel, a real Docker daemon.

The session starts dockerd when none answers and builds the test image
locally (scripts/); nothing is pulled.  Every container a test starts has
a unique name and is removed afterwards.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
EUNOMIA = str(ROOT / ".venv" / "bin" / "eunomia")
IMAGE = "eunomia-test/busybox"


@pytest.fixture(scope="session", autouse=True)
def docker_daemon() -> None:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (BPF) — run: sudo make test")
    subprocess.run([str(ROOT / "scripts" / "ensure-dockerd.sh")], check=True)
    # `make test` built it (from scratch under EUNOMIA_FRESH=1); this only
    # builds what is missing when pytest runs on its own
    subprocess.run([str(ROOT / "scripts" / "build-test-images.sh")], check=True,
                   env={**os.environ, "EUNOMIA_FRESH": "0"})


def static_helper(tmp_path_factory: Any, name: str, source: str) -> Path:
    """A C helper built statically (the busybox image has no libc), once per module."""
    compiler = shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip(f"no C compiler (gcc or clang) to build the {name} helper")
    out = tmp_path_factory.mktemp(name)
    (out / f"{name}.c").write_text(source)
    subprocess.run([compiler, "-static", "-O2", "-o", str(out / name), str(out / f"{name}.c")],
                   check=True, capture_output=True)
    return out / name


def unique(prefix: str = "eun") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def docker(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


class Containers:
    """Starts containers and removes every one of them at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def run(self, name: str, *command: str, detach: bool = False,
            options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        self.names.append(name)
        flags = ["-d"] if detach else []
        return docker("run", *flags, "--name", name, *options, IMAGE, *command, check=False)

    def full_id(self, name: str) -> str:
        return docker("inspect", "--format", "{{.Id}}", name).stdout.strip()

    def remove_all(self) -> None:
        if self.names:
            docker("rm", "-f", *self.names, check=False)


@pytest.fixture
def containers() -> Iterator[Containers]:
    c = Containers()
    yield c
    c.remove_all()


class Tracer:
    """`eunomia trace -f json` (or another COMMAND: `run … --events`) in the
    background, events written to a file."""

    def __init__(self, args: list[str], out: Path, env: dict[str, str] | None = None,
                 wrapper: tuple[str, ...] = (), command: str = "trace") -> None:
        self.out = out
        self._stdout = open(out, "wb")
        self.ready_file = out.with_suffix(".ready")
        self.proc = subprocess.Popen([*wrapper, EUNOMIA, command, *args, "-f", "json",
                                      "--ready-file", str(self.ready_file)],
                                     stdout=self._stdout, stderr=subprocess.PIPE, env=env)
        self.stderr = self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> str:
        """Until eunomia wrote its ready file: every probe is attached."""
        seen = b""
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                rest = self.proc.stderr.read() if self.proc.poll() is not None else b""
                raise AssertionError(f"eunomia did not start: {(seen + rest).decode(errors='replace')}")
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if ready:
                seen += os.read(self.proc.stderr.fileno(), 4096)
        return seen.decode(errors="replace")

    def stop(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """SIGTERM, wait, and return (events, summary).

        No sleep first: a BPF program writes its record into the ring before
        the traced syscall returns, so whatever the test waited for is in the
        ring already, and eunomia drains the ring before it exits."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        self.stderr += err.decode(errors="replace")
        self._stdout.close()
        assert self.proc.returncode == 0, self.stderr
        lines = [json.loads(line) for line in self.out.read_text().splitlines()]
        assert lines and lines[-1]["type"] == "summary", "the last line must be the summary"
        return lines[:-1], lines[-1]


@pytest.fixture
def tracer(tmp_path: Path) -> Iterator[Any]:
    started: list[Tracer] = []

    def start(*args: str, env: dict[str, str] | None = None, wrapper: tuple[str, ...] = (),
              command: str = "trace") -> Tracer:
        t = Tracer(list(args), tmp_path / f"events-{len(started)}.jsonl", env=env, wrapper=wrapper, command=command)
        started.append(t)
        return t

    yield start
    for t in started:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()


def events_of(events: list[dict[str, Any]], *, container_id: str | None = None,
              type: str | None = None) -> list[dict[str, Any]]:
    return [e for e in events
            if (container_id is None or e["container"]["id"] == container_id)
            and (type is None or e["type"] == type)]
