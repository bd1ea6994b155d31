"""Exec storm: how many exec events per second eunomia handles without loss,
and what the agent costs meanwhile (CPU, RSS).  A benchmark, not a test.

    sudo make bench          # or: .venv/bin/python bench/exec_storm.py --execs 20000

Runs the storm (a shell loop of /bin/true in N containers) once without the
agent and once with `eunomia trace exec` writing JSON to a file, and prints
the figures side by side.  Everything is local: containers of the locally
built eunomia-test/busybox image, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EUNOMIA = ROOT / ".venv" / "bin" / "eunomia"
IMAGE = "eunomia-test/busybox"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def storm(containers: int, execs: int) -> tuple[float, list[str]]:
    """Run `execs` execs of /bin/true in each container, in parallel; (seconds, names)."""
    names = [f"eun-storm-{uuid.uuid4().hex[:8]}" for _ in range(containers)]
    script = f"i=0; while [ $i -lt {execs} ]; do /bin/true; i=$((i+1)); done"
    for name in names:  # created first, so the timing covers the loops only
        subprocess.run(["docker", "create", "--name", name, IMAGE, "sh", "-c", script],
                       check=True, capture_output=True)
    start = time.monotonic()
    runs = [subprocess.Popen(["docker", "start", "-a", name], stdout=subprocess.DEVNULL) for name in names]
    for run in runs:
        run.wait()
    elapsed = time.monotonic() - start
    subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
    return elapsed, names


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int, key: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def with_agent(containers: int, execs: int, out: Path) -> dict:
    agent = subprocess.Popen([str(EUNOMIA), "trace", "exec", "-f", "json", "-o", str(out)],
                             stderr=subprocess.PIPE, text=True)
    assert agent.stderr is not None
    t0 = time.monotonic()
    line = agent.stderr.readline()
    if "eunomia: tracing" not in line:
        raise SystemExit(f"agent did not start: {line}{agent.stderr.read()}")
    startup = time.monotonic() - t0
    cpu_before = cpu_seconds(agent.pid)
    elapsed, _ = storm(containers, execs)
    time.sleep(0.5)
    cpu = cpu_seconds(agent.pid) - cpu_before
    peak_rss = rss_mib(agent.pid)
    anon_rss = rss_mib(agent.pid, "RssAnon")  # Python's own memory, without the mapped rings
    agent.send_signal(signal.SIGTERM)
    agent.communicate(timeout=120)
    summary = json.loads(out.read_text().splitlines()[-1])
    stats = summary["trackers"]["exec"]
    received = stats["received"]
    return {
        "startup_s": round(startup, 3),
        "storm_s": round(elapsed, 3),
        "exec_events": received.get("exec", 0),
        "records": sum(received.values()),
        "lost": stats["lost"],
        "execs_per_s": round(received.get("exec", 0) / elapsed),
        "records_per_s": round(sum(received.values()) / elapsed),
        "agent_cpu_pct": round(100 * cpu / elapsed, 1),
        "agent_peak_rss_mib": round(peak_rss, 1),
        "agent_anon_rss_mib": round(anon_rss, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=2, help="containers storming in parallel")
    parser.add_argument("--execs", type=int, default=10000, help="execs per container")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per condition")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench needs root: sudo make bench")
    subprocess.run([str(ROOT / "scripts" / "ensure-dockerd.sh")], check=True)
    subprocess.run([str(ROOT / "scripts" / "build-test-images.sh")], check=True)

    alone, agent = [], []
    out = Path("/tmp") / f"eunomia-bench-{os.getpid()}.jsonl"
    for _ in range(args.repeat):  # interleaved, so drift hits both conditions
        alone.append(storm(args.containers, args.execs)[0])
        agent.append(with_agent(args.containers, args.execs, out))
    out.unlink(missing_ok=True)
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    best = sorted(agent, key=lambda r: r["storm_s"])[len(agent) // 2]
    total = args.containers * args.execs
    result = {
        "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "execs_total": total,
        "alone_s": round(median(alone), 3),
        "with_agent": best,
        "slowdown": round(best["storm_s"] / median(alone), 3),
        "all_lost": [r["lost"] for r in agent],
        "all_exec_events": [r["exec_events"] for r in agent],
    }
    print(json.dumps(result, indent=2))
    print(f"\nexec storm: {total} execs in {args.containers} containers")
    print(f"  alone:      {result['alone_s']:.2f} s  ({total / result['alone_s']:.0f} execs/s)")
    print(f"  with agent: {best['storm_s']:.2f} s  ({best['execs_per_s']} exec events/s, "
          f"{best['records_per_s']} records/s, lost {best['lost']}) → slowdown x{result['slowdown']}")
    print(f"  agent: {best['agent_cpu_pct']}% of a core, peak RSS {best['agent_peak_rss_mib']} MiB "
          f"(of which anonymous {best['agent_anon_rss_mib']} MiB; the rest is the mapped ring buffers), "
          f"probes attached in {best['startup_s']} s")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"{datetime.now(timezone.utc):%Y-%m-%d}-{platform.node()}-exec-storm.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  saved: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
