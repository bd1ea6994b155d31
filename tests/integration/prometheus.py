"""Debian's real `prometheus`, started by a test on loopback, scraping one target."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        return response.read().decode()


class Prometheus:
    """Debian's prometheus, scraping one target every second, on loopback."""

    def __init__(self, target: str, directory: Path) -> None:
        self.port = free_port()
        config = directory / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
            "scrape_configs": [{"job_name": "eunomia", "static_configs": [{"targets": [target]}]}]}))
        self.log = open(directory / "prometheus.log", "wb")
        self.proc = subprocess.Popen(["prometheus", f"--config.file={config}",
                                      f"--storage.tsdb.path={directory / 'tsdb'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, promql: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        answer = json.loads(get(url))
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_for(self, promql: str, value: str, timeout: float = 60) -> list[dict]:
        deadline, result = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                result = self.query(promql)
            except OSError:
                result = []  # not listening yet
            if result and all(r["value"][1] == value for r in result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"{promql} never became {value}: {result}")

    def wait_until(self, promql: str, timeout: float = 60, panel: str = "") -> list[dict]:
        """The query's result once it has series (rates need two scrapes)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                result = self.query(promql)
            except OSError:
                result = []
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{panel or 'query'}: no series for {promql}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


