"""`eunomia run`: the always-on monitor, scraped by a real Prometheus.

A known workload in a real container; the agent's /metrics must show its
exact counts under its name, a real `prometheus` scraping the agent must
return them through its query API, promtool must accept the exposition,
and a container outside the selection must have no series at all."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import docker, events_of, unique
from ..reference import reference_file
from ..servers import wait_for
from .prometheus import Prometheus, free_port, get

pytestmark = pytest.mark.integration
WORKLOAD = "for i in 1 2 3 4 5; do echo x > /tmp/a; done; /bin/cat /etc/hostname"


def _series(text: str, name: str, container: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("container", "container_id", "image"))):
            s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name and s.labels.get("container") == container}


def test_run_counts_a_known_workload_that_a_real_prometheus_scrapes(tracer, containers, tmp_path):
    # `base` does nothing but start: the runtime's own set-up in a container's
    # cgroup (runc reads and writes a few files there, some as long as the
    # container's name: the names are as long) is in the kernel's counts of both
    name, base, other = unique("work"), unique("base"), unique("other")
    port = free_port()
    sink = tmp_path / "sink.jsonl"
    agent = tracer("-c", name, "-c", base, "--metrics", f"127.0.0.1:{port}", "--events", "--sink", f"jsonl:{sink}",
                   command="run")
    prometheus = Prometheus(f"127.0.0.1:{port}", tmp_path)
    try:
        assert containers.run(name, "sh", "-c", WORKLOAD).returncode == 0
        assert containers.run(base, "sh", "-c", ":").returncode == 0
        assert containers.run(other, "sh", "-c", "echo y > /tmp/b; /bin/cat /etc/hostname").returncode == 0
        text = get(f"http://127.0.0.1:{port}/metrics")
        assert _series(text, "eunomia_process_starts_total", name) == {(): 2.0}  # sh, then /bin/cat
        assert _series(text, "eunomia_process_starts_total", base) == {(): 1.0}  # (runc's exec not counted)

        def more(metric: str) -> float:
            return _series(text, metric, name)[()] - _series(text, metric, base)[()]
        assert more("eunomia_file_writes_total") == 5
        assert more("eunomia_file_written_bytes_total") == 10  # "x\n" five times
        # (runc's reads of /proc files vary by a byte or so from one start to the next)
        assert more("eunomia_file_opens_total") >= 6  # five redirections, /etc/hostname
        assert not any(s.labels.get("container") == other for f in text_string_to_metric_families(text)
                       for s in f.samples)
        fill = {(s.labels["tracker"], s.labels["map"]): s.value for f in text_string_to_metric_families(text)
                for s in f.samples if s.name == "eunomia_map_fill_ratio"}
        assert 0 < fill[("file", "file_bytes")] < 0.01  # the two containers' few files of 65,536 entries
        lost = {s.labels["tracker"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "eunomia_events_lost_total"}
        assert lost and set(lost.values()) == {0.0}
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                               timeout=60)
        assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), check
        # the same numbers through a real Prometheus
        prometheus.wait_for(f'eunomia_process_starts_total{{container="{name}"}}', "2")
        prometheus.wait_for(f'eunomia_file_writes_total{{container="{name}"}} - ignoring(container, container_id) '
                            f'eunomia_file_writes_total{{container="{base}"}}', "5")
        assert prometheus.query(f'count({{container="{other}"}})') == []
    finally:
        prometheus.stop()
    events, summary = agent.stop()
    container_id = docker("inspect", "--format", "{{.Id}}", name).stdout.strip()
    execs = events_of(events, container_id=container_id, type="exec")
    assert [e["process"]["args"] for e in execs] == [["sh", "-c", WORKLOAD], ["/bin/cat", "/etc/hostname"]]
    assert not [e for e in events if e["container"]["name"] == other]
    assert summary["lost"] == 0
    # the sink got every event the standard output got, then the summary
    kept = [json.loads(line) for line in sink.read_text().splitlines()]
    assert kept[-1]["type"] == "summary" and kept[:-1] == events


def test_run_refuses_a_metrics_port_in_use_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "eunomia"), "run",
                               "-f", "json", "-T", "5", "--metrics", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("eunomia: error")]
    assert lines == [f"eunomia: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use; "
                     "give another --metrics HOST:PORT (or --metrics off)"], done.stderr
    assert "Traceback" not in done.stderr


def _wait_for_stderr(agent, text: str, timeout: float = 30) -> None:
    """Read the agent's stderr (kept in agent.stderr) until it says `text`."""
    deadline = time.monotonic() + timeout
    while text not in agent.stderr:
        assert time.monotonic() < deadline and agent.proc.poll() is None, agent.stderr
        if select.select([agent.proc.stderr], [], [], 0.2)[0]:
            agent.stderr += os.read(agent.proc.stderr.fileno(), 4096).decode(errors="replace")


def _execs(path: Path) -> list[list[str]]:
    return [e["process"]["args"] for e in map(json.loads, path.read_text().splitlines()) if e["type"] == "exec"]


def test_sighup_rereads_the_config_and_a_bad_one_keeps_the_running_settings(tracer, containers, tmp_path):
    name = unique("hup")
    config, first, second = tmp_path / "config.yaml", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    config.write_text(f"containers: [{name}]\nmetrics: 'off'\nsinks: ['jsonl:{first}']\n")
    agent = tracer("--config", str(config), command="run")
    assert containers.run(name, "sleep", "1000", detach=True).returncode == 0
    docker("exec", name, "/bin/cat", "/etc/hostname")
    config.write_text(f"containers: [{name}]\nmetrics: 'off'\nsinks: ['jsonl:{second}']\ntrackers: [exec]\n")
    agent.proc.send_signal(signal.SIGHUP)  # the events already in the rings go to the old sink first
    _wait_for_stderr(agent, "reloaded")
    docker("exec", name, "/bin/echo", "second")
    config.write_text("containers: web\n")  # wrong now
    agent.proc.send_signal(signal.SIGHUP)
    _wait_for_stderr(agent, "still running the previous configuration")
    config.write_text(f"containers: [{name}]\ntrackers: [nope]\n")  # no such tracker
    agent.proc.send_signal(signal.SIGHUP)
    _wait_for_stderr(agent, "unknown tracker 'nope'")
    docker("exec", name, "/bin/echo", "third")
    _, summary = agent.stop()
    assert f"eunomia: reloaded {config}; restart eunomia run to change trackers" in agent.stderr
    assert f'eunomia: warning: {config}: containers: "web" is not a list; give a list; still running the ' \
           "previous configuration" in agent.stderr
    assert "eunomia: warning: unknown tracker 'nope'; choose from: " in agent.stderr
    assert ["/bin/cat", "/etc/hostname"] in _execs(first)
    assert ["/bin/echo", "second"] not in _execs(first)
    assert [args for args in _execs(second) if args[0] == "/bin/echo"] == [["/bin/echo", "second"],
                                                                            ["/bin/echo", "third"]]
    assert '"type":"summary"' not in first.read_text()  # closed at the reload, without one
    last = json.loads(second.read_text().splitlines()[-1])
    assert last["type"] == "summary" and last["lost"] == 0 and summary["lost"] == 0


def _file_bytes_maps() -> set[int]:
    shown = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True,
                                      check=True).stdout)
    return {m["id"] for m in shown if m.get("name") == "file_bytes"}


def _cgroups_in(map_id: int) -> set[int]:
    dumped = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)], capture_output=True,
                                       text=True, check=True).stdout)
    return {entry["formatted"]["key"]["cgroup_id"] for entry in dumped}


def test_an_exited_container_leaves_the_series_the_registry_and_the_kernel_maps(tracer, containers, tmp_path):
    name = unique("gone")
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text("limits: {exited_series_seconds: 0}\n")
    before = _file_bytes_maps()
    agent = tracer("--config", str(config), "-c", name, "--metrics", f"127.0.0.1:{port}", "-t", "file",
                   "-t", "exec", command="run")
    [ours] = _file_bytes_maps() - before
    assert containers.run(name, "sh", "-c", "echo x > /tmp/a; sleep 3", detach=True).returncode == 0
    full_id = containers.full_id(name)
    cgroup = next(Path("/sys/fs/cgroup/unified").glob(f"**/*{full_id}*"))
    cgroup_id = cgroup.stat().st_ino
    wait_for(lambda: _series(get(f"http://127.0.0.1:{port}/metrics"), "eunomia_file_writes_total", name),
             "the container's series")
    assert cgroup_id in _cgroups_in(ours)
    docker("wait", name, timeout=30)
    wait_for(lambda: not _series(get(f"http://127.0.0.1:{port}/metrics"), "eunomia_process_starts_total", name),
             "the series to go")
    text = get(f"http://127.0.0.1:{port}/metrics")
    assert not any(s.labels.get("container") == name for f in text_string_to_metric_families(text)
                   for s in f.samples)
    assert cgroup_id not in _cgroups_in(ours)  # the kernel's per-container entries went too
    agent.stop()


def test_falcos_rules_raise_an_alert_on_a_real_trigger_and_none_on_the_benign_container(tracer, containers, tmp_path):
    bad, benign = unique("shadow"), unique("benign")
    port = free_port()
    agent = tracer("-c", bad, "-c", benign, "--rules", str(reference_file("falco_rules.yaml")), "--no-default-rules",
                   "--metrics", f"127.0.0.1:{port}", command="run")
    assert containers.run(bad, "sh", "-c", "echo 'root:*:1::::::' > /etc/shadow; /bin/cat /etc/shadow").returncode == 0
    assert containers.run(benign, "sh", "-c", "/bin/cat /etc/hostname; echo x > /tmp/a").returncode == 0
    text = get(f"http://127.0.0.1:{port}/metrics")
    alerts = {tuple(sorted(s.labels.items())): s.value for f in text_string_to_metric_families(text)
              for s in f.samples if s.name == "eunomia_alerts_total"}
    lines, summary = agent.stop()
    fired = [line for line in lines if line["type"] == "alert"]
    assert [(a["rule"], a["container"]["name"]) for a in fired] == [("Read sensitive file untrusted", bad)]
    alert = fired[0]
    assert alert["priority"] == "WARNING" and "maturity_stable" in alert["tags"]
    assert "file=/etc/shadow" in alert["output"] and "process=cat" in alert["output"]
    assert alert["event"]["file"]["path"] == "/etc/shadow" and alert["event"]["process"]["name"] == "cat"
    assert alerts == {(("container", bad), ("priority", "WARNING"), ("rule", "Read sensitive file untrusted")): 1.0}
    assert summary["alerts"] == 1 and summary["alerts_suppressed"] == {}
    assert not [line for line in lines if line["type"] != "alert"]  # without --events: alerts only


def test_a_connection_to_a_named_server_container_is_counted_under_its_peer(tracer, containers, tmp_path):
    network, server, client = unique("net"), unique("server"), unique("client")
    port = free_port()
    docker("network", "create", network)
    try:
        agent = tracer("-c", client, "-c", server, "--metrics", f"127.0.0.1:{port}", command="run")
        containers.names.append(server)
        docker("run", "-d", "--name", server, "--network", network, "eunomia-test/busybox",
               "nc", "-ll", "-p", "8080", "-e", "/bin/true")
        containers.names.append(client)
        done = docker("run", "--name", client, "--network", network, "eunomia-test/busybox", "sh", "-c",
                      f"sleep 0.5; nc -w 2 {server} 8080 </dev/null", check=False)
        assert done.returncode == 0, done.stderr
        text = wait_for(lambda: (lambda t: t if _series(t, "eunomia_tcp_connections_total", client) else None)(
            get(f"http://127.0.0.1:{port}/metrics")), "the client's connection")
        assert _series(text, "eunomia_tcp_connections_total", client) == {(("peer", server),): 1.0}
        assert not _series(text, "eunomia_tcp_connect_failures_total", client)
        agent.stop()
    finally:
        docker("rm", "-f", server, client, check=False)
        docker("network", "rm", network, check=False)


def test_rules_name_addresses_from_the_hosts_file(tracer, containers, tmp_path):
    # fd.sip.name as Falco answers it: the names the rules mention, resolved (here from the
    # host's /etc/hosts, where 127.0.0.1 is localhost), matched against the server's address
    rules = tmp_path / "names.yaml"
    rules.write_text("- rule: Local name\n  condition: evt.type = connect and fd.sip.name = localhost\n"
                     "  output: to %fd.sip.name port %fd.sport\n  priority: NOTICE\n")
    name = unique("names")
    agent = tracer("-c", name, "--rules", str(rules), "--no-default-rules", "--metrics", "off", command="run")
    assert containers.run(name, "sh", "-c", "/bin/nc -l -p 8080 -e /bin/true & sleep 0.3; "
                          "/bin/nc 127.0.0.1 8080 </dev/null; /bin/nc -w 1 127.0.0.2 8081 </dev/null; true"
                          ).returncode == 0
    lines, _ = agent.stop()
    alerts = [line for line in lines if line["type"] == "alert"]
    assert [(a["rule"], a["output"]) for a in alerts] == [("Local name", "to localhost port 8080")]  # not 127.0.0.2
