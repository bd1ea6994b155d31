"""`eunomia run --sink …`: every sink kind gets the events of a real container,
and one that is down costs nothing but its count."""

from __future__ import annotations

import json

import pytest

from ..loki_standin import LokiStandIn
from ..servers import Influx, Nats, Rsyslog, WebhookReceiver, free_port, wait_for
from .conftest import unique

pytestmark = pytest.mark.integration


def test_every_sink_gets_the_containers_events_and_a_dead_one_is_only_counted(tracer, containers, tmp_path):
    name = unique("sinks")
    rsyslog, influx, nats = Rsyslog(tmp_path / "rsyslog"), Influx(tmp_path / "influx"), Nats(tmp_path / "nats")
    webhook, loki = WebhookReceiver(), LokiStandIn()
    subscriber = nats.subscribe(f"eunomia.events.{name}")
    dead = free_port()
    try:
        agent = tracer("-c", name, "--metrics", "off", "--sink", f"syslog:tcp://127.0.0.1:{rsyslog.tcp}",
                       "--sink", f"influxdb:http://127.0.0.1:{influx.port}/eunomia",
                       "--sink", f"nats:nats://127.0.0.1:{nats.port}", "--sink", f"webhook:http://127.0.0.1:{webhook.port}/",
                       "--sink", f"loki:{loki.url}", "--sink", f"webhook:http://127.0.0.1:{dead}/nobody",
                       "--sink", f"jsonl:{tmp_path / 'events.jsonl'}", command="run")
        assert containers.run(name, "sh", "-c", "/bin/cat /etc/hostname").returncode == 0
        _, summary = agent.stop()
        expected = ["/bin/cat", "/etc/hostname"]

        def execs(events):
            return [e["process"]["args"] for e in events if e.get("type") == "exec"]
        kept = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        assert expected in execs(kept) and kept[-1]["type"] == "summary"
        assert execs(webhook.events) == execs(kept[:-1]) and webhook.events[-1]["type"] == "summary"
        syslogged = wait_for(lambda: [json.loads(line.split("|", 3)[3]) for line in rsyslog.lines()
                                      if line.startswith("exec|")], "rsyslog")
        assert expected in execs(syslogged)
        answer = influx.query(f"SELECT \"json\" FROM \"eunomia_event\" WHERE \"container\" = '{name}' "
                              "AND \"type\" = 'exec'")
        assert expected in [json.loads(row[1])["process"]["args"] for row in answer["results"][0]["series"][0]["values"]]
        subscriber.read_until(lambda messages: expected in execs(json.loads(p) for _, p in messages))
        [stream] = loki.query(f'{{container="{name}", type="exec"}}')
        assert expected in [json.loads(line)["process"]["args"] for _, line in stream["values"]]
        assert summary["lost"] == 0
        # the dead one: counted and said at the end, the agent exited 0 (Tracer.stop checks)
        assert f"eunomia: warning: sink webhook could not deliver {len(kept)} events: " in agent.stderr
        assert "Connection refused" in agent.stderr
    finally:
        subscriber.close()
        for server in (rsyslog, influx, nats, webhook, loki):
            server.stop()
