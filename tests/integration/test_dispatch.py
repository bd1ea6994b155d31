"""The syscall dispatcher, live: one program per syscall direction on the
machine, and a syscall two trackers handle reaches both, whichever order
their rows are in."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from .conftest import events_of

# a refused TCP connect (the net tracker's connect handlers) and a unix
# connect (the signal tracker's): both on the connect syscall
CLIENT = r"""
import socket, sys
path = sys.argv[1]
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen()
socket.socket(socket.AF_UNIX).connect(path)
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()                      # nothing listens there now
try:
    socket.create_connection(("127.0.0.1", port), timeout=5)
except ConnectionRefusedError:
    print(port)
"""


def bpftool(*args: str) -> list[dict]:
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, check=True).stdout
    shown = json.loads(out or "[]")
    return shown if isinstance(shown, list) else [shown]


def test_one_program_per_syscall_direction_and_no_perf_tracepoints(tracer):
    t = tracer()  # every streaming tracker
    links = bpftool("link", "show")
    programs = {p["id"]: p.get("name") for p in bpftool("prog", "show")}
    t.stop()
    on = Counter(link.get("tp_name") for link in links if link.get("type") == "raw_tracepoint")
    assert on["sys_enter"] == 1 and on["sys_exit"] == 1, on
    names = {programs[link["prog_id"]] for link in links if link.get("tp_name") in ("sys_enter", "sys_exit")}
    assert names == {"dispatch_sys_enter", "dispatch_sys_exit"}
    # no syscalls:* (perf-event) tracepoint anywhere
    assert not [link for link in links if link.get("type") == "perf_event"]
    # the handlers are loaded, and attached nowhere
    attached = {link["prog_id"] for link in links}
    handlers = {i for i, name in programs.items() if name and name.startswith(("enter__", "exit__"))}
    assert handlers and not handlers & attached


@pytest.mark.parametrize("order", [("net", "signal"), ("signal", "net")])
def test_a_syscall_two_trackers_handle_reaches_both(tracer, tmp_path: Path, order: tuple[str, str]):
    t = tracer(*order, "--host")
    path = tmp_path / "dispatch.sock"
    done = subprocess.run([sys.executable, "-c", CLIENT, str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    port = int(done.stdout)
    events, summary = t.stop()

    unix = [e for e in events_of(events, type="unix_connect") if e["unix"]["path"] == str(path)]
    assert len(unix) == 1 and unix[0]["result"] == 0
    refused = [e for e in events_of(events, type="connect")
               if e["destination"]["port"] == port and e["destination"]["ip"] == "127.0.0.1"]
    assert len(refused) == 1 and refused[0]["result"] == "ECONNREFUSED"
    assert unix[0]["process"]["pid"] == refused[0]["process"]["pid"]
    assert summary["lost"] == 0


def test_the_dispatcher_counts_the_file_operations_the_filter_discards(tracer, tmp_path: Path):
    """Without --host, the host's file operations never reach the file
    handler: the dispatcher counts them as the file tracker's `filtered`."""
    t = tracer("file")
    opens = 5000
    missing = tmp_path / "never-there"
    done = subprocess.run([sys.executable, "-c", f"""
import os
for _ in range({opens}):
    try:
        os.open({str(missing)!r}, os.O_RDONLY)
    except FileNotFoundError:
        pass
"""], timeout=60)
    assert done.returncode == 0
    events, summary = t.stop()
    assert not [e for e in events if str(missing) in json.dumps(e)]  # the host is not streamed
    stats = summary["trackers"]["file"]
    assert stats["filtered"] >= opens, stats
    assert stats["lost"] == 0
