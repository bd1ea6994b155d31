"""`eunomia run --api`: the HTTP API and the live page of a real agent,
asked by a real HTTP client and by Debian's Chromium about real containers.

REST and GraphQL must give the exact counts of a known workload, the stream
its exec as it happens; the page must show two containers that talk, the
edge between them and the alert a test rule raises, with the hostile path
in that alert shown as text."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import EUNOMIA, ROOT, docker, unique
from .browser import chromium_missing, open_page
from ..servers import free_port

pytestmark = pytest.mark.integration
WORKLOAD = "for i in 1 2 3 4 5; do echo x > /tmp/a; done; /bin/cat /etc/hostname"
TRIGGER = "/tmp/trigger<img src=x onerror=alert(1)>"
TRIGGER_RULES = ("- rule: Test trigger\n"
                 "  desc: a file the test opens on purpose\n"
                 "  condition: evt.type in (open, openat) and fd.name startswith /tmp/trigger\n"
                 "  output: trigger file %fd.name opened by %proc.name\n"
                 "  priority: WARNING\n")
ARTIFACTS = ROOT / "build" / "test-artifacts"


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _ok(url: str, **kw: Any) -> Any:
    status, body = _get(url, **kw)
    assert status == 200, (url, status, body)
    return body


def test_rest_and_graphql_give_a_known_workloads_counts(tracer, containers):
    name, port = unique("api"), free_port()
    base = f"http://127.0.0.1:{port}"
    agent = tracer("-c", name, "--api", f"127.0.0.1:{port}", "--metrics", "off",
                   *[f"-t{t}" for t in ("cap", "exec", "file", "net", "signal", "syscall")], command="run")
    assert f"API and live page on {base}/" in agent.stderr
    stream = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    stream.request("GET", f"/api/v1/stream?container={name}&type=exec")
    execs = stream.getresponse()
    assert execs.status == 200 and execs.readline() == b": eunomia stream\n"
    assert containers.run(name, "sh", "-c", WORKLOAD).returncode == 0
    cid = containers.full_id(name)

    # the stream: the workload's programs as they started, in order
    seen = []
    while len(seen) < 2:
        line = execs.readline().decode()
        if line.startswith("data: "):
            seen.append(json.loads(line[6:]))
    assert [(e["container"]["name"], e["process"]["args"]) for e in seen] == \
        [(name, ["sh", "-c", WORKLOAD]), (name, ["/bin/cat", "/etc/hostname"])]
    stream.close()

    listed = _ok(f"{base}/api/v1/containers")
    assert [(c["name"], c["id"], c["image"], c["runtime"]) for c in listed] == \
        [(name, cid, "eunomia-test/busybox", "docker")]
    counts = listed[0]["counts"]
    assert (counts["process_starts"], counts["shell_starts"], counts["exec_failures"]) == (2, 1, 0)  # sh, /bin/cat
    assert (counts["file_opens"], counts["file_open_failures"]) == (2, 0)  # first opens of /tmp/a, /etc/hostname
    detail = _ok(f"{base}/api/v1/containers/{name}")
    files = {f["path"]: f for f in detail["files"]}
    assert {k: files["/tmp/a"][k] for k in ("opens", "writes", "bytes_written", "reads")} == \
        {"opens": 5, "writes": 5, "bytes_written": 10, "reads": 0}     # "x\n" five times
    assert files["/etc/hostname"]["bytes_read"] == 13                   # the short id and a newline
    assert "/proc/1/status" not in files                                # the runtime's, not the workload's
    syscalls = {s["name"]: s["count"] for s in detail["syscalls"]}
    assert (syscalls["write"], syscalls["execve"]) == (5, 1)
    assert detail["processes"] == []                                    # it has exited
    assert _ok(f"{base}/api/v1/containers/{cid[:10]}")["name"] == name
    assert _get(f"{base}/api/v1/containers/{unique('nosuch')}")[0] == 404

    query = ('{ containers { name id counts { processStarts fileOpens } syscalls { name count } } '
             f'container(ref: "{name}") {{ files {{ path bytesWritten }} }} }}')
    answer = _ok(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                 headers={"Content-Type": "application/json"})
    assert "errors" not in answer, answer
    (container,) = answer["data"]["containers"]
    assert (container["name"], container["id"], container["counts"]) == \
        (name, cid, {"processStarts": 2, "fileOpens": 2})
    assert {s["name"]: s["count"] for s in container["syscalls"]} == syscalls
    assert {"path": "/tmp/a", "bytesWritten": 10} in answer["data"]["container"]["files"]
    agent.stop()


def test_the_live_page_shows_who_talks_to_whom_and_the_alert(tracer, containers, tmp_path):
    why = chromium_missing()
    if why:
        pytest.skip(why)
    network, server, client = unique("api-net"), unique("srv"), unique("cli")
    rules = tmp_path / "trigger.yaml"
    rules.write_text(TRIGGER_RULES)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    agent = tracer("-c", server, "-c", client, "--api", f"127.0.0.1:{port}", "--metrics", "off",
                   "--rules", str(rules), command="run")
    docker("network", "create", "--subnet", "10.213.9.0/24", network)
    try:
        assert containers.run(server, "nc", "-ll", "-p", "8080", "-e", "/bin/true", detach=True,
                              options=("--network", network, "--ip", "10.213.9.10")).returncode == 0
        talk = (f"sleep 0.5; for i in 1 2 3; do nc 10.213.9.10 8080 </dev/null; done; "
                f": > '{TRIGGER}'; sleep 30")
        assert containers.run(client, "sh", "-c", talk, detach=True,
                              options=("--network", network, "--ip", "10.213.9.11")).returncode == 0
        deadline = time.monotonic() + 20
        while not _ok(f"{base}/api/v1/alerts") or not _ok(f"{base}/api/v1/network")["edges"]:
            assert time.monotonic() < deadline, "no alert or no edge within 20 s"
            time.sleep(0.2)
        assert _ok(f"{base}/api/v1/network")["edges"] == \
            [{"source": client, "destination": server, "transport": "tcp", "port": 8080, "count": 3}]

        with open_page(f"{base}/") as page:
            page.wait_for(f'#network-map g.edge[data-source="{client}"][data-destination="{server}"]')
            page.wait_for("#alerts li")
            page.wait_for(f'#containers tr[data-id="{containers.full_id(client)}"]')
            nodes = page.attributes("#network-map g.node", "data-name")
            assert sorted(nodes) == sorted([client, server])
            assert page.texts("#network-map g.edge text") == ["tcp/8080 ×3"]
            assert page.texts("#alerts .rule") == ["Test trigger"]
            (output,) = page.texts("#alerts .output")
            assert output == f"trigger file {TRIGGER} opened by sh"      # the path as text, not markup
            assert page.count("#alerts img") == 0 and page.dialogs == []
            assert sorted(page.texts("#containers tbody td:first-child")) == sorted([client, server])
            assert page.console_errors == [] and page.page_errors == []
            assert all(url.startswith(base + "/") for url in page.requests), page.requests  # nothing external
            shot = tmp_path / "api-page.png"
            page.screenshot(shot)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, ARTIFACTS / "api-page.png")  # for the issue note
        assert shot.stat().st_size > 10_000
    finally:
        docker("rm", "-f", server, client, check=False)
        docker("network", "rm", network, check=False)
    agent.stop()


def _guarded_agent(tracer, containers, tmp_path: Path) -> tuple[Any, str, str, str]:
    """An agent whose API needs a token, watching one container that ran; (agent, base, token, name)."""
    token = "e" * 40
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    name = unique("tok")
    agent = tracer("-c", name, "--api", f"127.0.0.1:{port}", "--api-token-file", str(token_file),
                   "--metrics", "off", command="run")
    assert containers.run(name, "sh", "-c", ":").returncode == 0
    return agent, f"http://127.0.0.1:{port}", token, name


def test_a_token_guards_a_live_agent(tracer, containers, tmp_path):
    agent, base, token, name = _guarded_agent(tracer, containers, tmp_path)
    status, body = _get(f"{base}/api/v1/containers")
    assert status == 401 and "Bearer" in body["detail"]
    assert _get(f"{base}/api/v1/containers", headers={"Authorization": "Bearer " + "f" * 40})[0] == 401
    listed = _ok(f"{base}/api/v1/containers", headers={"Authorization": f"Bearer {token}"})
    assert [c["name"] for c in listed] == [name]
    agent.stop()


def test_the_page_asks_for_the_token_once_then_sends_it(tracer, containers, tmp_path):
    why = chromium_missing()
    if why:
        pytest.skip(why)
    agent, base, token, name = _guarded_agent(tracer, containers, tmp_path)
    with open_page(f"{base}/") as page:
        page.wait_for("#token-form:not([hidden])")
        assert page.count("#live[hidden]") == 1
        page.fill("#token", token)
        page.click("#token-form button")
        page.wait_for(f'#containers tbody tr[data-id="{containers.full_id(name)}"]')
        assert page.count("#token-form[hidden]") == 1 and page.page_errors == []
        assert page.texts("#containers tbody td:first-child") == [name]
    agent.stop()


@pytest.mark.parametrize("args, message", [
    (["--api", "0.0.0.0:8527"], "--api 0.0.0.0:8527 is reachable from other machines: give a token with "
                                "--api-token-file FILE (or EUNOMIA_API_TOKEN), or serve on 127.0.0.1"),
    (["--api", "8527"], "--api '8527': give HOST:PORT, e.g. 127.0.0.1:8527; or --api on for 127.0.0.1:8527"),
    (["--api-token-file", "/nonexistent"], "--api-token-file is the API's: give --api HOST:PORT (or --api on) too"),
])
def test_bad_api_options_are_one_line_and_exit_2(args, message):
    env = {k: v for k, v in os.environ.items() if k != "EUNOMIA_API_TOKEN"}
    done = subprocess.run([EUNOMIA, "run", *args, "-T", "1"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and done.stderr.strip() == f"eunomia: error: {message}", done.stderr


def _put_tracker(base: str, name: str, running: bool) -> list[dict[str, Any]]:
    request = urllib.request.Request(f"{base}/api/v1/trackers/{name}", method="PUT",
                                     data=json.dumps({"running": running}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=90) as response:  # loopback only
        return json.loads(response.read())


def _programs() -> int:
    """BPF programs loaded on this machine (the file tracker's handlers are tail-called: no link of their own)."""
    done = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=60, check=True)
    return len(json.loads(done.stdout or "[]"))


def _programs_become(count: int, seconds: float = 10.0) -> int:
    """The kernel frees a closed object's programs after a grace period (about a second here)."""
    deadline = time.monotonic() + seconds
    while (now := _programs()) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    return now


def test_starting_and_stopping_a_tracker_changes_what_is_traced(tracer, containers):
    name, port = unique("retrack"), free_port()
    base = f"http://127.0.0.1:{port}"
    programs_before = _programs()
    agent = tracer("-c", name, "--api", f"127.0.0.1:{port}", "--metrics", "off", "-t", "exec", "--events",
                   command="run")
    assert containers.run(name, "sleep", "600", detach=True).returncode == 0
    with_exec = _programs()

    def step(mark: str) -> None:  # a file opened and a program run, each named for the step
        done = docker("exec", name, "sh", "-c", f"echo {mark} > /tmp/{mark}; /bin/true {mark}")
        assert done.returncode == 0

    step("before")
    running = [t["name"] for t in _put_tracker(base, "file", True) if t["running"]]
    assert running == ["exec", "file"]
    assert _programs() > with_exec               # the file tracker's programs are loaded
    step("during")
    counts = _ok(f"{base}/api/v1/containers/{name}")
    files = {f["path"]: f for f in counts["files"]}
    assert files["/tmp/during"]["bytes_written"] == 7 and "/tmp/before" not in files
    running = [t["name"] for t in _put_tracker(base, "file", False) if t["running"]]
    assert running == ["exec"]
    assert _programs_become(with_exec) == with_exec   # and unloaded again
    step("after")
    after = _ok(f"{base}/api/v1/containers/{name}")
    events, summary = agent.stop()
    assert _programs_become(programs_before) == programs_before

    mine = [e for e in events if e.get("container", {}).get("name") == name]
    # (runc's `docker exec` set-up opens files under /proc too: not the steps')
    opened = [e["file"]["path"] for e in mine if e["type"] == "open" and e["file"]["path"].startswith("/tmp/")]
    assert opened == ["/tmp/during"]             # only while the file tracker ran
    programs = [e["process"]["args"] for e in mine if e["type"] == "exec" and e["process"]["name"] == "true"]
    # the exec tracker ran throughout, in three sessions: each program exactly once
    assert programs == [["/bin/true", "before"], ["/bin/true", "during"], ["/bin/true", "after"]]
    assert after["counts"]["process_starts"] >= 7   # sleep, and sh + true in each of the three steps
    assert summary["trackers"]["exec"]["received"]["exec"] >= 7 and summary["lost"] == 0
    assert "eunomia: now tracing with exec, file" in agent.stderr


FILES = "echo hello > /tmp/a; cp /tmp/a /tmp/b; mv /tmp/b /tmp/c; cat /tmp/c; rm /tmp/a; ls /tmp"


def _post(url: str, body: Any) -> tuple[int, Any]:
    return _get(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


def test_a_recording_started_over_the_api_yields_a_profile_that_advise_verify_accepts(tracer, tmp_path):
    name, port = unique("apirec"), free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp_path / "data"
    agent = tracer("-c", name, "--api", f"127.0.0.1:{port}", "--metrics", "off", "--data-dir", str(data),
                   command="run")   # the default trackers: no syscall tracker
    assert _post(f"{base}/api/v1/recordings", {"container": "../etc", "seconds": 5})[0] == 422
    assert _post(f"{base}/api/v1/recordings", {"container": name, "seconds": 0})[0] == 422
    status, info = _post(f"{base}/api/v1/recordings", {"container": name, "seconds": 6})
    assert status == 201, info
    assert (info["container"], info["state"], info["trackers_started"]) == (name, "recording", ["syscall"])
    assert Path(info["directory"]).parent == data / "recordings"
    assert {t["name"]: t["running"] for t in _ok(f"{base}/api/v1/trackers")}["syscall"] is True
    rid = info["id"]
    assert _get(f"{base}/api/v1/recordings/{rid}/seccomp")[0] == 409   # not finished yet

    run = ["docker", "run", "--rm", "--name", name, "eunomia-test/busybox", "sh", "-c", FILES]
    done = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["hello", "c"], done.stderr
    deadline = time.monotonic() + 30
    while (info := _ok(f"{base}/api/v1/recordings/{rid}"))["state"] == "recording":
        assert time.monotonic() < deadline, info
        time.sleep(0.3)
    assert info["state"] == "done" and info["events"] > 0, info
    assert [r["id"] for r in _ok(f"{base}/api/v1/recordings")] == [rid]
    # the trackers it started are stopped again
    assert {t["name"]: t["running"] for t in _ok(f"{base}/api/v1/trackers")}["syscall"] is False

    report = _ok(f"{base}/api/v1/recordings/{rid}/report.json")
    assert report["container"]["name"] == name and report["complete"] is True
    profile = _ok(f"{base}/api/v1/recordings/{rid}/seccomp")
    (allow, *_) = profile["syscalls"]
    assert allow["action"] == "SCMP_ACT_ALLOW" and profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert {"openat", "write", "execve", "getdents64"} <= set(allow["names"])
    assert not {"mkdir", "mkdirat", "mount"} & set(allow["names"])
    caps = _ok(f"{base}/api/v1/recordings/{rid}/capabilities")
    assert caps["docker"] == ["--cap-drop", "ALL"] and caps["add"] == []
    assert _get(f"{base}/api/v1/recordings/20260101T000000Z-nosuch")[0] == 404
    assert _get(f"{base}/api/v1/recordings/..%2F..%2Fetc/report.json")[0] in (404, 422)

    proven = subprocess.run([EUNOMIA, "advise", "verify", info["directory"], "-c", name, "--", *run],
                            capture_output=True, text=True, timeout=300)
    assert proven.returncode == 0, proven.stderr
    assert "verified: exit code" in proven.stderr
    agent.stop()
