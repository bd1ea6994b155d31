"""The processes of one container, folded from fork, exec and exit events.

One entry per program a process ran.  A fork starts an entry (the child
runs its parent's program); the child's first exec turns that entry into
the new program; a later exec by the same pid (`sh -c 'exec foo'`) ends
the entry and starts another.  An exit ends the pid's entry; a process
seen only at its exit (it was running before the recording began) gets an
entry whose start is its fork time (exit time minus lifetime).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

Event = dict[str, Any]


def _entry(pid: int, parent_pid: int | None, start: str | None, process: dict[str, Any],
           user_id: int | None, exec_: bool) -> dict[str, Any]:
    return {
        "pid": pid,
        "parent_pid": parent_pid,
        "name": process.get("name"),
        "executable": process.get("executable"),
        "args": list(process.get("args") or []),
        "working_directory": process.get("working_directory"),
        "user_id": user_id,
        "start": start,
        "end": None,
        "exit_code": None,
        "exit_signal": None,
        "exec": exec_,
    }


def _minus_ms(time: str, ms: float | None) -> str | None:
    """RFC 3339 time minus a duration, in the same format; None if unknown."""
    if ms is None:
        return None
    try:
        moment = datetime.strptime(time, "%Y-%m-%dT%H:%M:%S.%fZ") - timedelta(milliseconds=ms)
    except ValueError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ProcessFold:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._current: dict[int, dict[str, Any]] = {}  # pid → its running entry

    def add(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "fork":
            self._fork(event)
        elif kind == "exec" and event.get("result") == 0:
            self._exec(event)
        elif kind == "exit":
            self._exit(event)

    def _fork(self, event: Event) -> None:
        parent_pid = event["process"]["pid"]
        child_pid = (event["process"].get("child") or {}).get("pid")
        if child_pid is None:
            return
        parent = self._current.get(parent_pid)
        program = parent if parent is not None else event["process"]
        entry = _entry(child_pid, parent_pid, event["time"], program,
                       (event.get("user") or {}).get("id"), exec_=False)
        self._start(entry)

    def _exec(self, event: Event) -> None:
        process = event["process"]
        pid = process["pid"]
        user_id = (event.get("user") or {}).get("id")
        current = self._current.get(pid)
        if current is not None and not current["exec"] and current["end"] is None:
            # a fork's child running its first program: the same process
            current.update(name=process.get("name"), executable=process.get("executable"),
                           args=list(process.get("args") or []),
                           working_directory=process.get("working_directory"), user_id=user_id, exec=True)
            return
        if current is not None:
            current["end"] = event["time"]  # replaced by the new program
        parent_pid = (process.get("parent") or {}).get("pid")
        self._start(_entry(pid, parent_pid, event["time"], process, user_id, exec_=True))

    def _exit(self, event: Event) -> None:
        process = event["process"]
        pid = process["pid"]
        current = self._current.pop(pid, None)
        if current is None:
            parent_pid = (process.get("parent") or {}).get("pid")
            current = _entry(pid, parent_pid, _minus_ms(event["time"], process.get("duration_ms")), process,
                             (event.get("user") or {}).get("id"), exec_=False)
            self.entries.append(current)
        if not current["exec"] and process.get("name"):
            current["name"] = process["name"]  # a forked child may rename itself (prctl)
        current["end"] = event["time"]
        current["exit_code"] = process.get("exit_code")
        current["exit_signal"] = process.get("exit_signal")

    def _start(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        self._current[entry["pid"]] = entry
