"""Debian's real `prometheus`, started by a test on loopback, scraping one target."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from ..servers import Server, _program, free_port

__all__ = ["Prometheus", "free_port", "get"]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        return response.read().decode()


class Prometheus(Server):
    """Debian's prometheus, scraping one target every second, on loopback."""

    def __init__(self, target: str, directory: Path) -> None:
        self.port = free_port()
        config = directory / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
            "scrape_configs": [{"job_name": "eunomia", "static_configs": [{"targets": [target]}]}]}))
        super().__init__([_program("prometheus"), f"--config.file={config}",
                          f"--storage.tsdb.path={directory / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
                         directory / "prometheus.log")

    def query(self, promql: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        answer = json.loads(get(url))
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def _poll(self, promql: str, good: Callable[[list[dict]], bool], timeout: float, failure: str) -> list[dict]:
        deadline, result = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                result = self.query(promql)
            except OSError:
                result = []  # not listening yet
            if good(result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"{failure}: {result}")

    def wait_for(self, promql: str, value: str, timeout: float = 60) -> list[dict]:
        """The result once every series has this value."""
        return self._poll(promql, lambda r: bool(r) and all(s["value"][1] == value for s in r), timeout,
                          f"{promql} never became {value}")

    def wait_until(self, promql: str, timeout: float = 60, panel: str = "") -> list[dict]:
        """The query's result once it has series (rates need two scrapes)."""
        return self._poll(promql, bool, timeout, f"{panel or 'query'}: no series for {promql}")
