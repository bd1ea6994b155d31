"""The human table: what a person reads first is the container's own behaviour."""

from __future__ import annotations

import io

from eunomia.sinks.table import TableSink


def _event(kind: str, name: str, **extra: object) -> dict[str, object]:
    process: dict[str, object] = {"pid": 7, "tid": 7, "parent": {"pid": 1}, "name": name,
                                  "args": [name], "executable": f"/bin/{name}"}
    if name.startswith("runc"):
        process["runtime_setup"] = True
    return {"time": "2026-12-02T10:00:00.000001Z", "type": kind, "container": {"id": "c" * 64, "name": "web"},
            "process": process, "user": {"id": 0}, **extra}


def _render(show_runtime: bool) -> tuple[list[str], str]:
    out, err = io.BytesIO(), io.StringIO()
    sink = TableSink(out, stderr=err, show_runtime=show_runtime)
    sink.write(_event("open", "runc:[2:INIT]", result=3, file={"path": "/proc/self/mountinfo"}))
    sink.write(_event("capability", "sh", capability={"name": "CAP_SYS_ADMIN", "granted": False, "probe": True}))
    sink.write(_event("exec", "cat", result=0))
    sink.write(_event("capability", "cat", capability={"name": "CAP_CHOWN", "granted": True, "probe": False}))
    sink.close({"trackers": {}})
    return out.getvalue().decode().splitlines()[1:], err.getvalue()


def test_the_runtime_set_up_and_probes_are_left_out_and_counted() -> None:
    lines, err = _render(show_runtime=False)
    assert len(lines) == 2 and " exec " in lines[0] and "CAP_CHOWN" in lines[1]
    assert not any("mountinfo" in line or "CAP_SYS_ADMIN" in line for line in lines)
    assert "not shown: 1 runtime set-up event, 1 capability probe event (--show-runtime shows them" in err


def test_show_runtime_shows_every_event() -> None:
    lines, err = _render(show_runtime=True)
    assert len(lines) == 4 and "mountinfo" in lines[0] and "CAP_SYS_ADMIN" in lines[1]
    assert "not shown" not in err


def test_aggregates_are_tables_per_container_with_probes_apart() -> None:
    out = io.BytesIO()
    sink = TableSink(out)
    web = {"id": "w" * 64, "name": "web"}
    sink.write({"type": "file_bytes", "container": web, "file": {"path": "/tmp/small\nFAKE 0"},
                "bytes_read": 10, "bytes_written": 0, "reads": 1, "writes": 0, "opens": 1})
    sink.write({"type": "file_bytes", "container": web, "file": {"path": "/data/" + "x" * 80},
                "bytes_read": 3 << 20, "bytes_written": 2048, "reads": 9, "writes": 1, "opens": 2})
    sink.write({"type": "capabilities", "container": web, "capabilities": {
        "CAP_CHOWN": {"granted": 2, "denied": 0, "checks": [
            {"process": "chown", "syscall": "chown", "credentials": "own", "probe": False, "granted": 2, "denied": 0}]},
        "CAP_SYS_ADMIN": {"granted": 6, "denied": 537, "checks": [
            {"process": "sh", "syscall": "brk", "credentials": "own", "probe": True, "granted": 0, "denied": 537},
            {"process": "sh", "syscall": "openat", "credentials": "borrowed", "probe": False, "granted": 6,
             "denied": 0},
            {"process": "runc:[2:INIT]", "syscall": "mount", "credentials": "own", "probe": False, "granted": 40,
             "denied": 0}]}}})
    sink.write({"type": "syscalls", "container": web, "syscalls": {"read": 5, "openat": 9}, "total": 14,
                "runtime_syscalls": {"futex": 3}})
    sink.close({"trackers": {}})
    lines = out.getvalue().decode().splitlines()
    assert lines[1] == "── web" and lines[2] == "  files, by bytes"
    assert lines[3].split() == ["PATH", "READ", "WRITTEN", "OPENS"]
    big, small = lines[4], lines[5]  # by bytes, the biggest first
    assert big.startswith("   /data/xxx") and "…" in big and big.split()[-5:] == ["3.0", "MiB", "2.0", "KiB", "2"]
    assert "\\x0aFAKE 0" in small and not any(line.startswith("FAKE") for line in lines)  # a newline stays data
    caps = lines[lines.index("  capabilities checked (decisions; probes apart)") + 1:][:5]
    assert caps[1].split() == ["CAP_CHOWN", "2", "0", "chown"]
    assert caps[2].split() == ["CAP_SYS_ADMIN", "6", "0", "sh"]  # runc's mounts are not the container's
    assert caps[3] == "   and 537 probes (a kernel function asking, never failing a call)"
    assert caps[4] == "   and 40 checks by the runtime setting the container up (--show-runtime)"
    assert "  syscalls: 14 calls, 2 distinct" in lines
    assert lines[lines.index("  syscalls: 14 calls, 2 distinct") + 2].split() == ["openat", "9"]
    assert max(len(line) for line in lines) < 100


def _line(event: dict[str, object], **options: object) -> str:
    out = io.BytesIO()
    sink = TableSink(out, **options)  # type: ignore[arg-type]
    sink.write(event)
    return out.getvalue().decode().splitlines()[1]


def test_each_kind_reads_as_a_phrase() -> None:
    base = _event("open", "cat", result=3, file={"path": "/etc/passwd", "flags": ["read"], "mode": None})
    assert _line(base).endswith("open       /etc/passwd  read  → fd 3")
    failed = {**base, "result": "ENOENT", "file": {"path": "/nonexistent", "flags": ["read"]}}
    assert _line(failed).endswith("open       /nonexistent  read  → ENOENT")
    exec_ = _event("exec", "sh", result=0)
    exec_["process"] = {**exec_["process"], "args": ["sh", "-c", "cat /etc/passwd"],  # type: ignore[dict-item]
                        "working_directory": "/"}
    assert _line(exec_).endswith("exec       sh -c 'cat /etc/passwd'  (cwd /)")
    connect = _event("connect", "nc", result=0, network={"transport": "tcp", "direction": "outbound"},
                     source={"ip": "172.18.0.3", "port": 40000, "container": "web"},
                     destination={"ip": "172.18.0.2", "port": 8080, "container": "db"})
    assert _line(connect).endswith("connect    → db (172.18.0.2:8080)  tcp  ok")
    signal = _event("signal", "sh", result="delivered", signal={"name": "SIGTERM"},
                    target={"process": {"pid": 12, "name": "sleep"}, "container": {"name": "web"}})
    assert _line(signal).endswith("signal     SIGTERM → sleep[12]  delivered")
    cap = _event("capability", "chown", result=0,
                 capability={"name": "CAP_CHOWN", "granted": True, "syscall": "chown", "credentials": "own"})
    assert _line(cap).endswith("capability CAP_CHOWN granted (chown)")


def test_a_line_fits_the_width_is_escaped_and_red_only_when_asked() -> None:
    hostile = _event("open", "cat", result="EACCES",
                     file={"path": "/tmp/\x1b[2Jnew\nline/" + "d" * 200, "flags": ["read"]})
    line = _line(hostile, width=100)
    assert len(line) == 100 and line.endswith("…") and "\x1b" not in line and "\\x1b[2Jnew\\x0aline" in line
    assert _line(hostile, width=100, colour=True).startswith("\x1b[31m")  # failed: red on a terminal
    assert not _line(hostile, width=100, colour=False).startswith("\x1b")
    verbose = _line(hostile, verbose=True, width=100, colour=False)
    assert len(verbose) > 100 and "  |  result=EACCES file.path=" in verbose  # -v: every field, not cut


def test_files_only_the_runtime_opened_are_counted_apart() -> None:
    web = {"id": "w" * 64, "name": "web"}

    def files(show_runtime: bool) -> list[str]:
        out = io.BytesIO()
        sink = TableSink(out, show_runtime=show_runtime)
        sink.write({"type": "file_bytes", "container": web, "file": {"path": "/proc/9/mountinfo"},
                    "bytes_read": 5000, "bytes_written": 0, "opens": 2, "runtime_setup": True})
        sink.write({"type": "file_bytes", "container": web, "file": {"path": "/etc/passwd"},
                    "bytes_read": 60, "bytes_written": 0, "opens": 1})
        sink.close({"trackers": {}})
        return out.getvalue().decode().splitlines()

    hidden = files(False)
    assert not [line for line in hidden if "mountinfo" in line] and [line for line in hidden if "/etc/passwd" in line]
    assert "   and 1 file only the runtime's set-up opened (--show-runtime)" in hidden
    shown = files(True)
    assert [line for line in shown if "mountinfo" in line] and not [line for line in shown if "only the runtime" in line]
