"""Drift from a recorded baseline (`eunomia run --baseline DIR`), on real
containers: a workload is recorded with `eunomia record`, then run again
under the monitor — as it was (no alert), and with new things added (an
alert for each, naming it).

The peer is a server container on a network this test creates, at a fixed
address (no DNS lookups, which would add peers of their own).  Programs are
called by path: busybox is one executable, told apart by the name it runs
as.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import EUNOMIA, IMAGE, docker, unique

pytestmark = pytest.mark.integration

SUBNET, PEER_IP = "10.213.9.0/24", "10.213.9.10"
# nc, not wget: wget polls only when the page is not there yet, so whether it calls poll()
# depends on timing, and one recording may have seen it or not (a real gap of a baseline
# from one run, which a second recording closes); nc always polls
WORKLOAD = f"/bin/cat /etc/hostname > /dev/null; echo x > /tmp/a; /bin/nc -w 2 {PEER_IP} 8080 </dev/null || true"
TRACKERS = ("-t", "exec", "-t", "file", "-t", "net", "-t", "syscall")


@pytest.fixture
def peer(containers):
    network, server = unique("drift-net"), unique("drift-peer")
    docker("network", "create", "--subnet", SUBNET, network)
    containers.names.append(server)
    docker("run", "-d", "--name", server, "--network", network, "--ip", PEER_IP, IMAGE, "sh", "-c",
           "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www")
    yield network, server
    docker("rm", "-f", server, check=False)
    docker("network", "rm", network, check=False)


def _record(tmp_path: Path, network: str, name: str) -> Path:
    out = tmp_path / "baseline"
    done = subprocess.run([EUNOMIA, "record", "-c", name, "-d", str(out), "--", "docker", "run", "--rm",
                           "--network", network, "--name", name, IMAGE, "sh", "-c", WORKLOAD],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return out


def _drift_alerts(tracer, containers, baseline: Path, network: str, name: str, script: str) -> list[dict]:
    agent = tracer("-c", name, "--baseline", str(baseline), "--no-default-rules", "--metrics", "off", *TRACKERS,
                   command="run")
    containers.names.append(name)
    done = docker("run", "--name", name, "--network", network, IMAGE, "sh", "-c", script, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    docker("rm", "-f", name, check=False)
    lines, summary = agent.stop()
    assert summary["lost"] == 0
    alerts = [line for line in lines if line["type"] == "alert"]
    assert all(a["container"]["name"] == name and a["drift"]["baseline"].startswith(f"name {name} in ")
               for a in alerts)
    return alerts


def test_the_recorded_workload_again_is_no_drift(tracer, containers, peer, tmp_path):
    network, _ = peer
    name = unique("drift-same")
    baseline = _record(tmp_path, network, name)
    alerts = _drift_alerts(tracer, containers, baseline, network, name, WORKLOAD)
    assert alerts == [], [(a["rule"], a["drift"]["new"]) for a in alerts]


def test_each_new_thing_is_one_alert_naming_it(tracer, containers, peer, tmp_path):
    network, server = peer
    name = unique("drift-new")
    baseline = _record(tmp_path, network, name)
    script = (f"{WORKLOAD}; /bin/cp /bin/busybox /tmp/echo; /tmp/echo dropped; echo motd > /etc/motd; "
              f"/bin/nc -w 1 {PEER_IP} 9090 </dev/null || true; /bin/sync")
    alerts = _drift_alerts(tracer, containers, baseline, network, name, script)
    found = {(a["drift"]["aspect"], a["drift"]["new"]) for a in alerts}
    assert len(found) == len(alerts)  # each new thing once
    programs = {new for aspect, new in found if aspect == "program"}
    assert programs == {"/bin/busybox (as cp)", "/tmp/echo", "/bin/busybox (as sync)"}
    assert {new for aspect, new in found if aspect == "write_dir"} == {"/etc"}
    [connection] = [a for a in alerts if a["drift"]["aspect"] == "peer"]
    assert connection["drift"]["new"] == f"{server}:9090/tcp"
    assert f"a port of {server} it never used (it used 8080)" in connection["output"]
    assert "sync" in {new for aspect, new in found if aspect == "syscall"}
    assert {a["rule"] for a in alerts} <= {"Drift: new program", "Drift: write in a new directory",
                                           "Drift: new connection", "Drift: new syscall"}
