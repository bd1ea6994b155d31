"""deploy/: the Prometheus config and alert rules (promtool), the Grafana files.

Every panel's PromQL is run against a real Prometheus scraping a real agent
in tests/integration/test_dashboards.py; here the files' own consistency."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from ..deploy_files import DASHBOARDS, DEPLOY, dashboard, panel_queries, substitute

PROMETHEUS = DEPLOY / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (scripts/install-deps.sh installs prometheus)")
    return subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


def test_the_scrape_config_and_the_rules_are_valid() -> None:
    done = _promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in _promtool("check", "rules", "eunomia.rules.yml").stdout


def test_the_alert_rules_fire_on_their_triggers_and_only_then() -> None:
    done = _promtool("test", "rules", "eunomia.rules.test.yml")
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_every_alert_rule_has_a_unit_test() -> None:
    rules = {r["alert"] for g in yaml.safe_load((PROMETHEUS / "eunomia.rules.yml").read_text())["groups"]
             for r in g["rules"]}
    tests = yaml.safe_load((PROMETHEUS / "eunomia.rules.test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]}
    untested = sorted(rules - tested)
    assert not untested, f"alert rules without a firing test: {untested}"


def test_dashboards_use_the_provisioned_datasource_and_their_own_variables() -> None:
    assert [p.name for p in DASHBOARDS] == ["eunomia-container.json", "eunomia-overview.json"]
    datasources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "eunomia.yml").read_text())
    uid = datasources["datasources"][0]["uid"]
    for path in DASHBOARDS:
        board = dashboard(path)
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), path
        names = {v["name"] for v in board["templating"]["list"]}
        for panel, target in panel_queries(board):
            assert panel["datasource"]["uid"] == uid and target["datasource"]["uid"] == uid, panel["title"]
            assert 'job="eunomia"' in target["expr"], panel["title"]
            substitute(target["expr"], {name: "x" for name in names})  # no variable left undefined
        uids = {dashboard(p)["uid"] for p in DASHBOARDS}
        assert len(uids) == len(DASHBOARDS)
