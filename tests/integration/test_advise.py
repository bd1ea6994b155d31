"""Least privilege, proven: record a workload, advise, and run it again under
the advice in real Docker with enforcement on."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from eunomia.advise.runtime import RUNTIME_AFTER_FILTER

from .conftest import EUNOMIA, IMAGE, docker, unique

pytestmark = pytest.mark.integration

FILES = "echo hello > /tmp/a; cp /tmp/a /tmp/b; mv /tmp/b /tmp/c; cat /tmp/c; rm /tmp/a; ls /tmp"
PIPELINE = "seq 1 200 | grep 7 | sort -r | head -5 | tr 7 x | wc -l"
PRIVILEGED = "touch /tmp/f && chown 1000:1000 /tmp/f && httpd -p 80 -h /tmp && echo ok && killall httpd"
# without this sysctl, Docker lets containers bind any port (ip_unprivileged_port_start=0)
LOW_PORTS_PRIVILEGED = ["--sysctl", "net.ipv4.ip_unprivileged_port_start=1024"]
STRACE_MOUNTS = ["-v", "/usr/bin/strace:/usr/bin/strace:ro", "-v", "/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro",
                 "-v", "/lib64:/lib64:ro"]


def eunomia(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EUNOMIA, *args], capture_output=True, text=True, timeout=timeout)


def record(out: Path, name: str, run: list[str]) -> subprocess.CompletedProcess[str]:
    done = eunomia("record", "-c", name, "-d", str(out), "--", *run)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def advise(out: Path, name: str) -> tuple[dict[str, Any], list[str]]:
    """(the OCI profile, the advised capabilities)."""
    profile = eunomia("advise", "seccomp", str(out), "-c", name)
    assert profile.returncode == 0, profile.stderr
    caps = eunomia("advise", "caps", str(out), "-c", name, "-f", "json")
    assert caps.returncode == 0, caps.stderr
    return json.loads(profile.stdout), json.loads(caps.stdout)["add"]


def verify(out: Path, name: str, run: list[str], *flags: str) -> subprocess.CompletedProcess[str]:
    return eunomia("advise", "verify", str(out), "-c", name, *flags, "--", *run)


def strace_names(tmp_path: Path, docker_flags: list[str], script: str) -> set[str]:
    """Ground truth: the syscalls of the same workload under strace -f, from its exec on."""
    name = unique("strace")
    out = tmp_path / name
    out.mkdir()
    try:
        done = docker("run", "--rm", "--name", name, *docker_flags, *STRACE_MOUNTS, "-v", f"{out}:/out", IMAGE,
                      "/usr/bin/strace", "-f", "-qq", "-o", "/out/trace", "sh", "-c", script, check=False)
    finally:
        docker("rm", "-f", name, check=False)
    assert (out / "trace").exists(), done.stderr
    names = set()
    for line in (out / "trace").read_text(errors="replace").splitlines():
        match = re.match(r"^\d+\s+([a-z_0-9]+)\(", line)
        if match:
            names.add(match.group(1))
    return names


def report_of(rec: Path) -> dict[str, Any]:
    index = json.loads((rec / "index.json").read_text())
    return json.loads((rec / index["containers"][0]["folder"] / "report.json").read_text())


def measured_runtime(rec: Path) -> set[str]:
    """What the recording itself saw runc do after the container's filter (advise adds it)."""
    return set(report_of(rec)["runtime_syscalls"])


def allowed(profile: dict[str, Any]) -> set[str]:
    rule, *others = profile["syscalls"]
    assert rule["action"] == "SCMP_ACT_ALLOW" and profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert all(r["action"] == "SCMP_ACT_ERRNO" for r in others)  # clone3's ENOSYS
    return set(rule["names"])


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    chosen = {k: unique(k) for k in ("files", "pipe", "priv", "srv", "cli", "net", "bg")}
    yield chosen
    docker("rm", "-f", *(v for k, v in chosen.items() if k != "net"), check=False)
    docker("network", "rm", chosen["net"], check=False)


def test_file_workload_profile_is_proven_and_mkdir_is_refused(tmp_path: Path, names: dict[str, str]) -> None:
    name = names["files"]
    run = ["docker", "run", "--rm", "--name", name, IMAGE, "sh", "-c", FILES]
    rec = tmp_path / "rec"
    done = record(rec, name, run)
    assert done.returncode == 0 and done.stdout.split() == ["hello", "c"], done.stderr
    profile, caps = advise(rec, name)
    names_allowed = allowed(profile)
    assert {"openat", "write", "read", "renameat2" if "renameat2" in names_allowed else "rename",
            "unlink" if "unlink" in names_allowed else "unlinkat", "getdents64", "execve"} <= names_allowed
    assert not {"mkdir", "mkdirat", "mount", "pivot_root", "sethostname"} & names_allowed
    # nothing the workload did not do, but what runc needs after its filter (as documented or as measured)
    truth = strace_names(tmp_path, [], FILES)
    assert names_allowed - truth <= RUNTIME_AFTER_FILTER | measured_runtime(rec), names_allowed - truth
    assert caps == []

    proven = verify(rec, name, run, "--stdout")
    assert proven.returncode == 0, proven.stderr
    assert "verified: exit code and output as recorded (0)" in proven.stderr

    # a syscall the recording never saw fails under the profile, and is named
    more = ["docker", "run", "--rm", "--name", name, IMAGE, "sh", "-c", FILES + "; mkdir /tmp/x"]
    refused = verify(rec, name, more)
    assert refused.returncode == 1
    assert "Operation not permitted" in refused.stderr  # busybox mkdir's own message
    assert re.search(r"denied by the profile: mkdir(at)? \(1 call returned EPERM\)", refused.stderr), refused.stderr


def test_pipeline_of_several_programs(tmp_path: Path, names: dict[str, str]) -> None:
    name = names["pipe"]
    run = ["docker", "run", "--rm", "--name", name, IMAGE, "sh", "-c", PIPELINE]
    rec = tmp_path / "rec"
    done = record(rec, name, run)
    assert done.returncode == 0 and done.stdout.strip() == "5", done.stderr
    profile, caps = advise(rec, name)
    assert {"pipe2" if "pipe2" in allowed(profile) else "pipe", "wait4", "clone" if "clone" in allowed(profile)
            else "fork"} <= allowed(profile)
    assert allowed(profile) - strace_names(tmp_path, [], PIPELINE) <= RUNTIME_AFTER_FILTER | measured_runtime(rec)
    assert caps == []
    proven = verify(rec, name, run, "--stdout")
    assert proven.returncode == 0, proven.stderr


def test_chown_and_low_port_need_exactly_two_capabilities(tmp_path: Path, names: dict[str, str]) -> None:
    name = names["priv"]
    run = ["docker", "run", "--rm", *LOW_PORTS_PRIVILEGED, "--name", name, IMAGE, "sh", "-c", PRIVILEGED]
    rec = tmp_path / "rec"
    done = record(rec, name, run)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    profile, caps = advise(rec, name)
    assert caps == ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
    assert {"bind", "listen", "fchownat" if "fchownat" in allowed(profile) else "chown"} <= allowed(profile)
    assert allowed(profile) - strace_names(tmp_path, LOW_PORTS_PRIVILEGED, PRIVILEGED) <= RUNTIME_AFTER_FILTER

    docker_caps = eunomia("advise", "caps", str(rec), "-c", name)
    assert docker_caps.stdout.strip() == "--cap-drop ALL --cap-add CAP_CHOWN --cap-add CAP_NET_BIND_SERVICE"
    proven = verify(rec, name, run, "--stdout")
    assert proven.returncode == 0, proven.stderr

    # each advised capability is needed: without it the workload fails, and it is named
    profile_file = tmp_path / "profile.json"
    profile_file.write_text(json.dumps(profile))
    for dropped in caps:
        kept = [flag for cap in caps if cap != dropped for flag in ("--cap-add", cap)]
        without = docker("run", "--rm", "--security-opt", f"seccomp={profile_file}", "--cap-drop", "ALL", *kept,
                         *LOW_PORTS_PRIVILEGED, IMAGE, "sh", "-c", PRIVILEGED, check=False)
        assert without.returncode != 0 and "ok" not in without.stdout, dropped


def test_http_server_and_client_containers(tmp_path: Path, names: dict[str, str]) -> None:
    net, srv, cli = names["net"], names["srv"], names["cli"]
    docker("network", "create", net)
    serve = "mkdir -p /www && echo hi > /www/index.html && timeout -s INT 3 httpd -f -p 8080 -h /www; echo $?"
    fetch = f"until wget -q -O - http://{srv}:8080/; do sleep 0.1; done"
    srv_run = ["docker", "run", "--rm", "--network", net, "--name", srv, IMAGE, "sh", "-c", serve]
    cli_run = ["docker", "run", "--rm", "--network", net, "--name", cli, IMAGE, "sh", "-c", fetch]
    rec = tmp_path / "rec"
    both = f"{shlex.join(srv_run)} & sleep 0.3; {shlex.join(cli_run)}; wait"
    done = eunomia("record", "-c", srv, "-c", cli, "-d", str(rec), "--", "sh", "-c", both)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["hi", "130"] or done.stdout.split() == ["hi", "143"], done.stdout
    srv_profile, srv_caps = advise(rec, srv)
    cli_profile, cli_caps = advise(rec, cli)
    assert {"bind", "listen", "accept" if "accept" in allowed(srv_profile) else "accept4"} <= allowed(srv_profile)
    assert "connect" in allowed(cli_profile) and "listen" not in allowed(cli_profile)
    assert srv_caps == [] and cli_caps == []

    # the server under its advice, serving an unrestricted client
    fetched: dict[str, str] = {}
    client = threading.Thread(target=lambda: fetched.update(out=docker(
        "run", "--rm", "--network", net, "--name", names["bg"], IMAGE, "sh", "-c",
        f"i=0; until wget -q -O - http://{srv}:8080/; do i=$((i+1)); [ $i -gt 50 ] && exit 1; sleep 0.1; done",
        check=False, timeout=60).stdout))
    client.start()
    proven = verify(rec, srv, srv_run)
    client.join(timeout=60)
    assert proven.returncode == 0, proven.stderr
    assert fetched.get("out", "").strip() == "hi"

    # the client under its advice, against an unrestricted server of the same name
    docker("run", "-d", "--network", net, "--name", srv, IMAGE, "sh", "-c", serve)
    proven = verify(rec, cli, cli_run)
    assert proven.returncode == 0, proven.stderr
    assert proven.stdout.strip() == "hi"  # what it printed in the recording


def test_runtime_set_is_what_runc_does(tmp_path: Path, names: dict[str, str]) -> None:
    """The documented runtime set covers what runc does after its filter here."""
    name = names["files"]
    rec = tmp_path / "rec"
    done = record(rec, name, ["docker", "run", "--rm", "--name", name, IMAGE, "true"])
    assert done.returncode == 0, done.stderr
    measured = measured_runtime(rec)
    assert "execve" in measured
    assert measured <= RUNTIME_AFTER_FILTER, f"runc needs more than advise/runtime.py says: {measured - RUNTIME_AFTER_FILTER}"
