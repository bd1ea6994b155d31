"""Overhead of the trackers on syscall-heavy containers.  A benchmark, not a test.

    sudo make bench        # or: .venv/bin/python bench/syscall_overhead.py --seconds 5 --repeat 3

Workloads, in containers built locally from Debian packages (bench/images/build.sh):
  loop   a static C loop of open/read/close/stat/getppid; throughput in iterations/s
  nginx  Debian's nginx serving a small file; wrk on the host against the container's
         address on a Docker network this script creates; throughput in requests/s
Conditions, interleaved and repeated (medians): the workload alone, and with
`eunomia trace <every tracker>` writing JSON to a file.  While the agent runs,
kernel.bpf_stats_enabled=1 gives each BPF program's run time per call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
EUNOMIA = ROOT / ".venv" / "bin" / "eunomia"


def sh(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw)


def all_trackers() -> list[str]:
    from eunomia import trackers
    return list(trackers.selectable())


class Agent:
    """eunomia running with every tracker; optionally with BPF run-time stats
    (they cost two clock reads per program run, so throughput is measured
    with them off)."""

    def __init__(self, out: Path, bpf_stats: bool = False) -> None:
        sh("sysctl", "-q", f"kernel.bpf_stats_enabled={int(bpf_stats)}")
        self.proc = subprocess.Popen([str(EUNOMIA), "trace", *all_trackers(), "-f", "json", "-o", str(out)],
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        if "eunomia: tracing" not in line:
            raise SystemExit(f"agent did not start: {line}{self.proc.stderr.read()}")
        self.out = out

    def bpf_stats(self) -> dict[str, dict[str, float]]:
        progs = json.loads(sh("bpftool", "prog", "show", "-j").stdout)
        stats = {}
        for p in progs:
            if p.get("run_cnt") and p.get("name", "").startswith("handle_"):
                stats[p["name"]] = {"runs": p["run_cnt"], "ns_per_run": round(p["run_time_ns"] / p["run_cnt"], 1)}
        return stats

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=120)
        sh("sysctl", "-q", "kernel.bpf_stats_enabled=0")
        return json.loads(self.out.read_text().splitlines()[-1])


def run_loop(seconds: float) -> float:
    name = f"eun-bench-{uuid.uuid4().hex[:8]}"
    try:
        out = sh("docker", "run", "--name", name, "eunomia-bench/loop", "loop", str(seconds)).stdout
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return float(out.strip())


class Nginx:
    def __init__(self) -> None:
        self.net = f"eun-bench-{uuid.uuid4().hex[:8]}"
        sh("docker", "network", "create", self.net)
        self.name = f"{self.net}-nginx"
        sh("docker", "run", "-d", "--name", self.name, "--network", self.net, "eunomia-bench/nginx")
        self.ip = sh("docker", "inspect", "--format",
                     "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", self.name).stdout.strip()
        for _ in range(50):
            if subprocess.run(["wrk", "-t1", "-c1", "-d1s", f"http://{self.ip}:8080/"], capture_output=True).returncode == 0:
                return
            time.sleep(0.2)

    def measure(self, seconds: float) -> float:
        out = sh("wrk", "-t2", "-c32", f"-d{max(1, round(seconds))}s", f"http://{self.ip}:8080/").stdout
        return float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))

    def close(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)
        subprocess.run(["docker", "network", "rm", self.net], capture_output=True)


def compare(label: str, measure: Callable[[], float], repeat: int, out: Path) -> dict:
    alone, traced, summaries = [], [], []
    for _ in range(repeat):  # interleaved, so drift hits both conditions
        alone.append(measure())
        agent = Agent(out)
        traced.append(measure())
        summaries.append(agent.stop())
    agent = Agent(out, bpf_stats=True)
    measure()
    bpf = agent.bpf_stats()
    summaries.append(agent.stop())
    a, t = statistics.median(alone), statistics.median(traced)
    return {"workload": label, "alone": round(a), "with_agent": round(t), "ratio": round(t / a, 3),
            "slowdown_pct": round(100 * (1 - t / a), 1), "bpf": bpf,
            "lost": [s["lost"] for s in summaries]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench needs root: sudo make bench")
    sh(str(ROOT / "scripts" / "ensure-dockerd.sh"))
    sh(str(ROOT / "bench" / "images" / "build.sh"))
    out = Path("/tmp") / f"eunomia-bench-{os.getpid()}.jsonl"
    results = [compare("loop (open/read/close/stat/getppid), iterations/s",
                       lambda: run_loop(args.seconds), args.repeat, out)]
    nginx = Nginx()
    try:
        results.append(compare("nginx + wrk, requests/s", lambda: nginx.measure(args.seconds), args.repeat, out))
    finally:
        nginx.close()
    out.unlink(missing_ok=True)

    report = {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "trackers": all_trackers(), "results": results}
    print(json.dumps(report, indent=2))
    print("\n| workload | alone | with all trackers | ratio | lost |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['workload']} | {r['alone']:,} | {r['with_agent']:,} | {r['ratio']} | {sum(r['lost'])} |")
    print("\n| BPF program | ns per run (loop) | runs |\n|---|---|---|")
    for name, s in sorted(results[0]["bpf"].items(), key=lambda kv: -kv[1]["runs"]):
        print(f"| {name} | {s['ns_per_run']} | {s['runs']:,} |")
    path = ROOT / "bench" / "results" / f"{datetime.now(timezone.utc):%Y-%m-%d}-{platform.node()}-overhead.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nsaved: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
