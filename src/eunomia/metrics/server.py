"""The /metrics endpoint: prometheus_client's HTTP server on its own thread.

    with MetricsServer(parse_address("127.0.0.1:9464"), collector) as server:
        ...                 # Prometheus scrapes http://127.0.0.1:9464/metrics
"""

from __future__ import annotations

import ipaddress
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.registry import Collector

from . import DEFAULT_ADDRESS


class MetricsAddressError(ValueError):
    """A --metrics (or --api) address that is not HOST:PORT; the message names the fix."""


def parse_address(text: str, option: str = "--metrics", example: str = DEFAULT_ADDRESS) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets: [::1]:9464) → (host, port); the
    error names `option` and gives `example` (the API's addresses too)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise MetricsAddressError(f"{option} {text!r}: give HOST:PORT, e.g. {example}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise MetricsAddressError(f"{option} {text!r}: the host must be an IP address (or localhost), "
                                      f"e.g. {example}") from None
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise MetricsAddressError(f"{option} {text!r}: the port must be 1–65535, e.g. {example}")
    return host, int(port_text)


class MetricsServer:
    def __init__(self, address: tuple[str, int], *collectors: Collector) -> None:
        self.address = address
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes
        for collector in collectors:
            self.registry.register(collector)
        self._server: Any = None

    def __enter__(self) -> "MetricsServer":
        host, port = self.address
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot serve metrics on {host}:{port}: {exc.strerror}; "
                                     "give another --metrics HOST:PORT (or --metrics off)") from None
        return self

    @property
    def port(self) -> int:
        return int(self._server.server_address[1]) if self._server is not None else self.address[1]

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
