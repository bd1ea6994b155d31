"""Synthetic recordings for the tests of `eunomia report` (unit and browser).

Three containers that talk to each other (web → api → db), a peer that was
not recorded, the host/outside, and hostile text where a container can put
it: file names with HTML and Rich markup, argv with terminal escapes, labels
with quotes.  Every document follows the recording's JSON Schemas (the
fixtures assert it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WEB, API, DB = "web", "api", "db"
NAMES = (WEB, API, DB)
IDS = {WEB: "a1" * 32, API: "b2" * 32, DB: "c3" * 32}
FOLDERS = {name: f"{name}-{IDS[name][:12]}" for name in NAMES}

HOSTILE_PATH = "/tmp/<img src=x onerror=alert(1)>"
MARKUP_PATH = "/srv/[bold red]x[/] and [link=http://evil.example]y[/link]"
SCRIPT_PATH = "/tmp/</script><script>alert('x')</script>"
LONG_PATH = "/var/" + "L" * 12000
HOSTILE_ARGV = ["sh", "-c", "echo \x1b[31mred\x1b[0m \x07bell", "\\xff raw byte", "a'b\"c"]
HOSTILE_LABEL = ("note", "it's \"quoted\" <b>bold</b> & more")
HOSTILE_PEER = "evil\"><svg onload=alert(2)>"
TIME = "2026-11-28T12:34:55.940756Z"
END = "2026-11-28T12:35:55.000000Z"


def _endpoint(ip: str | None, port: int | None, container: str | None) -> dict[str, Any]:
    return {"ip": ip, "port": port, "container": container}


def _proc(pid: int, ppid: int | None, args: list[str], *, exe: str | None = None, exit_code: int | None = 0,
          exec_: bool = True) -> dict[str, Any]:
    return {"pid": pid, "parent_pid": ppid, "name": (args[0] if args else "sh")[:15],
            "executable": exe or ("/bin/" + args[0] if args else None), "args": args,
            "working_directory": "/app", "user_id": 0, "start": TIME, "end": END, "exit_code": exit_code,
            "exit_signal": None, "exec": exec_}


def _file(path: str | None, *, read: int = 0, written: int = 0, ops: dict[str, int] | None = None,
          failed: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    return {"path": path, "operations": ops or {"open_read": 1}, "failed": failed or {},
            "bytes_read": read, "bytes_written": written, "reads": 1 if read else 0, "writes": 1 if written else 0,
            "opens": 1}


def _conn(direction: str | None, transport: str, src: tuple, dst: tuple, peer: str | None, count: int,
          sent: int = 100, received: int = 200) -> dict[str, Any]:
    return {"direction": direction, "transport": transport, "source": _endpoint(*src),
            "destination": _endpoint(*dst), "peer_container": peer, "count": count, "failed": {},
            "bytes_sent": sent, "bytes_received": received}


def _ref(pid: int | None, name: str | None) -> dict[str, Any]:
    return {"pid": pid, "name": name, "executable": f"/bin/{name}" if name else None}


def report_doc(name: str, *, complete: bool = True, processes: list | None = None, files: list | None = None,
               connections: list | None = None, listening: list | None = None, signals: list | None = None,
               capabilities: dict | None = None, syscalls: dict | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "container": {"id": IDS.get(name, "d4" * 32), "name": name, "image": f"example/{name}:1", "runtime": "docker",
                      "labels": labels or {}, "pod": None, "namespace": None, "started": TIME, "exited": END,
                      "exit_code": 0},
        "window": {"start": TIME, "end": END},
        "complete": complete,
        "processes": processes or [],
        "files": files or [],
        "network": {"connections": connections or [], "listening": listening or []},
        "signals": signals or [],
        "ptrace": [],
        "unix_connects": [],
        "capabilities": capabilities or {},
        "syscalls": syscalls or {},
        "stats": {"events": 42, "unwritten": 0, "dropped": 0},
    }


def sample_reports() -> dict[str, dict[str, Any]]:
    """report.json of web, api and db."""
    web = report_doc(
        WEB, labels={HOSTILE_LABEL[0]: HOSTILE_LABEL[1], "com.example.tier": "front"},
        processes=[_proc(100, None, ["nginx", "-g", "daemon off;"], exec_=False),
                   _proc(101, 100, HOSTILE_ARGV, exe="/bin/sh"),
                   _proc(102, 101, ["wget", "-q", "http://api:8080/"], exit_code=1),
                   _proc(102, 101, ["cat", "/etc/hosts"])],
        files=[_file(HOSTILE_PATH, written=4096, ops={"create": 1, "open_write": 2}),
               _file(MARKUP_PATH, read=123456, ops={"open_read": 5}),
               _file(SCRIPT_PATH, read=10),
               _file(LONG_PATH, read=1),
               _file("/etc/shadow", ops={"open_read": 0}, failed={"open_read": {"EACCES": 3}}),
               _file(None, read=99)],
        connections=[_conn("outbound", "tcp", ("172.18.0.2", 40000, WEB), ("172.18.0.3", 8080, API), API, 7),
                     _conn("outbound", "tcp", ("172.18.0.2", 40001, WEB), ("93.184.216.34", 443, None), None, 2),
                     _conn(None, "udp", ("172.18.0.2", 53001, WEB), ("127.0.0.11", 53, None), None, 4)],
        listening=[{"transport": "tcp", "ip": "0.0.0.0", "port": 80}],
        signals=[{"direction": "sent", "signal": "SIGTERM", "origin": "kill", "result": None,
                  "sender": _ref(100, "nginx"), "sender_container": WEB, "target": _ref(101, "sh"),
                  "target_container": WEB, "count": 1}],
        capabilities={"CAP_NET_BIND_SERVICE": {"granted": 1, "denied": 0, "processes": ["nginx"]},
                      "CAP_SYS_ADMIN": {"granted": 0, "denied": 2, "processes": ["sh"]}},
        syscalls={"read": 900, "write": 450, "epoll_wait": 300, "openat": 20, "connect": 9})
    api = report_doc(
        API,
        processes=[_proc(200, None, ["python3", "app.py"]), _proc(201, 200, ["sh", "-c", "ls /"])],
        files=[_file("/app/app.py", read=2048)],
        connections=[_conn("inbound", "tcp", ("172.18.0.2", 40000, WEB), ("172.18.0.3", 8080, API), WEB, 7),
                     _conn("outbound", "tcp", ("172.18.0.3", 50000, API), ("172.18.0.4", 5432, DB), DB, 12),
                     _conn("inbound", "tcp", ("172.18.0.9", 41000, HOSTILE_PEER), ("172.18.0.3", 8080, API),
                           HOSTILE_PEER, 3)],
        listening=[{"transport": "tcp", "ip": "0.0.0.0", "port": 8080}],
        syscalls={"recvfrom": 70, "sendto": 65})
    db = report_doc(
        DB,
        processes=[_proc(300, None, ["postgres", "-D", "/var/lib/postgresql/data"])],
        files=[_file("/var/lib/postgresql/data/base/1/1259", read=8192, written=16384,
                     ops={"open_read": 2, "open_write": 1})],
        connections=[_conn("inbound", "tcp", ("172.18.0.3", 50000, API), ("172.18.0.4", 5432, DB), API, 12)],
        listening=[{"transport": "tcp", "ip": None, "port": 5432}],
        capabilities={"CAP_CHOWN": {"granted": 4, "denied": 0, "processes": ["postgres"]}},
        syscalls={"pread64": 500, "pwrite64": 200})
    return {WEB: web, API: api, DB: db}


def index_doc(*, complete: bool = True, names: tuple[str, ...] = NAMES) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "tool": {"name": "eunomia", "version": "0.1.0"},
        "host": {"hostname": "testhost", "kernel": "6.13.0", "machine": "x86_64"},
        "window": {"start": TIME, "end": END if complete else None},
        "complete": complete,
        "trackers": ["exec", "file", "net", "signal", "cap", "syscall"],
        "scope": {"containers": [], "host": False},
        "command": None,
        "containers": [{"id": IDS[n], "name": n, "image": f"example/{n}:1", "folder": FOLDERS[n], "events": 42,
                        "unwritten": 0} for n in names],
        "stats": {"trackers": {"exec": {"lost": 0}}, "lost": 0, "undecodable": 0, "events": 126, "unwritten": 0},
    }


def write_recording(directory: Path, *, complete: bool = True, without_report: tuple[str, ...] = (),
                    reports: dict[str, dict[str, Any]] | None = None) -> Path:
    """A recording directory of web, api and db; `without_report` leaves those report.json out."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.json").write_text(json.dumps(index_doc(complete=complete)), encoding="utf-8")
    for name, doc in (reports or sample_reports()).items():
        folder = directory / FOLDERS[name]
        folder.mkdir(exist_ok=True)
        (folder / "events.jsonl").write_text("", encoding="utf-8")
        if name not in without_report:
            (folder / "report.json").write_text(json.dumps(doc), encoding="utf-8")
    return directory


def schema_errors(doc: dict[str, Any], schema: str) -> list[str]:
    """Where `doc` breaks schema/<schema>.schema.json (empty when it follows it)."""
    from importlib import resources

    from jsonschema import Draft202012Validator

    text = resources.files("eunomia.recording.schema").joinpath(f"{schema}.schema.json").read_text("utf-8")
    validator = Draft202012Validator(json.loads(text))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def assert_valid_recording(directory: Path) -> None:
    """Every index.json/report.json of the recording follows its schema."""
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    assert schema_errors(index, "index") == []
    for entry in index["containers"]:
        path = directory / entry["folder"] / "report.json"
        if path.exists():
            assert schema_errors(json.loads(path.read_text(encoding="utf-8")), "report") == [], path
