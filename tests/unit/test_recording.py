"""Recordings without a kernel: folding events into reports, writing files."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from eunomia.recording.builder import ContainerReport
from eunomia.recording.files import EventLog, RecordingWriteError, folder_name, replace_file
from eunomia.recording.tables import render_tables
from eunomia.recording.writer import RecordingWriter, RunInfo

WEB = {"id": "a" * 64, "name": "web", "image": "eunomia-test/busybox", "runtime": "docker", "pod": None,
       "namespace": None}
CLIENT = {"id": "b" * 64, "name": "client", "image": "eunomia-test/busybox", "runtime": "docker", "pod": None,
          "namespace": None}
HOST = {"id": "host", "name": None, "image": None, "runtime": None, "pod": None, "namespace": None}


def schema(name: str) -> dict[str, Any]:
    text = resources.files("eunomia.recording.schema").joinpath(f"{name}.schema.json").read_text()
    return json.loads(text)


def validate(document: dict[str, Any], name: str) -> None:
    jsonschema.validate(document, schema(name), format_checker=jsonschema.FormatChecker())


def ev(kind: str, container: dict[str, Any], pid: int, time: str = "2026-11-28T12:00:00.000000Z",
       name: str = "sh", **fields: Any) -> dict[str, Any]:
    process = {"pid": pid, "tid": pid, "parent": {"pid": fields.pop("ppid", 1)}, "name": name,
               "executable": fields.pop("executable", "/bin/busybox"), "args": fields.pop("args", [name]),
               "working_directory": "/"}
    process.update(fields.pop("process", {}))
    return {"time": time, "type": kind, "container": container, "process": process,
            "user": {"id": 0}, "group": {"id": 0}, **fields}


def test_processes_fork_exec_exit() -> None:
    report = ContainerReport(WEB["id"])
    report.add(ev("exec", WEB, 10, args=["sh", "-c", "cat /etc/hosts"], result=0, ppid=5))
    report.add(ev("fork", WEB, 10, "2026-11-28T12:00:00.100000Z", process={"child": {"pid": 11}}))
    report.add(ev("exec", WEB, 11, "2026-11-28T12:00:00.200000Z", name="cat", executable="/bin/cat",
                  args=["cat", "/etc/hosts"], result=0, ppid=10))
    report.add(ev("exec", WEB, 12, name="nope", args=["nope"], result="ENOENT", ppid=10))  # failed: no process
    report.add(ev("exit", WEB, 11, "2026-11-28T12:00:00.300000Z", name="cat",
                  process={"exit_code": 0, "duration_ms": 200}))
    report.add(ev("exit", WEB, 10, "2026-11-28T12:00:01.000000Z", process={"exit_code": 3}))
    # a process running before the recording: seen only at its exit
    report.add(ev("exit", WEB, 7, "2026-11-28T12:00:02.000000Z", name="sleep",
                  process={"exit_code": 0, "duration_ms": 1500}))
    procs = {p["pid"]: p for p in report.processes.entries}
    assert set(procs) == {7, 10, 11}
    assert procs[11]["parent_pid"] == 10 and procs[11]["args"] == ["cat", "/etc/hosts"]
    assert procs[11]["start"] == "2026-11-28T12:00:00.100000Z"  # the fork
    assert procs[11]["end"] == "2026-11-28T12:00:00.300000Z" and procs[11]["exec"] is True
    assert procs[10]["exit_code"] == 3 and procs[10]["parent_pid"] == 5
    assert procs[7]["start"] == "2026-11-28T12:00:00.500000Z" and procs[7]["exec"] is False


def test_second_exec_of_a_pid_starts_a_new_entry() -> None:
    report = ContainerReport(WEB["id"])
    report.add(ev("exec", WEB, 10, "2026-11-28T12:00:00.000000Z", args=["sh", "-c", "exec sleep 1"], result=0))
    report.add(ev("exec", WEB, 10, "2026-11-28T12:00:00.100000Z", name="sleep", args=["sleep", "1"], result=0))
    first, second = report.processes.entries
    assert first["end"] == "2026-11-28T12:00:00.100000Z" and first["exit_code"] is None
    assert second["args"] == ["sleep", "1"] and second["end"] is None


def test_files_operations_failures_and_bytes() -> None:
    report = ContainerReport(WEB["id"])
    report.add(ev("open", WEB, 10, file={"path": "/tmp/f", "flags": ["write", "create", "truncate"]}, result=3))
    report.add(ev("open", WEB, 10, file={"path": "/tmp/f", "flags": ["read"]}, result=3))
    report.add(ev("open", WEB, 10, file={"path": "/nope", "flags": ["read"]}, result="ENOENT"))
    report.add(ev("rename", WEB, 10, file={"path": "/tmp/f", "target_path": "/tmp/g"}, result=0))
    report.add(ev("unlink", WEB, 10, file={"path": "/tmp/g"}, result=0))
    report.add(ev("mkdir", WEB, 10, file={"path": "/etc/x"}, result="EACCES"))
    report.set_aggregates([{"type": "file_bytes", "container": WEB, "file": {"path": "/tmp/f"},
                            "bytes_read": 5, "bytes_written": 12, "reads": 2, "writes": 1, "opens": 4},
                           {"type": "file_bytes", "container": WEB, "file": {"path": None},
                            "bytes_read": 1, "bytes_written": 0, "reads": 1, "writes": 0, "opens": 0}])
    doc = report.to_dict(dict(WEB, labels={}, started=None, exited=None, exit_code=None),
                         {"start": None, "end": None}, {"events": 6, "unwritten": 0, "dropped": 0}, True)
    files = {f["path"]: f for f in doc["files"]}
    assert files["/tmp/f"]["operations"] == {"open_write": 1, "create": 1, "truncate": 1, "open_read": 1, "rename": 1}
    assert (files["/tmp/f"]["bytes_written"], files["/tmp/f"]["bytes_read"], files["/tmp/f"]["opens"]) == (12, 5, 4)
    assert files["/tmp/g"]["operations"] == {"rename_target": 1, "delete": 1}
    assert files["/nope"]["operations"] == {} and files["/nope"]["failed"] == {"open_read": {"ENOENT": 1}}
    assert files["/etc/x"]["failed"] == {"mkdir": {"EACCES": 1}}
    assert files[None]["bytes_read"] == 1  # a file open before the recording
    # aggregates are totals: a second reading replaces the first
    report.set_aggregates([])
    doc2 = report.to_dict(doc["container"], doc["window"], doc["stats"], True)
    assert {f["path"]: f for f in doc2["files"]}["/tmp/f"]["bytes_written"] == 0
    validate(doc, "report")


def test_network_connections_grouped_by_peer_with_bytes() -> None:
    report = ContainerReport(CLIENT["id"])
    net = {"transport": "tcp", "direction": "outbound", "type": "ipv4"}
    for port in (40000, 40001):
        report.add(ev("connect", CLIENT, 20, name="wget", result=0, network=net,
                      source={"ip": "172.18.0.3", "port": port, "container": "client"},
                      destination={"ip": "172.18.0.2", "port": 8080, "container": "web"}))
    report.add(ev("close", CLIENT, 20, name="wget", result=0,
                  network={**net, "bytes_sent": 70, "bytes_received": 300, "duration_ms": 3},
                  source={"ip": "172.18.0.3", "port": 40000, "container": "client"},
                  destination={"ip": "172.18.0.2", "port": 8080, "container": "web"}))
    report.add(ev("connect", CLIENT, 20, name="wget", result="ECONNREFUSED", network=net,
                  source={"ip": "172.18.0.3", "port": 40002, "container": "client"},
                  destination={"ip": "172.18.0.2", "port": 8080, "container": "web"}))
    report.add(ev("listen", CLIENT, 21, name="nc", result=0, network={"transport": "tcp", "type": "ipv4"},
                  source={"ip": "0.0.0.0", "port": 9000, "container": "client"}))
    report.add(ev("bind", CLIENT, 21, name="nc", result=0, network={"transport": "tcp", "type": "ipv4"},
                  source={"ip": "0.0.0.0", "port": 9000, "container": "client"}))  # listen says it
    report.set_aggregates([{"type": "udp_peers", "container": CLIENT,
                            "destination": {"ip": "172.18.0.2", "port": 5000, "container": "web"},
                            "bytes_sent": 72, "bytes_received": 0, "packets_sent": 1, "packets_received": 0}])
    doc = report.to_dict(dict(CLIENT, labels={}, started=None, exited=None, exit_code=None),
                         {"start": None, "end": None}, {"events": 5, "unwritten": 0, "dropped": 0}, False)
    tcp, udp = doc["network"]["connections"]
    assert tcp["peer_container"] == "web" and tcp["destination"] == {"ip": "172.18.0.2", "port": 8080, "container": "web"}
    assert (tcp["count"], tcp["failed"], tcp["bytes_sent"], tcp["bytes_received"]) == (2, {"ECONNREFUSED": 1}, 70, 300)
    assert tcp["source"]["port"] is None  # ephemeral ports are not kept
    assert udp["transport"] == "udp" and udp["peer_container"] == "web" and udp["bytes_sent"] == 72
    assert doc["network"]["listening"] == [{"transport": "tcp", "ip": "0.0.0.0", "port": 9000}]
    validate(doc, "report")


def test_signals_sent_and_received_and_runtime_setup_left_out() -> None:
    web = ContainerReport(WEB["id"])
    kill = ev("signal", HOST, 99, name="kill", result="delivered",
              signal={"name": "SIGTERM", "number": 15, "origin": "kill"},
              target={"process": {"pid": 10, "tid": 10, "name": "sh"}, "container": WEB})
    web.add(kill)
    web.add(ev("open", WEB, 10, name="runc:[2:INIT]", file={"path": "/proc/1/fd", "flags": ["read"]}, result=3))
    doc = web.to_dict(dict(WEB, labels={}, started=None, exited=None, exit_code=None),
                      {"start": None, "end": None}, {"events": 2, "unwritten": 0, "dropped": 0}, True)
    (signal,) = doc["signals"]
    assert signal["direction"] == "received" and signal["sender_container"] == "host"
    assert signal["signal"] == "SIGTERM" and signal["target"]["pid"] == 10 and signal["count"] == 1
    assert doc["files"] == [] and doc["stats"]["runtime_events"] == 1
    validate(doc, "report")


def test_folder_names_are_safe() -> None:
    assert folder_name("c" * 64, "web") == "web-cccccccccccc"
    assert folder_name("c" * 64, "../../etc/<x>") == "etc_x-cccccccccccc"
    assert folder_name("c" * 64, None) == "cccccccccccc"
    assert folder_name("host", None) == "host"


def test_event_log_keeps_whole_lines_when_the_disk_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    log.append(b'{"a": 1}\n')
    log.flush()
    real_write = os.write
    calls = {"n": 0}

    def write_some_then_fail(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:13]))  # one whole line and part of the next
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write_some_then_fail)
    log.append(b'{"b": 2}\n')
    log.append(b'{"c": 3}\n')
    log.append(b'{"d": 4}\n')
    with pytest.raises(RecordingWriteError, match="No space left on device; free some space"):
        log.flush()
    log.append(b'{"e": 5}\n')  # after a failure: counted, not written
    monkeypatch.setattr(os, "write", real_write)
    log.close()
    lines = (tmp_path / "events.jsonl").read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [{"a": 1}, {"b": 2}]
    assert (log.written, log.unwritten) == (2, 3)


def _as_nobody_if_root(check) -> None:
    """Run check() where permissions apply: root writes anywhere, so as root
    it runs in a forked child that dropped to nobody (65534)."""
    if os.geteuid() != 0:
        check()
        return
    pid = os.fork()
    if pid == 0:  # child: report the outcome through the exit code only
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            check()
            code = 0
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the check failed as nobody"


def test_replace_file_is_atomic() -> None:
    # not under tmp_path: its parents are root's 0700, nobody could not even reach it
    tmp_path = Path(tempfile.mkdtemp(prefix="eunomia-atomic-"))
    target = tmp_path / "report.json"
    replace_file(target, b"old")
    os.chmod(tmp_path, 0o555)
    os.chmod(target, 0o644)

    def refused() -> None:
        with pytest.raises(RecordingWriteError):
            replace_file(target, b"new")

    try:
        _as_nobody_if_root(refused)
        assert target.read_bytes() == b"old" and not list(tmp_path.glob(".*tmp"))
    finally:
        os.chmod(tmp_path, 0o700)
        shutil.rmtree(tmp_path)


def test_csv_tables_neutralise_formulas_and_escape_controls() -> None:
    report = ContainerReport(WEB["id"])
    report.add(ev("exec", WEB, 10, name="=cmd", executable="/tmp/=cmd", args=["=cmd", "=1+1", "a\x1bb"], result=0))
    report.add(ev("open", WEB, 10, file={"path": '=HYPERLINK("http://x")', "flags": ["read"]}, result=3))
    doc = report.to_dict(dict(WEB, labels={}, started=None, exited=None, exit_code=None),
                         {"start": None, "end": None}, {"events": 2, "unwritten": 0, "dropped": 0}, True)
    tables = render_tables(doc)
    processes = list(csv.DictReader(io.StringIO(tables["processes.csv"].decode())))
    assert processes[0]["name"] == "'=cmd"
    assert processes[0]["args"] == "'=cmd =1+1 'a\\x1bb'"
    files = list(csv.DictReader(io.StringIO(tables["files.csv"].decode())))
    assert files[0]["path"] == "'=HYPERLINK(\"http://x\")" and files[0]["open_read"] == "1"
    assert set(tables) == {"processes.csv", "files.csv", "network.csv", "syscalls.csv", "capabilities.csv",
                           "signals.csv"}


def _writer(tmp_path: Path, wants: Any = None) -> RecordingWriter:
    run = RunInfo(version="0.1.0", host={"hostname": "h", "kernel": "6.18", "machine": "x86_64"},
                  trackers=["exec"], scope={"containers": [], "host": False}, start="2026-11-28T12:00:00.000000Z")
    RecordingWriter.create_directory(tmp_path / "rec")
    return RecordingWriter(tmp_path / "rec", run, now=lambda: "2026-11-28T12:00:09.000000Z",
                           describe=lambda cid: {"labels": {"a": "b"}, "exit_code": 3} if cid == WEB["id"] else {},
                           wants=wants)


def test_writer_routes_events_and_writes_valid_documents(tmp_path: Path) -> None:
    writer = _writer(tmp_path, wants=lambda cid: cid != "host")
    writer.write(ev("exec", WEB, 10, args=["sh"], result=0))
    writer.write(ev("fork", WEB, 10, process={"child": {"pid": 11}}), stream=False)
    writer.write(ev("exec", CLIENT, 20, args=["wget"], result=0))
    writer.write(ev("signal", HOST, 99, name="kill", result="delivered", signal={"name": "SIGTERM", "origin": "kill"},
                    target={"process": {"pid": 10, "name": "sh"}, "container": WEB}))
    writer.finish([{"type": "syscalls", "container": WEB, "syscalls": {"read": 4}, "total": 4}],
                  {"trackers": {"exec": {"received": {"exec": 2}}}, "lost": 0, "undecodable": 0},
                  {"argv": ["docker", "run"], "exit_code": 3})
    index = json.loads((tmp_path / "rec" / "index.json").read_text())
    validate(index, "index")
    assert [c["folder"] for c in index["containers"]] == ["client-bbbbbbbbbbbb", "web-aaaaaaaaaaaa"]
    assert index["stats"]["events"] == 3 and index["command"]["exit_code"] == 3 and index["complete"] is True
    web = json.loads((tmp_path / "rec" / "web-aaaaaaaaaaaa" / "report.json").read_text())
    validate(web, "report")
    assert web["container"]["labels"] == {"a": "b"} and web["container"]["exit_code"] == 3
    assert web["syscalls"] == {"read": 4} and web["stats"]["events"] == 2  # the exec and the signal into it
    lines = (tmp_path / "rec" / "web-aaaaaaaaaaaa" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["exec", "signal"]  # forks are folded, not streamed
    assert not (tmp_path / "rec" / "host").exists()


def test_writer_renames_a_folder_once_the_container_is_named(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.write(ev("exec", dict(WEB, name=None), 10, result=0))
    writer.checkpoint([], {"lost": 0})
    assert (tmp_path / "rec" / "aaaaaaaaaaaa" / "report.json").exists()
    writer.write(ev("exec", WEB, 11, result=0))
    writer.finish([], {"lost": 0}, None)
    folder = tmp_path / "rec" / "web-aaaaaaaaaaaa"
    assert len((folder / "events.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "rec" / "aaaaaaaaaaaa").exists()


def test_recording_directory_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(FileExistsError, match="not empty; choose a new directory with -d"):
        RecordingWriter.create_directory(tmp_path / "used")


def test_events_of_a_folder_that_cannot_be_made_are_counted(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    (tmp_path / "rec" / "web-aaaaaaaaaaaa").write_text("a file where the folder should be")
    for pid in range(5):
        writer.write(ev("exec", WEB, pid, result=0))
    writer.finish([], {"lost": 0}, None)
    index = json.loads((tmp_path / "rec" / "index.json").read_text())
    (entry,) = index["containers"]
    assert (entry["events"], entry["unwritten"]) == (0, 5) and index["stats"]["unwritten"] == 5
    assert index["stats"]["error"].startswith("cannot write ")


def test_open_logs_are_bounded_and_reopened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import eunomia.recording.writer as writer_module
    monkeypatch.setattr(writer_module, "MAX_OPEN_LOGS", 2)
    writer = _writer(tmp_path)
    containers = [dict(WEB, id=f"{i:x}" * 64, name=f"c{i}") for i in range(1, 6)]
    for round_ in range(2):
        for c in containers:
            writer.write(ev("exec", c, 10 + round_, result=0))
            writer.flush()
            assert sum(f.log.is_open for f in writer._folders.values()) <= 2
    writer.finish([], {"lost": 0}, None)
    for c in containers:
        lines = (tmp_path / "rec" / f"{c['name']}-{c['id'][:12]}" / "events.jsonl").read_text().splitlines()
        assert [json.loads(line)["process"]["pid"] for line in lines] == [10, 11]


def test_checkpoints_skip_unchanged_reports_and_foreign_aggregates(tmp_path: Path) -> None:
    writer = _writer(tmp_path, wants=lambda cid: cid != "host")
    writer.write(ev("exec", WEB, 10, result=0))
    writer.checkpoint([{"type": "syscalls", "container": HOST, "syscalls": {"read": 1}}], {"lost": 0})
    report = tmp_path / "rec" / "web-aaaaaaaaaaaa" / "report.json"
    first = report.stat().st_mtime_ns
    writer.checkpoint([], {"lost": 0})
    assert report.stat().st_mtime_ns == first  # nothing changed: not rewritten
    writer.write(ev("exit", WEB, 10, process={"exit_code": 0}))
    writer.checkpoint([], {"lost": 0})
    assert json.loads(report.read_text())["processes"][0]["exit_code"] == 0
    assert not (tmp_path / "rec" / "host").exists()  # the host's totals are not in scope
