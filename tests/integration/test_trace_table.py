"""What a person sees in `trace`'s table: the container's own behaviour, not
the runtime's set-up of it (issue 18, item 1)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import EUNOMIA, IMAGE, docker, events_of, unique

pytestmark = pytest.mark.integration

WORKLOAD = "cat /etc/passwd >/dev/null; ls /tmp >/dev/null"


def _table_of(tmp_path: Path, name: str, *flags: str) -> tuple[list[str], str, str]:
    """The table lines of container `name` while it runs WORKLOAD, the whole table, and eunomia's stderr."""
    out, ready = tmp_path / f"{name}.txt", tmp_path / f"{name}.ready"
    proc = subprocess.Popen([EUNOMIA, "trace", "exec", "file", "cap", "-T", "60", "-f", "table", "-o", str(out),
                             "--ready-file", str(ready), *flags], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "100"})  # as a 100-column terminal
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "eunomia did not start"
            time.sleep(0.1)
        done = docker("run", "--rm", "--name", name, IMAGE, "sh", "-c", WORKLOAD, check=False)
        assert done.returncode == 0, done.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    # TIME (12) and a space, then CONTAINER (16): the container's own lines
    text = out.read_text()
    return [line for line in text.splitlines() if line[13:29].strip() == name], text, err


def test_the_table_leaves_the_runtime_set_up_out_unless_asked(tmp_path: Path) -> None:
    name = unique("tbl")
    lines, text, err = _table_of(tmp_path, name)
    # the user's command among the container's first lines (runc's set-up came before it)
    assert [i for i, line in enumerate(lines) if " exec " in line and "cat /etc/passwd" in line][0] < 5, lines
    assert any(line.endswith("open       /etc/passwd  read  → fd 3") for line in lines), lines
    assert max(len(line) for line in text.splitlines()) <= 100  # cut with an ellipsis, never wrapped
    # runc's stages mount and prepare the root under /var/lib/docker: none of it shown
    assert not [line for line in lines if "/var/lib/docker/" in line or "mountinfo" in line]
    hidden = re.search(r"not shown: (\d+) runtime set-up events", err)
    assert hidden and int(hidden.group(1)) >= 10, err
    # the aggregates at the end: a section per container, the capabilities it decided, runc's apart
    section = text[text.index(f"── {name}\n"):]
    assert "  capabilities checked (decisions; probes apart)" in section
    assert "runc:[" not in text and "by the runtime setting the container up (--show-runtime)" in section
    assert "mountinfo" not in section and "only the runtime's set-up opened (--show-runtime)" in section

    name = unique("tbl")
    shown, text, err = _table_of(tmp_path, name, "--show-runtime")
    assert [line for line in shown if "/var/lib/docker/overlay2/" in line], shown
    section = text[text.index(f"── {name}\n"):]
    assert "runc:[2:INIT]" in section and "mountinfo" in section  # its checks and its reads of /proc
    assert len(shown) > len(lines) + 10 and "not shown" not in err


def test_json_marks_the_runtime_set_up_in_time_order(tracer, containers) -> None:
    t = tracer("exec", "file", "cap")
    name = unique("mark")
    assert containers.run(name, "sh", "-c", WORKLOAD).returncode == 0
    events, _ = t.stop()
    mine = [e for e in events_of(events, container_id=containers.full_id(name)) if "process" in e]
    runtime = [e for e in mine if e["process"]["name"].startswith("runc")]
    assert len(runtime) >= 10 and all(e["process"].get("runtime_setup") is True for e in runtime)
    own = [e for e in mine if not e["process"]["name"].startswith("runc")]
    assert [e for e in own if e["type"] == "exec" and e["process"]["args"] == ["cat", "/etc/passwd"]]
    assert not [e for e in own if "runtime_setup" in e["process"]]  # the workload's own: no mark
    # three trackers' rings, one stream in time order (a short container: read within a poll or two)
    times = [e["time"] for e in mine]
    assert times == sorted(times)
