"""Docker answering slowly must not slow the event path.

A real Unix-socket proxy in front of the real daemon adds a fixed latency
to every byte in both directions (a slow or overloaded dockerd).  eunomia
talks to Docker through it (DOCKER_HOST).  A container's events must still
come out at once — held at most briefly for its name — and the name must be
filled in once Docker has answered.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from .conftest import EUNOMIA, IMAGE, docker, unique

LATENCY = 0.8          # seconds added to every chunk, each way: a call takes 1.6 s (the timeout is 3 s)
DOCKER_SOCK = "/var/run/docker.sock"


class SlowDockerProxy:
    """Listens on a Unix socket; every connection is relayed to dockerd with
    LATENCY added to each chunk, order kept (a constant-latency link)."""

    def __init__(self, path: Path, latency: float) -> None:
        self.path, self.latency = path, latency
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(16)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(DOCKER_SOCK)
            for src, dst in ((client, upstream), (upstream, client)):
                chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
                threading.Thread(target=self._read, args=(src, chunks), daemon=True).start()
                threading.Thread(target=self._write, args=(dst, chunks), daemon=True).start()

    def _read(self, src: socket.socket, chunks: queue.Queue) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            chunks.put((time.monotonic() + self.latency, data))
            if not data:
                return

    @staticmethod
    def _write(dst: socket.socket, chunks: queue.Queue) -> None:
        while True:
            due, data = chunks.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._closed = True
        self.server.close()


@pytest.fixture
def slow_docker(tmp_path: Path) -> Iterator[str]:
    proxy = SlowDockerProxy(tmp_path / "slow-docker.sock", LATENCY)
    yield f"unix://{proxy.path}"
    proxy.close()


def _event_time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def test_events_flow_while_docker_answers_slowly(slow_docker, containers, tmp_path):
    ready = tmp_path / "ready"
    proc = subprocess.Popen([EUNOMIA, "trace", "exec", "-f", "json", "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "DOCKER_HOST": slow_docker})
    arrivals: list[tuple[float, dict[str, Any]]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            arrivals.append((time.time(), json.loads(line)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.05)
        name = unique("slowdock")
        containers.names.append(name)
        # first exec at once (Docker's events about it are still on the slow link),
        # the last one well after Docker has answered
        started = docker("run", "-d", "--name", name, IMAGE, "sh", "-c",
                         "/bin/true first; sleep 6; /bin/true last; sleep 30")
        cid = started.stdout.strip()
        deadline = time.monotonic() + 30
        while not any(e["process"]["args"] == ["/bin/true", "last"] for _, e in list(arrivals)
                      if e.get("container", {}).get("id") == cid):
            assert time.monotonic() < deadline, "the container's last exec never came out"
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    mine = {tuple(e["process"]["args"]): (arrived, e) for arrived, e in arrivals
            if e.get("container", {}).get("id") == cid and e["type"] == "exec"}
    first_arrived, first = mine[("/bin/true", "first")]
    # out within a second of happening, although any answer from Docker takes 1.6 s
    assert first_arrived - _event_time(first) < 1.0, (first_arrived - _event_time(first), first)
    _, last = mine[("/bin/true", "last")]
    assert last["container"]["name"] == name
    assert last["container"]["image"] == IMAGE
