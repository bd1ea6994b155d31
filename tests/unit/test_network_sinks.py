"""The network sinks against real servers on loopback: rsyslogd, influxd,
nats-server, an HTTP receiver, and the Loki stand-in — what arrived, with
hostile container names, and what happens when the far end is down or slow.
(No root or kernel needed: events are built as the pipeline emits them.)"""

from __future__ import annotations

import json
import time

import pytest

from eunomia.sinks import SinkSpecError, open_sink
from eunomia.eventpath import event_ns

from ..loki_standin import LokiStandIn
from ..recording_events import IDS, event
from ..servers import Influx, Nats, Rsyslog, WebhookReceiver, free_port, wait_for

HOSTILE = 'we b"]\\\n\u202e'


def _events(n: int = 3, name: str = "web") -> list[dict]:
    out = []
    for i in range(n):
        e = event("exec", "web", 100 + i, time=f"2026-11-28T12:34:5{i}.00000{i}Z", comm="cat",
                  args=["/bin/cat", f"/etc/{i}"], result=0)
        e["container"]["name"] = name
        out.append(e)
    return out


def _close_in_time(sink, summary=None) -> float:
    began = time.monotonic()
    sink.close(summary)
    return time.monotonic() - began


def test_event_time_to_nanoseconds() -> None:
    assert event_ns("2026-11-28T12:34:55.940756Z") == 1795869295940756000  # date -d ... +%s: 1795869295
    assert event_ns("1970-01-01T00:00:01.000001Z") == 1_000_001_000


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_syslog_rfc5424_reaches_rsyslog(tmp_path, transport) -> None:
    rsyslog = Rsyslog(tmp_path)
    try:
        port = rsyslog.udp if transport == "udp" else rsyslog.tcp
        sink = open_sink(f"syslog:{transport}://127.0.0.1:{port}")
        events = _events(3, HOSTILE)
        for e in events:
            sink.write(e)
        sink.close({"lost": 0})
        assert sink.undelivered == 0, sink.error
        lines = wait_for(lambda: [line for line in rsyslog.lines() if line.startswith("exec|")] if
                         len([line for line in rsyslog.lines() if line.startswith("exec|")]) == 3 else None,
                         "three messages in rsyslog")
    finally:
        rsyslog.stop()
    for line, sent in zip(lines, events):
        msgid, app, sd, msg = line.split("|", 3)
        assert app == "eunomia"
        # the structured data names the container, its quote, backslash and bracket escaped
        assert sd == ('[eunomia@32473 container="we b\\"\\]\\\\\n\u202e" container_id="' + IDS["web"][:12]
                      + '" image="example/web:1"]').replace("\n", "#012")  # rsyslog shows a control char so
        assert json.loads(msg) == sent


def test_syslog_down_is_counted_not_raised(tmp_path) -> None:
    sink = open_sink(f"syslog:tcp://127.0.0.1:{free_port()}")
    for e in _events(5):
        sink.write(e)
    assert _close_in_time(sink, {"lost": 0}) < 10
    assert sink.undelivered == 6 and "refused" in (sink.error or "").lower()


def test_influxdb_points_are_queryable(tmp_path) -> None:
    influx = Influx(tmp_path)
    try:
        sink = open_sink(f"influxdb:http://127.0.0.1:{influx.port}/eunomia")
        events = _events(3, "web, db=1")  # a tag value with a comma, an equals sign and a space
        for e in events:
            sink.write(e)
        sink.close({"lost": 0})  # the summary is not a point
        assert sink.undelivered == 0, sink.error
        answer = influx.query('SELECT "pid", "process", "json" FROM "eunomia_event" WHERE "container" = \'web, db=1\'')
    finally:
        influx.stop()
    series = answer["results"][0]["series"][0]
    rows = [dict(zip(series["columns"], values)) for values in series["values"]]
    assert [r["pid"] for r in rows] == [100, 101, 102]
    assert [json.loads(r["json"]) for r in rows] == events
    assert [r["time"] for r in rows] == ["2026-11-28T12:34:50Z", "2026-11-28T12:34:51.000001Z", "2026-11-28T12:34:52.000002Z"]


def test_influxdb_without_the_database_names_it(tmp_path) -> None:
    with pytest.raises(SinkSpecError, match="name the database"):
        open_sink("influxdb:http://127.0.0.1:8086")


def test_nats_subject_per_container(tmp_path) -> None:
    nats = Nats(tmp_path)
    try:
        subscriber = nats.subscribe("eunomia.events.>")
        sink = open_sink(f"nats:nats://127.0.0.1:{nats.port}")
        events = _events(2, "web.1 *>") + _events(1, "db")
        for e in events:
            sink.write(e)
        sink.close(None)
        assert sink.undelivered == 0, sink.error
        subscriber.read_until(lambda messages: len(messages) == 3)
        subscriber.close()
    finally:
        nats.stop()
    assert [subject for subject, _ in subscriber.messages] == ["eunomia.events.web_1___"] * 2 + ["eunomia.events.db"]
    assert [json.loads(payload) for _, payload in subscriber.messages] == events


def test_webhook_batches_retries_a_5xx_and_gives_up_on_a_4xx() -> None:
    from eunomia.sinks.webhook import WebhookSink

    receiver = WebhookReceiver(answers=[503, 500])
    try:
        # one batch, at close (no interval wake-up in between): exactly three requests
        sink = WebhookSink(f"http://127.0.0.1:{receiver.port}/events", interval=60, backoff=0.05)
        events = _events(4)
        for e in events:
            sink.write(e)
        sink.close({"lost": 0})
        assert sink.undelivered == 0 and receiver.requests == 3  # two failures, then delivered
        assert receiver.events == [*events, {"type": "summary", "lost": 0}]
        refused = WebhookReceiver(answers=[400] * 10)
        sink = open_sink(f"webhook:http://127.0.0.1:{refused.port}/events")
        sink.write(events[0])
        sink.close(None)
        assert refused.requests == 1 and sink.undelivered == 1 and "HTTP 400" in (sink.error or "")
        refused.stop()
    finally:
        receiver.stop()


def test_a_full_queue_counts_what_did_not_fit() -> None:
    from eunomia.sinks.webhook import WebhookSink

    port = free_port()  # nobody there: deliveries fail and are retried while the queue fills
    sink = WebhookSink(f"http://127.0.0.1:{port}/x", max_queue=10, batch=1000, interval=60, retries=0)
    for e in _events(25):
        sink.write(e)
    assert sink.dropped == 15
    sink.close(None)
    assert sink.undelivered == 25


def test_loki_streams_labels_and_order() -> None:
    from eunomia.sinks.loki import LokiSink

    loki = LokiStandIn()
    try:
        sink = LokiSink(loki.url, batch=2, interval=60)  # a push every two events
        events = _events(3, "web")
        late = dict(events[0], time="2026-11-28T12:34:40.000000Z")  # older than what was pushed already
        sink.write(events[0])
        sink.write(events[1])
        wait_for(lambda: sink.delivered == 2, "the first push")
        sink.write(events[2])
        sink.write(late)
        sink.close({"lost": 0})
        assert sink.undelivered == 0 and not loki.rejected, (sink.error, loki.rejected)
        [stream] = loki.query('{container="web", type="exec"}')
    finally:
        loki.stop()
    assert stream["stream"] == {"source": "eunomia", "container": "web", "type": "exec"}
    assert [json.loads(line) for _, line in stream["values"]] == [*events, late]
    stamps = [int(ts) for ts, _ in stream["values"]]
    assert stamps[:3] == [event_ns(e["time"]) for e in events] and stamps[3] == stamps[2] + 1


def test_the_loki_standin_refuses_what_loki_refuses() -> None:
    import urllib.error
    import urllib.request
    loki = LokiStandIn()

    def push(body: dict) -> int:
        request = urllib.request.Request(loki.url + "/loki/api/v1/push", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code
    try:
        assert push({"streams": [{"stream": {"a": "1"}, "values": [["2", "x"]]}]}) == 204
        assert push({"streams": [{"stream": {"a": "1"}, "values": [["1", "older"]]}]}) == 400
        assert push({"streams": [{"stream": {"bad-name": "1"}, "values": [["3", "x"]]}]}) == 400
        assert push({"streams": [{"stream": {"__name__": "1"}, "values": [["3", "x"]]}]}) == 400
        assert push({"streams": [{"stream": {"a": "1"}, "values": [[3, "x"]]}]}) == 400
    finally:
        loki.stop()
    assert "entry out of order" in loki.rejected[0]


def test_a_redirect_is_refused_not_followed_as_a_get() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    seen: list[str] = []

    class Redirecting(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            seen.append("POST")
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/new?token=secret")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            seen.append("GET")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sink = open_sink(f"webhook:http://127.0.0.1:{server.server_address[1]}/x?token=secret")
        sink.write(_events(1)[0])
        sink.close(None)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["POST"] and sink.undelivered == 1
    assert "HTTP 302: redirected to http://127.0.0.1:1/new; give that URL" in sink.error
    assert "secret" not in sink.error


def test_influxdb_keeps_events_of_the_same_microsecond(tmp_path) -> None:
    influx = Influx(tmp_path)
    try:
        sink = open_sink(f"influxdb:http://127.0.0.1:{influx.port}/eunomia")
        first, second = _events(2)
        second["time"] = first["time"]
        sink.write(first)
        sink.write(second)
        sink.close(None)
        answer = influx.query('SELECT "pid" FROM "eunomia_event"')
    finally:
        influx.stop()
    assert [row[1] for row in answer["results"][0]["series"][0]["values"]] == [100, 101]


def test_close_does_not_wait_forever_on_a_server_that_never_answers() -> None:
    import socket
    import threading

    from eunomia.sinks.nats import NatsSink

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []

    def greet() -> None:  # says INFO, then never answers PING
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.sendall(b'INFO {"server_id":"x"}\r\n')
    threading.Thread(target=greet, daemon=True).start()
    sink = NatsSink("127.0.0.1", listener.getsockname()[1], "eunomia.events", close_timeout=0.5, retries=5)
    sink.write(_events(1)[0])
    assert _close_in_time(sink) < 2
    wait_for(lambda: not sink._thread.is_alive(), "the worker to stop", timeout=15)
    assert sink.undelivered == 1
    listener.close()
    for conn in accepted:
        conn.close()
