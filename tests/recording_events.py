"""events.jsonl lines as `eunomia record` streams them, for the containers of
tests/recording_samples.py (same ids, names and folders).

The shapes are those of the enriched events the recorder writes (see
tests/unit/test_recording.py): a recording killed before its first
checkpoint has only these on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .recording_samples import API, DB, FOLDERS, IDS, WEB

T0 = "2026-11-28T12:34:56.000000Z"


def container(name: str) -> dict[str, Any]:
    return {"id": IDS[name], "name": name, "image": f"example/{name}:1", "runtime": "docker", "pod": None,
            "namespace": None}


def event(kind: str, name: str, pid: int, *, time: str = T0, comm: str = "sh", **fields: Any) -> dict[str, Any]:
    process = {"pid": pid, "tid": pid, "parent": {"pid": fields.pop("ppid", 1)}, "name": comm,
               "executable": fields.pop("executable", f"/bin/{comm}"), "args": fields.pop("args", [comm]),
               "working_directory": "/"}
    process.update(fields.pop("process", {}))
    return {"time": time, "type": kind, "container": container(name), "process": process,
            "user": {"id": 0}, "group": {"id": 0}, **fields}


def sample_events() -> dict[str, list[dict[str, Any]]]:
    """Per container, the lines of its events.jsonl."""
    net = {"transport": "tcp", "direction": "outbound", "type": "ipv4"}
    web_to_api = {"source": {"ip": "172.18.0.2", "port": 40000, "container": WEB},
                  "destination": {"ip": "172.18.0.3", "port": 8080, "container": API}}
    # a signal from web into api is in both folders
    kill = event("signal", WEB, 100, comm="nginx", time="2026-11-28T12:34:58.000000Z", result="delivered",
                 signal={"name": "SIGTERM", "number": 15, "origin": "kill"},
                 target={"process": {"pid": 200, "tid": 200, "name": "python3"}, "container": container(API)})
    web = [
        event("exec", WEB, 100, comm="nginx", args=["nginx", "-g", "daemon off;"], result=0),
        event("exec", WEB, 101, comm="sh", time="2026-11-28T12:34:56.100000Z", ppid=100,
              args=["sh", "-c", "echo \x1b[31mred\x1b[0m \x07bell"], result=0),
        event("open", WEB, 101, time="2026-11-28T12:34:56.200000Z",
              file={"path": "/etc/hosts", "flags": ["read"]}, result=3),
        event("open", WEB, 101, time="2026-11-28T12:34:56.300000Z",
              file={"path": "/etc/shadow", "flags": ["read"]}, result="EACCES"),
        event("connect", WEB, 100, comm="nginx", time="2026-11-28T12:34:56.400000Z", network=net,
              result=0, **web_to_api),
        event("exit", WEB, 101, time="2026-11-28T12:34:57.000000Z", process={"exit_code": 0}),
        kill,
    ]
    api = [
        event("exec", API, 200, comm="python3", args=["python3", "app.py"], result=0),
        event("accept", API, 200, comm="python3", time="2026-11-28T12:34:56.450000Z",
              network={**net, "direction": "inbound"}, result=0, **web_to_api),
        event("listen", API, 200, comm="python3", time="2026-11-28T12:34:56.050000Z", result=0,
              network={"transport": "tcp", "type": "ipv4"},
              source={"ip": "0.0.0.0", "port": 8080, "container": API}),
        kill,
    ]
    db = [event("exec", DB, 300, comm="postgres", args=["postgres", "-D", "/data"], result=0)]
    return {WEB: web, API: api, DB: db}


def write_events(directory: Path, events: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Each container's folder with only its events.jsonl (no report.json)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in (events if events is not None else sample_events()).items():
        folder = directory / FOLDERS[name]
        folder.mkdir(exist_ok=True)
        (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    return directory
