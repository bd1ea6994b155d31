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
