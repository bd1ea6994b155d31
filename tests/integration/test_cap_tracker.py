"""The cap tracker: capability checks from capability:cap_capable, the first of
each (process, capability, outcome) streamed, every one counted in the kernel."""

from __future__ import annotations

from .conftest import IMAGE, docker, unique

FILES = [f"f{i}" for i in range(1, 51)]


CHOWN_CALLS = {"chown", "fchownat", "lchown"}  # busybox chown: chown on x86-64, fchownat on arm64


def cap_events(events: list[dict], cap: str, process: str, credentials: str | None = None) -> list[dict]:
    return [e for e in events if e["type"] == "capability" and e["capability"]["name"] == cap
            and e["process"]["name"] == process
            and (credentials is None or e["capability"]["credentials"] == credentials)]


def checks_of(caps: dict, cap: str, **match: object) -> list[dict]:
    """The cap's `checks` entries whose fields equal match's."""
    return [c for c in caps.get(cap, {}).get("checks", []) if all(c[k] == v for k, v in match.items())]


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

    # each chown is checked twice: on the process's own credentials, then
    # (the files are in the overlay's upper layer) on the overlay mounter's
    # when overlayfs changes the upper file: one event each
    own = cap_events(events, "CAP_CHOWN", "chown", "own")
    assert len(own) == 1, own
    e = own[0]
    syscall = e["capability"].pop("syscall")
    assert syscall in CHOWN_CALLS
    assert e["capability"] == {"name": "CAP_CHOWN", "number": 0, "granted": True, "credentials": "own",
                               "probe": False}
    assert e["result"] == 0
    assert e["container"]["name"] == name and e["container"]["id"] == cid
    assert e["user"]["id"] == 0
    assert len(cap_events(events, "CAP_CHOWN", "chown")) == 2

    caps = totals(events, cid)
    chown = caps["CAP_CHOWN"]
    assert chown["granted"] >= 200 and chown["denied"] == 0
    assert "chown" in chown["processes"]
    # `chown 1:1` of a root-owned file: one check for the owner, one for the
    # group, on each set of credentials
    assert checks_of(caps, "CAP_CHOWN", process="chown") == [
        {"process": "chown", "syscall": syscall, "credentials": "own", "probe": False, "granted": 100, "denied": 0},
        {"process": "chown", "syscall": syscall, "credentials": "borrowed", "probe": False, "granted": 100,
         "denied": 0},
    ]
    # every check's counts add up to the capability's
    assert sum(c["granted"] for c in chown["checks"]) == chown["granted"]
    assert sum(c["denied"] for c in chown["checks"]) == chown["denied"]
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
    assert denied[0]["capability"]["credentials"] == "own"
    assert denied[0]["capability"]["syscall"] in CHOWN_CALLS
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

    assert len(cap_events(events, "CAP_CHOWN", "chown", "own")) == 1
    assert {e["container"]["id"] for e in events if e["type"] == "capability"} == {keep_id}
    # the kernel map holds nothing of the other container either
    assert {e["container"]["id"] for e in events if e["type"] == "capabilities"} == {keep_id}
    assert other_id not in {e["container"]["id"] for e in events}
    assert totals(events, keep_id)["CAP_CHOWN"]["granted"] >= 1
    assert summary["trackers"]["cap"]["filtered"] > 0
    assert_accounted(summary)


def test_chown_in_a_fresh_container_is_own_credentials_in_its_syscall(tracer, containers):
    name = unique("capown")
    t = tracer("cap")
    containers.run(name, "sh", "-c", "touch /tmp/f && chown 1000 /tmp/f")
    cid = containers.full_id(name)
    events, summary = t.stop()

    caps = totals(events, cid)
    own = checks_of(caps, "CAP_CHOWN", process="chown", credentials="own")
    assert len(own) == 1 and own[0]["syscall"] in CHOWN_CALLS
    assert own[0]["granted"] == 1 and own[0]["denied"] == 0
    assert own[0]["probe"] is False  # chown fails without it: a real check
    assert_accounted(summary)


def test_overlay_copy_up_borrows_the_mounters_credentials(tracer, containers):
    """With every capability dropped, writing a file of the image's lower layer
    still passes checks: overlayfs copies it up with the credentials of whoever
    mounted the overlay (dockerd, root on the host)."""
    name = unique("capcopy")
    t = tracer("cap")
    containers.names.append(name)
    docker("run", "--name", name, "--cap-drop", "ALL", IMAGE, "sh", "-c", "echo x >> /etc/passwd")
    cid = containers.full_id(name)
    events, summary = t.stop()

    caps = totals(events, cid)
    borrowed = [c for cap in caps for c in checks_of(caps, cap, process="sh", credentials="borrowed")]
    assert borrowed, caps
    # all granted, in the open that triggered the copy-up
    assert all(c["denied"] == 0 and c["granted"] > 0 and c["syscall"] == "openat" for c in borrowed), borrowed
    # … among them CAP_SYS_ADMIN (overlay's trusted.* xattrs), which the
    # container's own credentials do not have
    assert checks_of(caps, "CAP_SYS_ADMIN", process="sh", credentials="borrowed", syscall="openat")
    assert all(c["granted"] == 0 for c in checks_of(caps, "CAP_SYS_ADMIN", process="sh", credentials="own"))
    streamed = [e for e in events if e["type"] == "capability" and e["container"]["id"] == cid
                and e["process"]["name"] == "sh" and e["capability"]["credentials"] == "borrowed"]
    assert streamed and all(e["capability"]["granted"] and e["capability"]["syscall"] == "openat" for e in streamed)
    assert_accounted(summary)


def test_memory_accounting_checks_name_their_syscall(tracer, containers):
    """Every writable private mapping asks for CAP_SYS_ADMIN (the overcommit
    heuristic): in mmap, brk, clone, execve, and outside any syscall when a
    page fault grows the stack."""
    name = unique("capmem")
    t = tracer("cap")
    # dd's 1 MiB buffer is an mmap; the shell's recursion grows its stack by faults
    containers.run(name, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null; "
                                     "f() { [ $1 -gt 0 ] && f $(($1 - 1)); }; f 2000; true")
    cid = containers.full_id(name)
    events, summary = t.stop()

    caps = totals(events, cid)
    admin = checks_of(caps, "CAP_SYS_ADMIN", credentials="own")
    # Docker's default set lacks CAP_SYS_ADMIN: the workload's checks are denied
    assert [c for c in admin if c["process"] == "dd" and c["syscall"] == "mmap" and c["denied"] >= 1]
    assert [c for c in admin if c["process"] == "sh" and c["syscall"] == "brk" and c["denied"] >= 1]
    faults = [c for c in admin if c["process"] == "sh" and c["syscall"] is None]
    assert faults and faults[0]["denied"] >= 50, admin
    # asked by security_vm_enough_memory_mm(): the kernel stack marks them probes
    workload = [c for c in admin if not c["process"].startswith("runc")]
    assert workload and all(c["probe"] for c in workload), workload
    # runc:[2:INIT] still has every capability while it sets up (Go's mmaps)
    assert [c for c in admin if c["process"] == "runc:[2:INIT]" and c["syscall"] == "mmap" and c["granted"] >= 1]
    # deterministic order: by process, then syscall (none first), then credentials
    for cap in caps.values():
        keys = [(c["process"], c["syscall"] is not None, c["syscall"] or "", c["credentials"] == "borrowed",
                 c["probe"]) for c in cap["checks"]]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert_accounted(summary)
