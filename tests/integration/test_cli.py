"""The CLI's contract with real BPF and Docker: errors, output formats, doctor."""

from __future__ import annotations

import csv
import io
import os
import subprocess

from .conftest import EUNOMIA, events_of, unique


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([EUNOMIA, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_unknown_container_is_a_usage_error():
    result = run("trace", "exec", "-c", "no-such-container-xyz", "-T", "1")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("eunomia: error: no container named or with id 'no-such-container-xyz'")
    assert "Traceback" not in result.stderr


def test_unknown_tracker_is_a_usage_error():
    result = run("trace", "nosuchtracker", "-T", "1")
    assert result.returncode == 2
    assert "unknown tracker 'nosuchtracker'" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_root_fails_with_one_line():
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                             EUNOMIA, "trace", "exec", "-T", "1"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "eunomia: error: eunomia trace needs root to load BPF programs: run it with sudo"


def test_docker_unreachable_still_traces_with_ids(tracer, containers):
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    t = tracer("exec", env=env)
    assert "Docker is not reachable" in t.stderr
    name = unique()
    containers.run(name, "/bin/echo", "no-metadata")
    cid = containers.full_id(name)
    events, _ = t.stop()
    echo = [e for e in events_of(events, container_id=cid, type="exec")
            if e["process"]["args"] == ["/bin/echo", "no-metadata"]]
    assert len(echo) == 1
    assert echo[0]["container"]["name"] is None
    assert echo[0]["container"]["runtime"] == "docker"  # from the cgroup layout


def test_csv_output_to_file_neutralises_formulas(tmp_path, containers):
    out = tmp_path / "events.csv"
    proc = subprocess.Popen([EUNOMIA, "trace", "exec", "-T", "6", "-f", "csv", "-o", str(out)],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    while "eunomia: tracing" not in proc.stderr.readline():
        assert proc.poll() is None, "eunomia exited early"
    name = unique()
    # comm is the basename of the executed file: a formula, as hostile as it gets
    containers.run(name, "sh", "-c", "ln -s /bin/busybox '/tmp/=HYPERLINK(1)' && cd /tmp && "
                                     "'./=HYPERLINK(1)' echo '@SUM(A1)' >/dev/null")
    cid = containers.full_id(name)
    proc.wait(timeout=60)
    assert proc.returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    mine = [r for r in rows if r["container.id"] == cid and r["type"] == "exec"]
    assert mine and all(r["container.name"] == name for r in mine)
    link = [r for r in mine if r["process.args"].startswith("./=HYPERLINK(1)")]
    assert len(link) == 1
    assert link[0]["process.name"] == "'=HYPERLINK(1)"       # neutralised
    assert link[0]["process.args"] == "./=HYPERLINK(1) echo @SUM(A1)"  # does not start with a formula char
    assert link[0]["process.working_directory"] == "/tmp"


def test_doctor_reports_features_and_succeeds():
    result = run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    kprobe = next(line for line in lines if "│ kprobe" in line)
    assert " no " in kprobe  # kprobes are absent on these kernels
    raw = next(line for line in lines if "│ raw_tracepoint" in line)
    assert " yes " in raw
    assert "docker: reachable" in result.stdout
    assert "tracing can work" in result.stdout


def test_default_trace_runs_every_streaming_tracker(tracer):
    t = tracer()
    _, summary = t.stop()
    assert set(summary["trackers"]) == {"exec", "file", "net", "signal", "cap"}  # syscall only when asked


def test_trackers_run_together_and_each_reports(tracer, containers):
    t = tracer("exec", "file", "syscall")
    name = unique()
    containers.run(name, "sh", "-c", "echo hi > /tmp/together")
    cid = containers.full_id(name)
    events, summary = t.stop()
    assert set(summary["trackers"]) == {"exec", "file", "syscall"}
    mine = events_of(events, container_id=cid)
    assert {"exec", "open", "syscalls"} <= {e["type"] for e in mine}
    assert [e for e in mine if e["type"] == "open" and e["file"]["path"] == "/tmp/together"]
