"""Every Grafana panel's PromQL, run by a real Prometheus scraping a real agent.

One container does a bit of everything the dashboards show (a shell, a
program, file writes, a chown, a TCP connection made and one refused, the
signals a shell gets, a failed exec); each panel's query, with the dashboard's variables
set to that container, must return series — for that container where the
panel is per container — and a container outside the selection none."""

from __future__ import annotations

import pytest

from ..deploy_files import DASHBOARDS, dashboard, panel_queries, substitute, variable_queries
from .prometheus import Prometheus, free_port

from .conftest import unique

pytestmark = pytest.mark.integration
WORKLOAD = ("nc -ll -p 9000 -e /bin/true & sleep 0.3; for i in 1 2 3; do echo x > /tmp/a; done; "
            "chown 1:1 /tmp/a; /bin/cat /etc/hostname; nc -w 1 127.0.0.1 9000 </dev/null; "
            "nc -w 1 127.0.0.1 1 </dev/null; /no/such/program 2>/dev/null; kill %1; true")
TRACKERS = ("exec", "file", "net", "signal", "cap", "syscall")


def test_every_panel_returns_series_for_the_workloads_container(tracer, containers, tmp_path):
    name, other = unique("dash"), unique("other")
    port = free_port()
    rules = tmp_path / "rules.yaml"  # so the alert panels have an alert to show
    rules.write_text("- rule: cat ran\n  desc: d\n  condition: evt.type = execve and proc.name = cat\n"
                     "  output: '%proc.cmdline'\n  priority: NOTICE\n")
    agent = tracer("-c", name, "--metrics", f"127.0.0.1:{port}", "--rules", str(rules),
                   *(f"-t{t}" for t in TRACKERS), command="run")
    prometheus = Prometheus(f"127.0.0.1:{port}", tmp_path)
    try:
        assert containers.run(name, "sh", "-c", WORKLOAD).returncode == 0
        assert containers.run(other, "sh", "-c", "echo y > /tmp/b").returncode == 0
        values = {"instance": f"127.0.0.1:{port}", "container": name}
        for path in DASHBOARDS:
            board = dashboard(path)
            for variable, query in variable_queries(board):
                found = prometheus.wait_until(substitute(query, values))
                if variable == "container":
                    assert name in {r["metric"]["container"] for r in found}
                    assert other not in {r["metric"]["container"] for r in found}
            for panel, target in panel_queries(board):
                expr = substitute(target["expr"].replace('instance=~"$instance"', f'instance="{values["instance"]}"'),
                                  values)
                found = prometheus.wait_until(expr, panel=f"{path.name}: {panel['title']}")
                shown = {r["metric"].get("container") for r in found}
                if "by (container" in expr:
                    assert name in shown, (panel["title"], found)
                assert other not in shown, (panel["title"], found)
    finally:
        prometheus.stop()
    lines, summary = agent.stop()
    assert summary["lost"] == 0
    assert [(a["rule"], a["container"]["name"]) for a in lines if a["type"] == "alert"] == [("cat ran", name)]
