"""The cap tracker: capability checks from capability:cap_capable, the first of
each (process, capability, outcome) streamed, every one counted in the kernel."""

from __future__ import annotations

from .conftest import docker, unique

FILES = [f"f{i}" for i in range(1, 51)]


def cap_events(events: list[dict], cap: str, process: str) -> list[dict]:
    return [e for e in events if e["type"] == "capability" and e["capability"]["name"] == cap
            and e["process"]["name"] == process]


def totals(events: list[dict], container_id: str) -> dict:
    records = [e for e in events if e["type"] == "capabilities" and e["container"]["id"] == container_id]
    assert len(records) == 1, f"expected one capabilities record for {container_id}, got {len(records)}"
    return records[0]["capabilities"]


def assert_accounted(summary: dict) -> None:
    s = summary["trackers"]["cap"]
    assert s["submitted"] == sum(s["received"].values())
    assert s["lost"] == 0 and s["map_full"] == 0


def test_chown_checks_cap_chown_streamed_once_counted_every_time(tracer, containers):
    name = unique("cap")
    containers.run(name, "sleep", "60", detach=True)
    cid = containers.full_id(name)
    t = tracer("cap", "-c", name)
    # one chown process changing 50 root-owned files: ≥ 50 identical checks
    docker("exec", "-w", "/tmp", name, "sh", "-c", f"touch {' '.join(FILES)} && chown 1:1 {' '.join(FILES)}")
    events, summary = t.stop()

    checks = cap_events(events, "CAP_CHOWN", "chown")
    assert len(checks) == 1, checks
    e = checks[0]
    assert e["capability"] == {"name": "CAP_CHOWN", "number": 0, "granted": True}
    assert e["result"] == 0
    assert e["container"]["name"] == name and e["container"]["id"] == cid
    assert e["user"]["id"] == 0

    chown = totals(events, cid)["CAP_CHOWN"]
    assert chown["granted"] >= 50 and chown["denied"] == 0
    assert "chown" in chown["processes"]
    assert_accounted(summary)


def test_chown_as_unprivileged_user_is_denied(tracer, containers):
    name = unique("capdeny")
    containers.run(name, "sleep", "60", detach=True)
    cid = containers.full_id(name)
    t = tracer("cap", "-c", name)
    out = docker("exec", "--user", "1000", name, "chown", "1000", "/etc/passwd", check=False)
    events, summary = t.stop()
    assert out.returncode != 0 and "Operation not permitted" in out.stderr

    denied = [e for e in cap_events(events, "CAP_CHOWN", "chown") if e["user"]["id"] == 1000]
    assert len(denied) == 1
    assert denied[0]["capability"]["granted"] is False
    assert denied[0]["result"] == "EPERM"
    assert denied[0]["container"]["name"] == name
    assert not [e for e in cap_events(events, "CAP_CHOWN", "chown") if e["capability"]["granted"]]
    chown = totals(events, cid)["CAP_CHOWN"]
    # (runc, setting up the exec, may hold CAP_CHOWN: only the denials are the chown's)
    assert chown["denied"] >= 1 and "chown" in chown["processes"]
    assert_accounted(summary)


def test_cap_checks_only_for_selected_container(tracer, containers):
    keep, other = unique("keep"), unique("other")
    containers.run(keep, "sleep", "60", detach=True)
    containers.run(other, "sleep", "60", detach=True)
    keep_id, other_id = containers.full_id(keep), containers.full_id(other)
    t = tracer("cap", "-c", keep)
    for name in (keep, other):
        docker("exec", "-w", "/tmp", name, "sh", "-c", "touch f && chown 1:1 f")
    events, summary = t.stop()

    assert len(cap_events(events, "CAP_CHOWN", "chown")) == 1
    assert {e["container"]["id"] for e in events if e["type"] == "capability"} == {keep_id}
    # the kernel map holds nothing of the other container either
    assert {e["container"]["id"] for e in events if e["type"] == "capabilities"} == {keep_id}
    assert other_id not in {e["container"]["id"] for e in events}
    assert totals(events, keep_id)["CAP_CHOWN"]["granted"] >= 1
    assert summary["trackers"]["cap"]["filtered"] > 0
    assert_accounted(summary)
