"""`eunomia record` against real containers: per-container reports on disk."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest

from .conftest import EUNOMIA, IMAGE, docker, unique

pytestmark = pytest.mark.integration

APP_SCRIPT = """
mkdir -p /work && cd /work
echo hello > data
cat data > copy
mv copy moved
chmod 600 moved
chown 1000:1000 moved
rm moved
sleep 30 & pid=$!
c=; until [ "$c" = sleep ]; do read c < /proc/$pid/comm; done
kill -TERM $pid
wait
sleep 1.5
exit 7
"""


def validate(document: dict[str, Any], name: str) -> None:
    schema = json.loads(resources.files("eunomia.recording.schema").joinpath(f"{name}.schema.json").read_text())
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())


def load_recording(directory: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """index.json and {container name: report.json}, every document schema-checked."""
    index = json.loads((directory / "index.json").read_text())
    validate(index, "index")
    reports = {}
    for entry in index["containers"]:
        report = json.loads((directory / entry["folder"] / "report.json").read_text())
        validate(report, "report")
        reports[entry["name"]] = report
    return index, reports


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    chosen = {"net": unique("recnet"), "web": unique("web"), "client": unique("client"), "app": unique("app")}
    yield chosen
    docker("rm", "-f", chosen["web"], chosen["client"], chosen["app"], check=False)
    docker("network", "rm", chosen["net"], check=False)


def test_record_a_command_and_two_talking_containers(tmp_path: Path, names: dict[str, str]) -> None:
    docker("network", "create", names["net"])
    net, web, client, app = names["net"], names["web"], names["client"], names["app"]
    script = " && ".join([
        shlex.join(["docker", "run", "-d", "--network", net, "--name", web, IMAGE, "sh", "-c",
                    "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www"]),
        shlex.join(["docker", "run", "-d", "--network", net, "--name", client, IMAGE, "sh", "-c",
                    f"while true; do wget -q -O /dev/null http://{web}:8080/; sleep 0.2; done"]),
        "sleep 1",
        shlex.join(["docker", "run", "--rm", "--network", net, "--name", app, IMAGE, "sh", "-c", APP_SCRIPT]),
    ])
    out = tmp_path / "rec"
    done = subprocess.run([EUNOMIA, "record", "-c", web, "-c", client, "-c", app, "-d", str(out),
                           "--", "sh", "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 7, done.stderr  # the command's exit code is eunomia's
    index, reports = load_recording(out)

    assert sorted(c["name"] for c in index["containers"]) == sorted([web, client, app])  # each once
    assert index["complete"] is True and index["command"]["exit_code"] == 7
    # COMMAND's output was passed on and kept: `docker run -d` printed the two ids
    ids = [docker("inspect", "--format", "{{.Id}}", n).stdout.strip() for n in (web, client)]
    assert done.stdout.split() == ids and (out / index["command"]["stdout"]).read_text().split() == ids
    assert index["stats"]["lost"] == 0

    # every streamed event is in exactly one events.jsonl (no signal crossed containers here)
    streamed = sum(n for tracker, s in index["stats"]["trackers"].items()
                   for kind, n in s["received"].items() if not (tracker == "exec" and kind == "fork"))
    lines = sum(len(jsonl(out / c["folder"] / "events.jsonl")) for c in index["containers"])
    assert lines == index["stats"]["events"] == streamed

    # the command's container, from its first exec
    report = reports[app]
    assert report["container"]["image"] == IMAGE and report["container"]["exit_code"] == 7
    assert report["container"]["exited"] is not None and report["complete"] is True
    (shell,) = [p for p in report["processes"] if p["args"] == ["sh", "-c", APP_SCRIPT] and p["exec"]]
    assert shell["exit_code"] == 7
    executed = [p["args"] for p in report["processes"] if p["parent_pid"] == shell["pid"] and p["exec"]]
    # the background sleep is killed once it runs sleep (the shell waits for its comm: builtins only)
    assert executed == [["cat", "data"], ["sleep", "30"], ["sleep", "1.5"]]
    children = {p["name"]: p for p in report["processes"] if p["parent_pid"] == shell["pid"] and not p["exec"]}
    # busybox runs these applets in a forked child, without exec: the child keeps sh's argv
    for applet in ("mkdir", "mv", "chmod", "chown", "rm"):
        assert children[applet]["exec"] is False and children[applet]["exit_code"] == 0
    files = {f["path"]: f for f in report["files"]}
    assert files["/work/data"]["operations"]["open_write"] == 1 and files["/work/data"]["operations"]["create"] == 1
    assert files["/work/data"]["bytes_written"] == 6 and files["/work/data"]["bytes_read"] == 6
    assert files["/work/copy"]["operations"]["rename"] == 1
    assert files["/work/moved"]["operations"].keys() >= {"rename_target", "chmod", "chown", "delete"}
    # runc read /proc/<pid>/mountinfo while it set the container up: not the workload's files
    assert not [path for path in files if path and path.endswith("/mountinfo")], sorted(map(str, files))
    page_file = tmp_path / "report.html"
    rendered = subprocess.run([EUNOMIA, "report", str(out), "--html", str(page_file)], capture_output=True,
                              text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    page = page_file.read_text()
    assert "Files by bytes" in page and "/work/data" in page and "mountinfo" not in page  # the workload's files
    terms = [s for s in report["signals"] if s["signal"] == "SIGTERM"]
    (killed,) = [p for p in report["processes"] if p["exit_signal"] == "SIGTERM"]  # `sleep 30 &`
    assert killed["args"] == ["sleep", "30"] and killed["exec"] is True
    assert killed["exit_code"] == 143 and killed["parent_pid"] == shell["pid"]
    assert [(s["direction"], s["sender"]["pid"], s["target"]["pid"], s["target_container"], s["origin"])
            for s in terms] == [("sent", shell["pid"], killed["pid"], app, "kill")]
    assert report["capabilities"]["CAP_CHOWN"]["granted"] >= 1
    assert report["syscalls"].get("renameat2", 0) + report["syscalls"].get("rename", 0) >= 1
    assert report["syscalls"].get("chown", 0) + report["syscalls"].get("fchownat", 0) >= 1
    assert "mount" not in report["syscalls"] and "pivot_root" not in report["syscalls"]  # runc's set-up
    assert not any(p["name"].startswith("runc:[") for p in report["processes"] if p["name"])

    # the two talking containers, each named as the other's peer
    outbound = [c for c in reports[client]["network"]["connections"]
                if c["direction"] == "outbound" and c["transport"] == "tcp" and c["peer_container"] == web]
    assert len(outbound) == 1 and outbound[0]["destination"]["port"] == 8080
    assert outbound[0]["count"] >= 2 and outbound[0]["bytes_received"] > 0
    inbound = [c for c in reports[web]["network"]["connections"]
               if c["direction"] == "inbound" and c["peer_container"] == client]
    assert len(inbound) == 1 and inbound[0]["destination"]["port"] == 8080 and inbound[0]["count"] >= 2
    assert {"transport": "tcp", "ip": "0.0.0.0", "port": 8080} in reports[web]["network"]["listening"] or \
        {"transport": "tcp", "ip": "::", "port": 8080} in reports[web]["network"]["listening"]
    assert ["wget", "-q", "-O", "/dev/null", f"http://{web}:8080/"] in [p["args"] for p in reports[client]["processes"]]

    # the CSV tables say the same
    with open(out / f"{app}-{report['container']['id'][:12]}" / "files.csv", newline="") as table:
        rows = {row["path"]: row for row in csv.DictReader(table)}
    assert rows["/work/data"]["bytes_written"] == "6" and rows["/work/moved"]["chown"] == "1"


def _start_recording(out: Path, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([EUNOMIA, "record", "-d", str(out), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (out / "index.json").exists() and not any(out.glob("*/events.jsonl")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    return proc


def test_sigterm_mid_recording_leaves_complete_valid_reports(tmp_path: Path, names: dict[str, str]) -> None:
    app = names["app"]
    docker("run", "-d", "--name", app, IMAGE, "sh", "-c",
           "while true; do cat /etc/passwd > /tmp/p; sleep 0.1; done")
    out = tmp_path / "rec"
    proc = _start_recording(out, "-c", app)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    index, reports = load_recording(out)
    assert index["complete"] is True and reports[app]["complete"] is True
    events = jsonl(out / index["containers"][0]["folder"] / "events.jsonl")
    assert len(events) == index["containers"][0]["events"] > 0
    assert any(e["type"] == "exec" and e["process"]["args"] == ["cat", "/etc/passwd"] for e in events)
    assert reports[app]["files"] and "/tmp/p" in {f["path"] for f in reports[app]["files"]}


def test_kill_9_leaves_jsonl_valid_up_to_the_last_line_and_a_checkpoint(tmp_path: Path,
                                                                        names: dict[str, str]) -> None:
    app = names["app"]
    docker("run", "-d", "--name", app, IMAGE, "sh", "-c", "while true; do ls /etc > /dev/null; done")
    out = tmp_path / "rec"
    proc = _start_recording(out, "-c", app)
    deadline = time.monotonic() + 30
    while not any(out.glob("*/report.json")):  # the first checkpoint (every 5 s; index.json is there from the start)
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    index, reports = load_recording(out)  # the checkpoint: valid, not complete
    assert index["complete"] is False and reports[app]["complete"] is False
    data = (out / index["containers"][0]["folder"] / "events.jsonl").read_bytes()
    complete_lines = data[: data.rfind(b"\n") + 1].splitlines()
    assert len(complete_lines) > 10
    for line in complete_lines:
        json.loads(line)


def test_unwritable_directory_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([EUNOMIA, "record", "-d", "/proc/eunomia-test", "-T", "1"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("eunomia: error: cannot write /proc/eunomia-test") and "-d" in done.stderr
    assert "Traceback" not in done.stderr


def test_full_disk_is_reported_and_counted(tmp_path: Path, names: dict[str, str]) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        app = names["app"]
        docker("run", "-d", "--name", app, IMAGE, "sh", "-c", "while true; do ls /etc /bin > /dev/null; done")
        done = subprocess.run([EUNOMIA, "record", "-c", app, "-d", str(small / "rec"), "-T", "4"],
                              capture_output=True, text=True, timeout=90)
        assert done.returncode == 1, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("eunomia: error: cannot write ") and "No space left on device" in last
        assert "free some space or record elsewhere with -d" in last and "events not written" in last
        assert "Traceback" not in done.stderr
        for path in (small / "rec").glob("*/events.jsonl"):
            for line in path.read_bytes().splitlines():  # whole lines only
                json.loads(line)
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_command_not_found_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([EUNOMIA, "record", "-d", str(tmp_path / "r"), "--", "no-such-program-x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "command not found: 'no-such-program-x'" in done.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    assert os.path.exists(EUNOMIA)
