"""The HTTP API (eunomia.api) on a real server on loopback, asked by a real
HTTP client; the agent's state is built here from events and records of
the shapes the trackers give (docs/events.md), not from the kernel."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from eunomia.api.access import AccessError, check_exposure, read_token
from eunomia.api.model import AgentParts, Tracker
from eunomia.api.service import ApiService
from eunomia.context.model import Container, container_fields
from eunomia.context.processes import Process, ProcessTable
from eunomia.context.registry import ContainerRegistry
from eunomia.metrics.activity import Activity

WEB = "3f4e1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
DB = "c0ffee00" * 8
OTHER = "ab" * 32
TOKEN = "0123456789abcdef0123456789abcdef"


class Agent:
    """What the monitor hands the API: a registry, processes, counts, kernel records."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.registry = ContainerRegistry([])
        for cid, name in ((WEB, "web"), (DB, "db"), (OTHER, "other")):
            self.registry.add_container(Container(id=cid, runtime="docker", name=name, image=f"{name}:1",
                                                  started="2026-12-02T10:00:00Z"))
        self.registry.add_cgroup(101, f"/system.slice/docker-{WEB}.scope")
        self.processes = ProcessTable()
        self.processes.put(Process(pid=40, ppid=1, name="nginx", executable="/usr/sbin/nginx",
                                   args=["nginx", "-g", "daemon off;"], cgroup_id=101))
        self.processes.put(Process(pid=41, ppid=40, name="gone", cgroup_id=101, exited=True))
        self.processes.put(Process(pid=7, ppid=1, name="sshd", cgroup_id=5))
        self.activity = Activity()
        self.records: list[dict[str, Any]] = []
        self.aggregate_reads = 0
        self.edges: dict[tuple[str, str, str, int], int] = {}
        self.exited: set[str] = set()
        self.running = ["exec"]
        self.retracks: list[list[str]] = []
        self.failure: Exception | None = None  # what the next retrack raises

    def retrack(self, choose: Callable[[list[str]], list[str] | None]) -> None:
        if self.failure is not None:
            raise self.failure
        names = choose(list(self.running))
        if names is not None:
            self.retracks.append(names)
            self.running = names

    def container(self, cid: str) -> dict[str, Any]:
        return dict(container_fields(self.registry.get(cid)))

    def aggregates(self) -> list[dict[str, Any]]:
        self.aggregate_reads += 1
        return self.records

    def parts(self, service: ApiService) -> AgentParts:
        return AgentParts(lock=self.lock, registry=self.registry, processes=self.processes,
                          activity=self.activity, aggregates=self.aggregates, edges=lambda: self.edges,
                          peers=service.peers, wants=lambda cid: cid in (WEB, DB),
                          exited=lambda cid: cid in self.exited,
                          trackers=lambda: [Tracker(n, n in self.running, n) for n in ("exec", "file", "syscall")],
                          retrack=self.retrack, alerts=service.alerts)


def _workload(agent: Agent, service: ApiService) -> None:
    """web: 2 programs (one a shell), 3 opens (1 failed), a connection to db and one outside, a signal."""
    web, db = agent.container(WEB), agent.container(DB)
    events = [
        {"type": "exec", "container": web, "result": 0, "process": {"name": "sh"}},
        {"type": "exec", "container": web, "result": 0, "process": {"name": "cat"}},
        {"type": "open", "container": web, "result": 0, "file": {"path": "/etc/hostname", "flags": ["read"]}},
        {"type": "open", "container": web, "result": 0, "file": {"path": "/tmp/a", "flags": ["write", "create"]}},
        {"type": "open", "container": web, "result": "ENOENT", "file": {"path": "/nope", "flags": ["read"]}},
        {"type": "connect", "container": web, "result": 0, "network": {"transport": "tcp"},
         "source": {"ip": "172.20.0.2", "port": 40000, "container": "web"},
         "destination": {"ip": "172.20.0.3", "port": 5432, "container": "db"}},
        {"type": "connect", "container": web, "result": 0, "network": {"transport": "tcp"},
         "source": {"ip": "172.20.0.2", "port": 40001, "container": "web"},
         "destination": {"ip": "10.9.8.7", "port": 443, "container": None}},
        {"type": "accept", "container": db, "result": 0, "network": {"transport": "tcp"},
         "source": {"ip": "172.20.0.2", "port": 40000, "container": "web"},
         "destination": {"ip": "172.20.0.3", "port": 5432, "container": "db"}},
        {"type": "capability", "container": web, "capability": {"name": "CAP_CHOWN", "granted": True}},
        {"type": "capability", "container": web, "capability": {"name": "CAP_CHOWN", "granted": True}},
        {"type": "capability", "container": web, "capability": {"name": "CAP_SYS_ADMIN", "granted": False}},
        {"type": "signal", "container": web, "signal": {"name": "SIGTERM"}},
    ]
    for event in events:
        agent.activity.observe(event)
        service.observe("net" if event["type"] in ("connect", "accept") else "x", event)
    agent.edges[("web", "db", "tcp", 5432)] = 1
    agent.records[:] = [
        {"type": "syscalls", "container": web, "syscalls": {"read": 9, "openat": 3, "write": 9}, "total": 21},
        {"type": "file_bytes", "container": web, "file": {"path": "/tmp/a"}, "opens": 1, "reads": 0, "writes": 5,
         "bytes_read": 0, "bytes_written": 10},
        {"type": "file_bytes", "container": web, "file": {"path": "/proc/1/status"}, "opens": 1, "reads": 1,
         "writes": 0, "bytes_read": 900, "bytes_written": 0, "runtime_setup": True},
        {"type": "file_bytes", "container": db, "file": {"path": "/var/lib/db"}, "opens": 1, "reads": 2,
         "writes": 0, "bytes_read": 100, "bytes_written": 0},
    ]


@pytest.fixture
def agent() -> Agent:
    return Agent()


def _serve(agent: Agent, token: str | None = None) -> Iterator[tuple[str, ApiService]]:
    service = ApiService(("127.0.0.1", 0), token)
    _workload(agent, service)
    with service.serving(agent.parts(service)) as where:
        yield f"http://{where}", service


@pytest.fixture
def api(agent) -> Iterator[tuple[str, ApiService]]:
    yield from _serve(agent)


@pytest.fixture
def guarded(agent) -> Iterator[tuple[str, ApiService]]:
    yield from _serve(agent, TOKEN)


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None,
         method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _json(url: str, **kw: Any) -> Any:
    status, _, body = _get(url, **kw)
    assert status == 200, (status, body)
    return json.loads(body)


def _graphql(base: str, query: str, headers: dict[str, str] | None = None) -> Any:
    status, _, body = _get(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                           headers={"Content-Type": "application/json", **(headers or {})})
    assert status == 200, body
    return json.loads(body)


def test_the_watched_containers_with_their_counts(api) -> None:
    base, _ = api
    listed = _json(f"{base}/api/v1/containers")
    assert [c["name"] for c in listed] == ["db", "web"]  # "other" is not watched
    web = listed[1]
    assert (web["id"], web["short_id"], web["image"], web["runtime"], web["state"], web["started"]) == \
        (WEB, WEB[:12], "web:1", "docker", "running", "2026-12-02T10:00:00Z")
    assert web["counts"] == {"process_starts": 2, "exec_failures": 0, "shell_starts": 1, "file_opens": 2,
                             "file_open_failures": 1, "tcp_connections": 2, "tcp_connect_failures": 0,
                             "capability_checks": 3, "signals_sent": 1, "alerts": 0}


def test_one_containers_aggregates(api, agent) -> None:
    base, _ = api
    web = _json(f"{base}/api/v1/containers/web")
    assert web["syscalls"] == [{"name": "read", "count": 9}, {"name": "write", "count": 9},
                               {"name": "openat", "count": 3}]
    # the runtime's own reads of /proc are not the container's files; db's file is db's
    assert web["files"] == [{"path": "/tmp/a", "opens": 1, "reads": 0, "writes": 5, "bytes_read": 0,
                             "bytes_written": 10}]
    assert web["peers"] == [
        {"direction": "outbound", "name": "db", "address": None, "transport": "tcp", "port": 5432, "count": 1},
        {"direction": "outbound", "name": None, "address": "10.9.8.7", "transport": "tcp", "port": 443, "count": 1}]
    assert web["capabilities"] == [{"name": "CAP_CHOWN", "granted": True, "count": 2},
                                   {"name": "CAP_SYS_ADMIN", "granted": False, "count": 1}]
    assert web["processes"] == [{"pid": 40, "ppid": 1, "name": "nginx", "executable": "/usr/sbin/nginx",
                                 "args": ["nginx", "-g", "daemon off;"]}]
    assert _json(f"{base}/api/v1/containers/{WEB[:6]}")["name"] == "web"
    db = _json(f"{base}/api/v1/containers/db")
    assert db["peers"] == [{"direction": "inbound", "name": "web", "address": None, "transport": "tcp",
                            "port": 5432, "count": 1}]
    agent.exited.add(DB)
    assert _json(f"{base}/api/v1/containers/db")["state"] == "exited"


def test_unknown_unwatched_and_malformed_containers(api) -> None:
    base, _ = api
    status, _, body = _get(f"{base}/api/v1/containers/nosuch")
    assert status == 404 and "GET /api/v1/containers" in json.loads(body)["detail"]
    assert _get(f"{base}/api/v1/containers/other")[0] == 404   # known, but not watched
    assert _get(f"{base}/api/v1/containers/..%2Fetc%2Fpasswd")[0] in (404, 422)
    assert _get(f"{base}/api/v1/containers/-rf")[0] == 422


def test_graphql_answers_from_the_same_model(api, agent) -> None:
    base, _ = api
    answer = _graphql(base, "{ containers { name id image counts { processStarts fileOpenFailures } "
                            "syscalls { name count } peers { name address port } } }")
    assert "errors" not in answer, answer
    web = {c["name"]: c for c in answer["data"]["containers"]}["web"]
    assert (web["id"], web["image"], web["counts"]) == (WEB, "web:1", {"processStarts": 2, "fileOpenFailures": 1})
    assert web["syscalls"][0] == {"name": "read", "count": 9}
    assert {"name": "db", "address": None, "port": 5432} in web["peers"]
    reads = agent.aggregate_reads
    names = _graphql(base, "{ containers { name } trackers { name running } }")["data"]
    assert names == {"containers": [{"name": "db"}, {"name": "web"}],
                     "trackers": [{"name": "exec", "running": True}, {"name": "file", "running": False},
                                  {"name": "syscall", "running": False}]}
    assert agent.aggregate_reads == reads  # names only: no kernel map read
    files = _graphql(base, '{ container(ref: "web") { files { path bytesWritten } } }')["data"]
    assert files == {"container": {"files": [{"path": "/tmp/a", "bytesWritten": 10}]}}
    missing = _graphql(base, '{ container(ref: "nosuch") { name } }')
    assert missing["data"] is None and "no watched container 'nosuch'" in missing["errors"][0]["message"]


def test_network_alerts_and_trackers(api, agent) -> None:
    base, service = api
    assert _json(f"{base}/api/v1/network") == {
        "containers": ["db", "web"],
        "edges": [{"source": "web", "destination": "db", "transport": "tcp", "port": 5432, "count": 1}]}
    for n in range(3):
        service.alert({"type": "alert", "time": f"2026-12-02T10:00:0{n}Z", "rule": "Shell", "priority": "WARNING",
                       "output": f"shell {n}", "container": agent.container(WEB if n < 2 else DB)})
    alerts = _json(f"{base}/api/v1/alerts?limit=2")
    assert [(a["output"], a["container"]) for a in alerts] == [("shell 1", "web"), ("shell 2", "db")]
    assert [a["output"] for a in _json(f"{base}/api/v1/alerts?container=web")] == ["shell 0", "shell 1"]
    assert _get(f"{base}/api/v1/alerts?limit=5000")[0] == 422
    assert [t["name"] for t in _json(f"{base}/api/v1/trackers")] == ["exec", "file", "syscall"]


def _put(url: str, body: Any, content_type: str = "application/json") -> tuple[int, Any]:
    status, _, raw = _get(url, data=json.dumps(body).encode(), headers={"Content-Type": content_type}, method="PUT")
    return status, json.loads(raw)


def test_trackers_start_and_stop(api, agent) -> None:
    base, _ = api
    status, trackers = _put(f"{base}/api/v1/trackers/syscall", {"running": True})
    assert status == 200 and [t["name"] for t in trackers if t["running"]] == ["exec", "syscall"]
    assert agent.retracks == [["exec", "syscall"]]    # in the registry's order
    assert _put(f"{base}/api/v1/trackers/syscall", {"running": True})[0] == 200
    assert agent.retracks == [["exec", "syscall"]]    # already running: nothing reloaded
    assert _put(f"{base}/api/v1/trackers/exec", {"running": False})[0] == 200
    status, body = _put(f"{base}/api/v1/trackers/syscall", {"running": False})
    assert status == 409 and "only tracker running" in body["detail"]
    status, body = _put(f"{base}/api/v1/trackers/nosuch", {"running": True})
    assert status == 404 and "GET /api/v1/trackers" in body["detail"]
    assert _put(f"{base}/api/v1/trackers/exec", {"running": "yes please"})[0] == 422
    assert _put(f"{base}/api/v1/trackers/exec", {"running": True}, "text/plain")[0] == 415
    answer = _graphql(base, 'mutation { startTracker(name: "file") { name running } }')
    assert answer["data"]["startTracker"] == [{"name": "exec", "running": False}, {"name": "file", "running": True},
                                              {"name": "syscall", "running": True}]
    assert agent.retracks[-1] == ["file", "syscall"]


def _open_stream(base: str, query: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    host = base.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=10)
    connection.request("GET", f"/api/v1/stream{query}", headers=headers or {})
    response = connection.getresponse()
    assert response.status == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.readline() == b": eunomia stream\n"
    return response


def _next_block(response: http.client.HTTPResponse) -> tuple[str, Any]:
    lines = []
    while True:
        line = response.readline()
        if line == b"\n":
            if lines:
                break
            continue
        lines.append(line.decode().rstrip("\n"))
    fields = dict(line.split(": ", 1) for line in lines)
    return fields["event"], json.loads(fields["data"])


def _wait_subscribed(service: ApiService, n: int) -> None:
    for _ in range(500):
        if len(service.feed._subscriptions) >= n:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the stream did not subscribe")


def test_the_stream_filters_by_container_and_type(api, agent) -> None:
    base, service = api
    response = _open_stream(base, "?container=web&type=open&type=alert")
    _wait_subscribed(service, 1)
    web, db = agent.container(WEB), agent.container(DB)
    service.observe("file", {"type": "open", "container": db, "file": {"path": "/db-file"}})      # not web
    service.observe("exec", {"type": "exec", "container": web, "process": {"name": "sh"}})       # not open
    service.observe("file", {"type": "open", "container": web, "file": {"path": "/a\n<b>\"c"}})
    service.alert({"type": "alert", "rule": "R", "priority": "ERROR", "output": "o", "container": web})
    service.flush()
    assert _next_block(response) == ("event", {"type": "open", "container": web, "file": {"path": "/a\n<b>\"c"}})
    kind, alert = _next_block(response)
    assert (kind, alert["rule"]) == ("alert", "R")
    response.close()


def test_a_token_guards_the_api_but_not_the_page(guarded) -> None:
    base, _ = guarded
    for path in ("/api/v1/containers", "/api/v1/stream", "/api/v1/openapi.json"):
        status, headers, _ = _get(base + path)
        assert status == 401 and headers["www-authenticate"] == "Bearer", path
    assert _get(f"{base}/api/v1/containers", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert _get(f"{base}/api/v1/containers", headers={"Authorization": TOKEN})[0] == 401
    assert _get(f"{base}/api/v1/containers", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    status, _, body = _get(f"{base}/graphql", data=b'{"query": "{ containers { name } }"}',
                           headers={"Content-Type": "application/json"})
    assert status == 401
    assert _graphql(base, "{ containers { name } }", {"Authorization": f"Bearer {TOKEN}"})["data"]
    status, headers, body = _get(f"{base}/")  # the page asks for the token itself
    assert status == 200 and b"token-form" in body
    assert _get(f"{base}/docs")[0] == 200


def test_every_response_is_locked_down(api) -> None:
    base, _ = api
    status, headers, body = _get(f"{base}/", headers={"Origin": "http://evil.example"})
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert b"<script src=\"/page.js\"" in body and b"http" not in body.split(b"<body>")[1]  # nothing external
    status, headers, _ = _get(f"{base}/api/v1/containers", headers={"Origin": "http://evil.example"})
    assert status == 200 and "access-control-allow-origin" not in {k.lower() for k in headers}  # no CORS
    port = base.rsplit(":", 1)[1]
    assert _get(f"{base}/api/v1/containers", headers={"Host": f"evil.example:{port}"})[0] == 421
    assert _get(f"{base}/api/v1/containers", headers={"Host": f"localhost:{port}"})[0] == 200
    big = b"{" + b" " * (70 * 1024) + b"}"
    assert _get(f"{base}/graphql", data=big, headers={"Content-Type": "application/json"})[0] == 413
    form = b"query=%7B+containers+%7B+name+%7D+%7D"
    assert _get(f"{base}/graphql", data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 415
    status, _, body = _get(f"{base}/docs")
    assert status == 200 and b"/api/v1/containers/{ref}" in body and b"<script" not in body
    spec = _json(f"{base}/api/v1/openapi.json")
    assert {"/api/v1/containers", "/api/v1/containers/{ref}", "/api/v1/stream"} <= set(spec["paths"])


def test_exposure_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(AccessError, match=r"--api 0\.0\.0\.0:8527 is reachable from other machines: give a token"):
        check_exposure(("0.0.0.0", 8527), None)
    check_exposure(("0.0.0.0", 8527), TOKEN)
    check_exposure(("::1", 8527), None)
    check_exposure(("localhost", 8527), None)
    short = tmp_path / "short"
    short.write_text("secret\n")
    with pytest.raises(AccessError, match="at least 16 printable ASCII"):
        read_token(short, {})
    good = tmp_path / "token"
    good.write_text(f"{TOKEN}\n")
    assert read_token(good, {"EUNOMIA_API_TOKEN": "x" * 20}) == TOKEN  # the file wins
    assert read_token(None, {"EUNOMIA_API_TOKEN": "y" * 20}) == "y" * 20
    assert read_token(None, {}) is None
    with pytest.raises(AccessError, match="--api-token-file .*missing.*give a readable file"):
        read_token(tmp_path / "missing", {})
