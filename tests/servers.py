"""Real servers for the sink tests, started on loopback ports in a temporary directory:
Debian's rsyslogd, influxd and nats-server, and an HTTP receiver for webhooks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _program(name: str) -> str:
    """The path of an installed server program (Debian puts some in /usr/sbin)."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/install-deps.sh installs it)")
    return path


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Server:
    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Rsyslog(Server):
    """rsyslogd receiving RFC 5424 on UDP and TCP, writing MSGID|SD|MSG lines."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.udp, self.tcp = free_port(socket.SOCK_DGRAM), free_port()
        self.out = directory / "received.log"
        config = directory / "rsyslog.conf"
        config.write_text(f"""
global(workDirectory="{directory}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" port="{self.udp}" address="127.0.0.1")
input(type="imtcp" port="{self.tcp}" address="127.0.0.1" supportOctetCountedFraming="on")
template(name="fields" type="string" string="%msgid%|%app-name%|%structured-data%|%msg%\\n")
*.* action(type="omfile" file="{self.out}" template="fields")
""")
        super().__init__([_program("rsyslogd"), "-n", "-f", str(config), "-i", str(directory / "rsyslog.pid")],
                         directory / "rsyslogd.log")
        wait_for(lambda: _listening(self.tcp), "rsyslogd")
        wait_for(self._udp_ready, "rsyslogd's UDP input")

    def _udp_ready(self) -> bool:
        """A probe datagram arrived (UDP has no listening state to check)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"<134>1 - - probe - ready - probe", ("127.0.0.1", self.udp))
        time.sleep(0.05)
        return any(line.startswith("ready|") for line in self.lines())

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines() if self.out.exists() else []


class Influx(Server):
    """influxd (1.x) with its data under the test's directory."""

    def __init__(self, directory: Path, database: str = "eunomia") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port, rpc = free_port(), free_port()
        config = directory / "influxdb.conf"
        config.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{directory}/meta"
[data]
  dir = "{directory}/data"
  wal-dir = "{directory}/wal"
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
""")
        super().__init__([_program("influxd"), "-config", str(config)], directory / "influxd.log")
        wait_for(lambda: self._ping(), "influxd")
        self.query(f"CREATE DATABASE {database}", post=True)
        self.database = database

    def _ping(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=2) as r:
            return r.status == 204

    def query(self, q: str, post: bool = False) -> dict[str, Any]:
        data = urllib.parse.urlencode({"q": q, **({} if post else {"db": "eunomia"})}).encode()
        url = f"http://127.0.0.1:{self.port}/query"
        request = urllib.request.Request(url, data=data if post else None, method="POST" if post else "GET")
        if not post:
            request = urllib.request.Request(url + "?" + data.decode())
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())


class Nats(Server):
    """nats-server, and a subscriber reading what is published under a subject."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        super().__init__([_program("nats-server"), "-a", "127.0.0.1", "-p", str(self.port)],
                         directory / "nats.log")
        wait_for(lambda: _listening(self.port), "nats-server")

    def subscribe(self, subject: str) -> "NatsSubscriber":
        return NatsSubscriber(self.port, subject)


class NatsSubscriber:
    def __init__(self, port: int, subject: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self.messages: list[tuple[str, bytes]] = []
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false}\r\nSUB ' + subject.encode() + b" 1\r\nPING\r\n")
        while self._line() != b"PONG":
            pass

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("nats-server closed the subscriber's connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_until(self, done: Callable[[list[tuple[str, bytes]]], bool], timeout: float = 30) -> None:
        self.sock.settimeout(timeout)
        while not done(self.messages):
            line = self._line()
            if line.startswith(b"MSG "):
                parts = line.split()
                size = int(parts[-1])
                while len(self.buffer) < size + 2:
                    self.buffer += self.sock.recv(65536)
                self.messages.append((parts[1].decode(), self.buffer[:size]))
                self.buffer = self.buffer[size + 2:]
            elif line == b"PING":
                self.sock.sendall(b"PONG\r\n")

    def close(self) -> None:
        self.sock.close()


class WebhookReceiver:
    """An HTTP server recording each POSTed body; `answers` lists status codes to give first."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.bodies: list[bytes] = []
        self.answers = list(answers or [])
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests += 1
                code = owner.answers.pop(0) if owner.answers else 200
                if code == 200:
                    owner.bodies.append(body)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for body in list(self.bodies) for e in json.loads(body)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
