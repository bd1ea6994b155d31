"""`eunomia trace exec file net -f csv` against a real container: the exec's
argv, the file's path, the TCP port and the container's name in their
columns, read back with the csv module; the aggregates at the end too."""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path

from eunomia.sinks.csv import COLUMNS

from .conftest import EUNOMIA, IMAGE, docker, unique

PORT = 9090


def start_tracer(out: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([EUNOMIA, "trace", "exec", "file", "net", "-f", "csv", "-o", str(out)],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while "eunomia: tracing" not in proc.stderr.readline():
        assert proc.poll() is None and time.monotonic() < deadline, "eunomia did not start"
    return proc


def test_trace_csv_has_every_kind_in_its_columns(tmp_path, containers):
    out = tmp_path / "events.csv"
    proc = start_tracer(out)
    name = unique("csv")
    proof = f"/tmp/{name}.txt"
    # a listener and a client in the same container, on its own loopback
    script = (f"nc -l -p {PORT} > /tmp/got & sleep 0.5; echo payload > {proof}; "
              f"printf hello | nc -w 1 127.0.0.1 {PORT}; sleep 0.3; cat /tmp/got")
    containers.names.append(name)
    run = docker("run", "--name", name, "--network", "none", IMAGE, "sh", "-c", script, check=False, timeout=60)
    assert run.returncode == 0 and run.stdout == "hello", run.stderr
    cid = containers.full_id(name)
    time.sleep(0.5)  # let the last records reach the ring
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1].startswith("summary: ")  # the summary goes to stderr

    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = [r for r in reader if r["container.id"] == cid]
    assert rows and all(r["container.name"] == name for r in rows)
    assert all(r["container.image"] == IMAGE and r["container.runtime"] == "docker" for r in rows)
    assert all(r["extra"] == "" for r in rows)

    def of(kind: str) -> list[dict[str, str]]:
        return [r for r in rows if r["type"] == kind]

    entry = [r for r in of("exec") if r["process.args"] == f"sh -c {script}"]
    assert len(entry) == 1, of("exec")
    assert (entry[0]["process.executable"], entry[0]["result"], entry[0]["time"] != "") == ("/bin/busybox", "0", True)

    opened = [r for r in of("open") if r["file.path"] == proof]
    assert len(opened) == 1
    assert (opened[0]["file.flags"], opened[0]["file.mode"], opened[0]["process.name"]) == (
        "write create truncate", "0666", "sh")
    assert int(opened[0]["result"]) >= 0 and opened[0]["file.inode"] != ""

    connect = [r for r in of("connect") if r["destination.port"] == str(PORT)]
    assert len(connect) == 1
    c = connect[0]
    assert (c["result"], c["network.transport"], c["network.direction"], c["network.type"]) == (
        "0", "tcp", "outbound", "ipv4")
    assert (c["destination.ip"], c["destination.container"]) == ("127.0.0.1", name)
    assert (c["source.ip"], c["source.container"], c["process.name"]) == ("127.0.0.1", name, "nc")
    assert int(c["source.port"]) > 0

    accept = [r for r in of("accept") if r["destination.port"] == str(PORT)]
    assert len(accept) == 1 and accept[0]["source.port"] == c["source.port"]
    assert (accept[0]["network.direction"], accept[0]["source.container"]) == ("inbound", name)
    assert [r["source.port"] for r in of("listen")] == [str(PORT)]

    closes = [r for r in of("close") if r["destination.port"] == str(PORT)]
    assert {r["network.direction"] for r in closes} == {"outbound", "inbound"}
    sent = {r["network.direction"]: r["network.bytes_sent"] for r in closes}
    assert sent["outbound"] == "5"  # "hello"

    written = [r for r in of("file_bytes") if r["file.path"] == proof]
    assert len(written) == 1
    assert (written[0]["time"], written[0]["bytes_written"], written[0]["writes"]) == ("", "8", "1")  # "payload\n"
