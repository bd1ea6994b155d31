"""Metrics of `eunomia run` (eunomia.metrics): counting, labels, exposition."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from eunomia.metrics.activity import Activity
from eunomia.metrics.collector import EunomiaCollector, PipelineState
from eunomia.metrics.server import MetricsAddressError, parse_address

from ..recording_events import IDS, event


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _labels(name: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"container": name, "container_id": IDS[name][:12], "image": f"example/{name}:1",
                         **extra}.items()))


def _scrape(activity: Activity, summary=None, aggregates=None, fill=None) -> str:
    summary = summary or {"trackers": {"file": {"received": {"open": 3}, "lost": 2}}, "lost": 2, "undecodable": 0}
    state = PipelineState(lambda: summary, lambda: aggregates or [], lambda: fill or {"file": 0.25}, activity,
                          threading.Lock())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EunomiaCollector(state))
    return generate_latest(registry).decode()


def _workload() -> Activity:
    activity = Activity()
    for n in range(5):  # echo x > /tmp/a, five times
        activity.observe(event("open", "web", 10, result=3, file={"path": "/tmp/a", "flags": ["write", "create",
                                                                                          "truncate"]}))
    activity.observe(event("open", "web", 10, result=3, file={"path": "/etc/passwd", "flags": ["read"]}))
    activity.observe(event("open", "web", 10, result="ENOENT", file={"path": "/nope", "flags": ["read"]}))
    activity.observe(event("exec", "web", 11, comm="nginx", result=0))
    activity.observe(event("exec", "web", 13, comm="bash", result=0))
    activity.observe(event("exec", "web", 12, result="ENOENT"))
    activity.observe(event("connect", "web", 11, result=0, destination={"ip": "172.17.0.3", "port": 5432,
                                                                         "container": "db"}))
    activity.observe(event("connect", "web", 11, result="ECONNREFUSED",
                           destination={"ip": "127.0.0.1", "port": 1, "container": None}))
    activity.observe(event("signal", "web", 11, signal={"name": "SIGTERM", "number": 15}, result="delivered"))
    activity.observe(event("capability", "db", 20, capability={"name": "CAP_CHOWN", "granted": False}))
    # the runtime's own set-up in the container's cgroup is not the container's behaviour
    activity.observe(event("exec", "web", 9, comm="runc:[2:INIT]", result=0))
    activity.observe(event("open", "web", 9, comm="runc:[2:INIT]", result=3, file={"flags": ["write"]}))
    # types that are not counted
    activity.observe(event("exit", "web", 11))
    return activity


def test_streamed_events_are_counted_per_container_with_bounded_labels() -> None:
    samples = _samples(_scrape(_workload()))
    assert samples[("eunomia_file_open_failures_total", _labels("web", access="read"))] == 1
    assert samples[("eunomia_process_starts_total", _labels("web"))] == 2  # runc's exec left out
    assert samples[("eunomia_shell_starts_total", _labels("web", shell="bash"))] == 1
    assert ("eunomia_shell_starts_total", _labels("web", shell="sh")) not in samples  # the failed exec
    assert samples[("eunomia_exec_failures_total", _labels("web"))] == 1
    assert samples[("eunomia_tcp_connections_total", _labels("web", peer="db"))] == 1
    assert samples[("eunomia_tcp_connect_failures_total", _labels("web", peer=""))] == 1
    assert samples[("eunomia_signals_sent_total", _labels("web", signal="SIGTERM"))] == 1
    assert samples[("eunomia_capability_checks_total", _labels("db", capability="CAP_CHOWN", granted="false"))] == 1
    assert not any(name == "eunomia_process_starts_total" and dict(labels)["container"] == "db"
                   for name, labels in samples)
    # no label holds a path or an address
    values = {v for _, labels in samples for _, v in labels}
    assert not {"/tmp/a", "/etc/passwd", "172.17.0.3", "127.0.0.1"} & values


def test_kernel_counts_and_health_are_read_at_scrape_time() -> None:
    web = event("open", "web", 1)["container"]
    aggregates = [
        {"type": "file_bytes", "container": web, "file": {"path": "/a"}, "bytes_read": 100, "bytes_written": 7,
         "reads": 2, "writes": 1, "opens": 5},
        {"type": "file_bytes", "container": web, "file": {"path": "/b"}, "bytes_read": 1, "bytes_written": 0,
         "reads": 1, "writes": 0, "opens": 1},
        {"type": "syscalls", "container": web, "syscalls": {"read": 40, "openat": 2}, "total": 42},
    ]
    samples = _samples(_scrape(Activity(), aggregates=aggregates))
    assert samples[("eunomia_file_read_bytes_total", _labels("web"))] == 101
    assert samples[("eunomia_file_written_bytes_total", _labels("web"))] == 7
    assert samples[("eunomia_file_opens_total", _labels("web"))] == 6
    assert samples[("eunomia_file_reads_total", _labels("web"))] == 3
    assert samples[("eunomia_file_writes_total", _labels("web"))] == 1
    assert samples[("eunomia_syscalls_total", _labels("web", syscall="openat"))] == 2
    assert samples[("eunomia_events_received_total", (("tracker", "file"),))] == 3
    assert samples[("eunomia_events_lost_total", (("tracker", "file"),))] == 2
    assert samples[("eunomia_ring_buffer_fill_ratio", (("tracker", "file"),))] == 0.25


def test_a_container_unnamed_at_first_gets_its_name_in_the_series() -> None:
    activity = Activity()
    unnamed = event("exec", "web", 1, result=0)
    unnamed["container"] = {**unnamed["container"], "name": None, "image": None}
    activity.observe(unnamed)
    assert ("eunomia_process_starts_total", tuple(sorted({"container": IDS["web"][:12], "container_id":
            IDS["web"][:12], "image": ""}.items()))) in _samples(_scrape(activity))
    activity.observe(event("exec", "web", 2, result=0))
    assert _samples(_scrape(activity))[("eunomia_process_starts_total", _labels("web"))] == 2


def test_an_exited_container_leaves_the_series_after_the_grace() -> None:
    now = [100.0]
    activity = Activity(grace=60, clock=lambda: now[0])
    activity.observe(event("exec", "web", 1, result=0))
    activity.observe(event("exec", "db", 2, result=0))
    exited = {IDS["web"]}
    activity.prune(lambda cid: cid in exited)
    now[0] += 59
    activity.prune(lambda cid: cid in exited)
    assert len(activity) == 2  # within the grace: still shown
    now[0] += 1
    assert activity.prune(lambda cid: cid in exited) == [IDS["web"]]
    assert set(activity.snapshot()) == {IDS["db"]}
    # a container seen running again restarts its grace
    activity.observe(event("exec", "db", 3, result=0))
    activity.prune(lambda cid: cid == IDS["db"])
    activity.prune(lambda cid: False)
    now[0] += 120
    activity.prune(lambda cid: cid == IDS["db"])
    assert set(activity.snapshot()) == {IDS["db"]}


def test_hostile_names_are_label_values_promtool_accepts(tmp_path) -> None:
    activity = Activity()
    hostile = event("exec", "web", 1, result=0)
    hostile["container"] = {**hostile["container"], "name": 'we"b\\\n{x="1"}', "image": "évil\u202e"}
    activity.observe(hostile)
    text = _scrape(activity)
    labels = [s.labels for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "eunomia_process_starts_total"]
    assert labels == [{"container": 'we"b\\\n{x="1"}', "container_id": IDS["web"][:12], "image": "évil\u202e"}]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (scripts/install-deps.sh installs prometheus)")
    done = subprocess.run([promtool, "check", "metrics"], input=_scrape(_workload()), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "" and done.stderr.strip() == "", done


@pytest.mark.parametrize("text, expected", [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:80", ("::1", 80)),
                                            ("0.0.0.0:1", ("0.0.0.0", 1)), ("localhost:9", ("localhost", 9))])
def test_metrics_addresses(text, expected) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9464", ":9464", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                                  "example.com:80", "127.0.0.1:x", "[::1]"])
def test_bad_metrics_addresses_name_the_form(text) -> None:
    with pytest.raises(MetricsAddressError, match=r"e\.g\. 127\.0\.0\.1:9464"):
        parse_address(text)


def test_an_exited_containers_kernel_series_leave_with_it() -> None:
    now = [0.0]
    activity = Activity(grace=60, clock=lambda: now[0])
    web, db = event("open", "web", 1)["container"], event("open", "db", 1)["container"]
    aggregates = [{"type": "file_bytes", "container": c, "file": {}, "bytes_read": 1, "bytes_written": 2,
                   "reads": 1, "writes": 1, "opens": 1} for c in (web, db)]
    assert _samples(_scrape(activity, aggregates=aggregates))[("eunomia_file_opens_total", _labels("db"))] == 1
    for _ in range(2):  # seen gone, then gone for the grace
        activity.prune(lambda cid: cid == IDS["db"])
        now[0] += 60
    activity.prune(lambda cid: cid == IDS["db"])
    samples = _samples(_scrape(activity, aggregates=aggregates))
    assert ("eunomia_file_opens_total", _labels("db")) not in samples  # the map still has it: not shown
    assert samples[("eunomia_file_opens_total", _labels("web"))] == 1
    assert activity.is_forgotten(IDS["db"])
