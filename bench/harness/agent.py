"""The eunomia agent as a child process, and what /proc says it costs.

    with Agent(["file"], out=path) as agent:   # returns once probes are attached
        cpu = agent.cpu_seconds()
    agent.summary                               # the final JSON summary line

CPU is utime+stime of every thread (/proc/<pid>/stat, clock ticks);
memory is VmRSS / VmHWM / RssAnon from /proc/<pid>/status (MiB).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from .util import EUNOMIA, BenchError, median, rnd, stop_process

CLK_TCK = os.sysconf("SC_CLK_TCK")
READY = re.compile(r"eunomia: (?:tracing|watching) .*\(probes attached in ([\d.]+)s\)")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (peak) and RssAnon (Python's own heap, without the mapped rings)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            out[key] = round(int(rest.split()[0]) / 1024, 1)
    return out


class Agent:
    """`eunomia trace TRACKERS [ARGS] -f json -o OUT` (or, with command="run",
    `eunomia run [ARGS] -f json --sink jsonl:OUT`), started in its own session
    (so a Ctrl-C on the bench does not reach it before the bench stops it)."""

    def __init__(self, trackers: list[str], out: Path | str = "/dev/null", args: list[str] | None = None,
                 ready_timeout: float = 60, command: str = "trace", alerts_only: bool = False) -> None:
        self.alerts_only = alerts_only  # run: standard output (alerts, the summary) to `out`, no event sink
        if command == "run":
            sink = [] if alerts_only else ["--sink", f"jsonl:{out}"]
            self.argv = [str(EUNOMIA), "run", *(f"-t{t}" for t in trackers), *(args or []), "-f", "json", *sink]
        else:
            self.argv = [str(EUNOMIA), "trace", *trackers, *(args or []), "-f", "json", "-o", str(out)]
        self.out = Path(out)
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.stderr: list[str] = []
        self.attached_s: float | None = None   # what the agent reports
        self.ready_s: float | None = None      # wall time from exec to that line
        self.summary: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Agent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        t0 = time.monotonic()
        stdout = open(self.out, "wb") if self.alerts_only else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=stdout,
                                         stderr=subprocess.PIPE, text=True, start_new_session=True)
        finally:
            if stdout is not subprocess.DEVNULL:
                stdout.close()
        ready = threading.Event()

        def read_stderr() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.stderr.append(line.rstrip())
                m = READY.search(line)
                if m and not ready.is_set():
                    self.ready_s = time.monotonic() - t0
                    self.attached_s = float(m.group(1))
                    ready.set()
            ready.set()  # EOF: it exited

        threading.Thread(target=read_stderr, daemon=True).start()
        if not ready.wait(self.ready_timeout) or self.attached_s is None:
            self.stop()
            raise BenchError(f"agent did not start ({' '.join(self.argv[1:])}):\n" + "\n".join(self.stderr[-20:]))

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def memory_mib(self) -> dict[str, float]:
        return memory_mib(self.pid)

    def output_size(self) -> int:
        try:
            return self.out.stat().st_size if self.out.is_file() else 0
        except OSError:
            return 0

    def wait_drained(self, quiet_s: float = 0.3, timeout: float = 60) -> float:
        """Until the output file stops growing for quiet_s (the agent caught
        up); returns the monotonic time it last grew.  Alerts only: until the
        agent's CPU time stops growing (its output says nothing of its backlog)."""
        if self.alerts_only:
            return self._wait_idle(quiet_s, timeout)
        deadline = time.monotonic() + timeout
        last_size, last_growth = self.output_size(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            size = self.output_size()
            if size != last_size:
                last_size, last_growth = size, time.monotonic()
            elif time.monotonic() - last_growth >= quiet_s:
                break
        return last_growth

    def _wait_idle(self, quiet_s: float, timeout: float) -> float:
        """Until the agent used under 5 % of a core for quiet_s; the time it was last busy."""
        deadline = time.monotonic() + timeout
        last_busy, cpu = time.monotonic(), self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now_cpu = self.cpu_seconds()
            if now_cpu - cpu > 0.05 * 0.05 + 1e-9:  # more than a tick's worth in 50 ms
                last_busy = time.monotonic()
            cpu = now_cpu
            if time.monotonic() - last_busy >= quiet_s:
                break
        return last_busy

    def stop(self) -> dict[str, Any] | None:
        """SIGTERM; the agent drains its rings and writes the summary line."""
        if self.proc is None:
            return None
        code = stop_process(self.proc, timeout=60)
        if code not in (0, None) and self.summary is None and self.attached_s is not None:
            self.stderr.append(f"(exit code {code})")
        if self.out.is_file():
            self.summary = _last_summary(self.out)
        return self.summary


def _last_summary(path: Path) -> dict[str, Any] | None:
    with open(path, "rb") as f:
        try:
            f.seek(-65536, os.SEEK_END)
        except OSError:
            f.seek(0)
        lines = f.read().splitlines()
    for line in reversed(lines):
        if line.startswith(b'{"type":"summary"'):
            return json.loads(line)
    return None


def startup_times(runs: int, earlier: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`eunomia trace` (default trackers): the agent's own "probes attached in
    X s", the wall time from exec to that line, and the time SIGTERM → exit
    (final drain, detaching, summary).  `earlier` are such samples from
    agents the matrix already started (same command); launches top them up
    to `runs`."""
    samples = [s for s in earlier or [] if s.get("attached_s") is not None][:runs]
    for _ in range(runs - len(samples)):
        agent = Agent([])
        agent.start()
        t0 = time.monotonic()
        agent.stop()
        samples.append({"attached_s": agent.attached_s, "ready_s": agent.ready_s,
                        "stop_s": round(time.monotonic() - t0, 3)})
    return {"trackers": "default", "runs": len(samples),
            "probes_attached_s": rnd(median(s["attached_s"] for s in samples), 3),
            "exec_to_ready_s": rnd(median(s["ready_s"] for s in samples), 3),
            "stop_s": rnd(median(s.get("stop_s") for s in samples), 3),
            "samples": [{k: rnd(s.get(k), 3) for k in ("attached_s", "ready_s", "stop_s")} for s in samples]}
