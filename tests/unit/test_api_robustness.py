"""The API under awkward requests and a busy agent: bodies sent in chunks,
GraphQL fragments, resolvers that wait for the pump, a pump that does not
answer or is stopping, the names a loopback server answers to."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Iterator

import pytest

from eunomia.api.access import served_names
from eunomia.api.model import AgentFailure, Unavailable
from eunomia.bpf.errors import BpfError
from eunomia.cli.agent_api import call_on_pump
from eunomia.pipeline.runner import Runner
from eunomia.pipeline.scope import Scope

from .test_api import Agent, _get, _graphql, _put, _serve
from .test_runner import Clock, StandInContext, StandInSession


@pytest.fixture
def agent() -> Agent:
    return Agent()


@pytest.fixture
def api(agent: Agent) -> Iterator[tuple[str, object]]:
    yield from _serve(agent)


def _post_chunked(base: str, chunks: list[bytes]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    try:
        connection.request("POST", "/graphql", body=iter(chunks), encode_chunked=True,
                           headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_body_in_chunks_is_limited_like_any_other(api) -> None:
    base, _ = api
    query = json.dumps({"query": "{ containers { name } }"}).encode()
    status, body = _post_chunked(base, [query[:10], query[10:]])
    assert status == 200 and json.loads(body)["data"]["containers"] == [{"name": "db"}, {"name": "web"}]
    status, body = _post_chunked(base, [b"{" + b" " * 8192] * 9 + [b"}"])   # 72 KiB, no Content-Length
    assert status == 413 and b"at most 64 KiB" in body


def test_graphql_reads_the_lists_a_fragment_selects(api, agent) -> None:
    base, _ = api
    reads = agent.aggregate_reads
    spread = _graphql(base, '{ container(ref: "web") { ...Usage } } fragment Usage on Container { name files { path } }')
    assert spread["data"]["container"] == {"name": "web", "files": [{"path": "/tmp/a"}]}
    inline = _graphql(base, "{ containers { ... on Container { name syscalls { name count } } } }")
    web = {c["name"]: c for c in inline["data"]["containers"]}["web"]
    assert web["syscalls"][0] == {"name": "read", "count": 9}
    assert agent.aggregate_reads == reads + 2


def test_a_graphql_query_waiting_for_the_pump_leaves_the_server_answering(api, agent) -> None:
    base, _ = api
    answers: list[object] = []
    with agent.lock:  # the pump is polling (or loading trackers)
        asking = threading.Thread(target=lambda: answers.append(_graphql(base, "{ containers { name } }")))
        asking.start()
        time.sleep(0.3)
        began = time.monotonic()
        status, _, page = _get(f"{base}/")
        assert status == 200 and b"<html" in page and time.monotonic() - began < 2
        assert answers == []  # still waiting for the lock
    asking.join(10)
    assert answers == [{"data": {"containers": [{"name": "db"}, {"name": "web"}]}}]


def test_a_busy_or_failing_agent_is_a_status_with_the_reason(api, agent) -> None:
    base, _ = api
    agent.failure = Unavailable("eunomia is stopping")
    status, _, body = _get(f"{base}/api/v1/trackers/file", data=b'{"running": true}', method="PUT",
                           headers={"Content-Type": "application/json"})
    assert status == 503 and json.loads(body)["detail"] == "eunomia is stopping"
    agent.failure = AgentFailure("the kernel refused: loading file: Operation not permitted")
    status, body = _put(f"{base}/api/v1/trackers/file", {"running": True})
    assert status == 500 and body["detail"] == "the kernel refused: loading file: Operation not permitted"
    answer = _graphql(base, 'mutation { startTracker(name: "file") { name } }')
    assert answer["errors"][0]["message"] == "the kernel refused: loading file: Operation not permitted"
    agent.failure = None
    assert _put(f"{base}/api/v1/trackers/file", {"running": True})[0] == 200 and agent.running == ["exec", "file"]


def test_calls_for_the_pump_time_out_are_cancelled_and_map_their_failures() -> None:
    clock = Clock()
    session = StandInSession(clock)
    ran: list[str] = []
    with Runner([], Scope(), StandInContext, clock=clock, session_factory=session) as runner:
        with pytest.raises(Unavailable, match="did not get to it within 0 s; try again"):
            call_on_pump(runner, lambda: ran.append("late"), wait=0.05)   # nobody pumps
        runner.pump(lambda t, e: None, until=lambda: len(session.polls) >= 1)
        assert ran == []                                                  # cancelled: never ran

        def refused() -> None:
            raise BpfError("loading exec: Operation not permitted")
        answered: list[Exception] = []
        threading.Thread(target=lambda: _catch(answered, lambda: call_on_pump(runner, refused))).start()
        while not answered:
            runner.pump(lambda t, e: None, until=lambda: len(session.polls) >= 2)
            session.polls.clear()
        assert isinstance(answered[0], AgentFailure) and "Operation not permitted" in str(answered[0])
        runner.finish(lambda t, e: None)
        with pytest.raises(Unavailable, match="eunomia is stopping"):
            call_on_pump(runner, lambda: ran.append("after"))
    assert ran == []


def _catch(into: list[Exception], fn) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        into.append(exc)


def test_the_names_a_loopback_server_answers_to() -> None:
    assert served_names("127.0.0.1", 8527) == {"127.0.0.1:8527", "localhost:8527", "[::1]:8527"}
    assert served_names("::1", 80) == {"[::1]:80", "localhost:80", "127.0.0.1:80", "[::1]", "localhost", "127.0.0.1"}
