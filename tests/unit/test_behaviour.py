"""A container's behaviour (eunomia.baseline.behaviour) and drift from it
(eunomia.baseline.drift): a recording and the same events seen live agree,
and drift names exactly what is new, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from eunomia.baseline.behaviour import PEER, PROGRAM, SYSCALL, WRITE_DIR, Behaviour, Peer, Program, observations
from eunomia.baseline.drift import BaselineError, Baselines, DriftDetector, load_baselines
from eunomia.recording.builder import ContainerReport

from ..recording_events import container, event
from ..recording_samples import IDS, WEB, write_recording

NET = {"transport": "tcp", "direction": "outbound", "type": "ipv4"}


def _connect(ip: str, port: int, peer: str | None = None, result: object = 0) -> dict:
    return event("connect", WEB, 101, comm="curl", network=NET, result=result,
                 source={"ip": "172.18.0.2", "port": 41000, "container": WEB},
                 destination={"ip": ip, "port": port, "container": peer})


def _workload() -> list[dict]:
    return [
        event("exec", WEB, 100, comm="nginx", executable="/usr/sbin/nginx", args=["nginx"], result=0),
        event("exec", WEB, 101, comm="sh", executable="/bin/busybox", args=["sh", "-c", "x"], result=0),
        event("exec", WEB, 102, comm="nope", args=["/nope"], result="ENOENT"),   # did not run
        event("open", WEB, 100, file={"path": "/var/log/nginx/access.log", "flags": ["write", "append"]}, result=4),
        event("open", WEB, 100, file={"path": "/etc/nginx/nginx.conf", "flags": ["read"]}, result=3),
        event("open", WEB, 100, file={"path": "/etc/denied", "flags": ["write"]}, result="EACCES"),
        event("rename", WEB, 101, file={"path": "/tmp/upload.part", "target_path": "/srv/www/upload"}, result=0),
        event("mkdir", WEB, 101, file={"path": "/run/nginx/cache"}, result=0),
        event("unlink", WEB, 101, file={"path": "/var/cache/old"}, result=0),
        _connect("172.18.0.3", 8080, "api"),
        _connect("10.9.8.7", 443, result="ECONNREFUSED"),                     # tried: a call all the same
        event("open", WEB, 99, comm="runc:[2:INIT]", file={"path": "/proc/self/attr", "flags": ["write"]},
              result=5),                                                         # the runtime's set-up
    ]


def _report(events: list[dict], syscalls: dict | None = None) -> dict:
    fold = ContainerReport(IDS[WEB])
    for e in events:
        fold.add(e)
    report = fold.to_dict(container(WEB), {"start": None, "end": None}, {}, True)
    report["syscalls"] = dict(syscalls or {})
    return report


def test_a_recording_and_the_same_events_live_agree() -> None:
    events = _workload()
    behaviour = Behaviour.from_report(_report(events))
    live = {obs for e in events for obs in observations(e)}
    assert behaviour.programs == {key for aspect, key in live if aspect == PROGRAM} == {
        Program("/usr/sbin/nginx", "nginx"), Program("/bin/busybox", "sh")}
    assert behaviour.write_dirs == {key for aspect, key in live if aspect == WRITE_DIR} == {
        "/var/log/nginx", "/tmp", "/srv/www", "/run/nginx", "/var/cache"}
    assert behaviour.peers == {key for aspect, key in live if aspect == PEER} == {
        Peer("tcp", "api", 8080), Peer("tcp", "10.9.8.7", 443)}
    assert all(behaviour.knows(obs) for obs in live)


def _drift(**syscalls: int) -> DriftDetector:
    baselines = Baselines()
    baselines.add(WEB, "example/web:1", Behaviour.from_report(_report(_workload(), syscalls)), "rec")
    return DriftDetector(baselines)


def test_drift_names_what_is_new_once() -> None:
    drift = _drift()
    assert [a for e in _workload() for a in drift.evaluate(e)] == []   # the baseline itself is no drift
    curl = event("exec", WEB, 110, comm="curl", executable="/usr/bin/curl", args=["curl", "http://x"], result=0)
    [alert] = drift.evaluate(curl)
    assert (alert["rule"], alert["priority"], alert["type"]) == ("Drift: new program", "WARNING", "alert")
    assert alert["drift"] == {"aspect": "program", "new": "/usr/bin/curl", "baseline": "name web in rec"}
    assert drift.evaluate(event("exec", WEB, 111, comm="nc", executable="/bin/busybox", args=["nc"], result=0))[0][
        "drift"]["new"] == "/bin/busybox (as nc)"
    assert alert["output"].startswith("web ran /usr/bin/curl, a program it never ran (command=curl http://x")
    assert drift.evaluate(curl) == []    # told once per container
    assert drift.counts.alerts == {("Drift: new program", "WARNING", WEB): 2}

    [write] = drift.evaluate(event("open", WEB, 100, file={"path": "/etc/cron.d/job", "flags": ["write"]},
                                   result=3))
    assert write["rule"] == "Drift: write in a new directory" and write["drift"]["new"] == "/etc/cron.d"
    assert drift.evaluate(event("open", WEB, 100, file={"path": "/etc/cron.d/job", "flags": ["read"]},
                                result=3)) == []      # reading is not writing
    assert drift.evaluate(event("open", WEB, 100, file={"path": "/var/log/nginx/error.log", "flags": ["write"]},
                                result=5)) == []      # a directory it wrote in

    [port] = drift.evaluate(_connect("172.18.0.3", 22, "api"))
    assert "connected to api:22/tcp, a port of api it never used (it used 8080)" in port["output"]
    [peer] = drift.evaluate(_connect("203.0.113.9", 4444, result="ECONNREFUSED"))
    assert "connected to 203.0.113.9:4444/tcp, a peer it never called (result=ECONNREFUSED" in peer["output"]
    assert drift.evaluate(_connect("10.9.8.7", 443)) == []


def test_what_drift_leaves_alone() -> None:
    drift = _drift()
    new_program = dict(executable="/usr/bin/wget", args=["wget"], result=0)
    assert drift.evaluate(event("exec", WEB, 1, comm="wget", **{**new_program, "result": "ENOENT"})) == []
    assert drift.evaluate(event("exec", WEB, 1, comm="runc:[2:INIT]", **new_program)) == []  # the runtime
    stranger = event("exec", WEB, 1, comm="wget", **new_program)
    stranger["container"] = {**stranger["container"], "id": "f" * 64, "name": "other", "image": "other:1"}
    assert drift.evaluate(stranger) == []  # no recording of it: not judged
    # same image, another name: the image's baseline
    sibling = dict(stranger, container={**stranger["container"], "image": "example/web:1"})
    [alert] = drift.evaluate(sibling)
    assert alert["drift"]["baseline"] == "image example/web:1 in rec" and alert["container"]["name"] == "other"


def test_syscalls_outside_the_profile_and_forgetting() -> None:
    drift = _drift(read=10, write=3, openat=2)
    records = [{"type": "syscalls", "container": container(WEB), "syscalls": {"read": 99, "ptrace": 1, "bpf": 2}}]
    alerts = drift.evaluate_syscalls(records, "2026-12-02T03:00:00.000000Z")
    assert [(a["rule"], a["drift"]["new"]) for a in alerts] == [("Drift: new syscall", "bpf"),
                                                                ("Drift: new syscall", "ptrace")]
    assert alerts[0]["time"] == "2026-12-02T03:00:00.000000Z"
    assert drift.evaluate_syscalls(records, "t") == []
    drift.forget({IDS[WEB]})
    assert len(drift.evaluate_syscalls(records, "t")) == 2  # a container gone and back is told again
    # recorded without the syscall tracker: no profile to leave
    assert _drift().evaluate_syscalls(records, "t") == []


def test_a_flood_of_new_things_is_counted_not_lost() -> None:
    baselines = Baselines()
    baselines.add(WEB, None, Behaviour(), "rec")
    drift = DriftDetector(baselines, max_reported=3)
    for n in range(5):
        drift.evaluate(event("exec", WEB, n, executable=f"/tmp/p{n}", result=0))
    assert drift.counts.alerts == {("Drift: new program", "WARNING", WEB): 3}
    assert drift.counts.suppressed == {"Drift: new program": 2}


def test_baselines_from_a_recording_and_the_error_naming_a_bad_one(tmp_path: Path) -> None:
    baselines = load_baselines([write_recording(tmp_path / "rec")])
    assert {"web", "api", "db"} <= set(baselines.by_name)
    assert baselines.of({"name": "web"}) is baselines.by_name["web"]
    with pytest.raises(BaselineError) as caught:
        load_baselines([tmp_path / "missing"])
    assert str(caught.value).startswith("--baseline ") and "\n" not in str(caught.value)
    observed = Behaviour.from_report({"processes": [{"executable": "/bin/busybox", "name": "sh"}],
                                      "syscalls": {"read": 1}, "runtime_syscalls": ["capset"]})
    assert observed.knows((SYSCALL, "capset")) and observed.knows((SYSCALL, "read"))
    assert observed.knows((PROGRAM, Program("/bin/busybox", "sh")))
    assert not observed.knows((PROGRAM, Program("/bin/busybox", "nc")))  # the same binary as another program
    assert str(Program("/bin/busybox", "nc")) == "/bin/busybox (as nc)" and str(Program("/bin/ls", "ls")) == "/bin/ls"


def test_a_recording_without_the_syscall_tracker_leaves_no_profile_to_drift_from() -> None:
    baselines = Baselines()
    baselines.add(WEB, None, Behaviour.from_report(_report(_workload(), {"read": 1})), "rec1")
    baselines.add(WEB, None, Behaviour.from_report(_report(_workload())), "rec2")   # recorded without it
    records = [{"type": "syscalls", "container": container(WEB), "syscalls": {"ptrace": 1}}]
    assert DriftDetector(baselines).evaluate_syscalls(records, "t") == []
