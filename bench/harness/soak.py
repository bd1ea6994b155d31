"""The always-on monitor over time: `eunomia run` while containers come and go.

For `seconds`, one short-lived container after another is started (each
runs a shell, a program, a few file writes, then exits and is removed) while
the loop container keeps a steady file-event load (storm.c, `rate`/s).  The
agent (`eunomia run`, default trackers, metrics on loopback, a JSONL sink)
has an exited container's series kept `grace` seconds, so over the soak the
containers it forgets (series, registry, kernel map entries) outnumber the
ones it holds.  Reported: VmRSS and RssAnon at start and end (and sampled),
agent CPU, containers started, the number of series per container metric at
the end, events lost.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from .agent import Agent
from .util import log, rnd, unique
from .workloads import LOOP_IMAGE, Testbed, start_storm

SAMPLE_EVERY_S = 10.0


def _churn(stop: threading.Event, started: list[str]) -> None:
    while not stop.is_set():
        name = unique("soak")
        subprocess.run(["docker", "run", "--rm", "--network", "none", "--name", name, LOOP_IMAGE, "sh", "-c",
                        "for i in 1 2 3; do echo x > /tmp/a; done; /bin/cat /etc/hostname >/dev/null"],
                       capture_output=True, timeout=60, check=False)
        started.append(name)
        stop.wait(0.5)


def _series(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # loopback
        text = response.read().decode()
    counts: dict[str, int] = {}
    containers: set[str] = set()
    for line in text.splitlines():
        if line.startswith("eunomia_") and 'container_id="' in line:
            counts[line.split("{", 1)[0]] = counts.get(line.split("{", 1)[0], 0) + 1
            containers.add(line.split('container_id="', 1)[1].split('"', 1)[0])
    return {"containers_with_series": len(containers), "series": sum(counts.values())}


def soak(bed: Testbed, seconds: float, rate: int, grace_s: float, workdir: Path) -> dict[str, Any]:
    port = 19000 + (int(time.time()) % 1000)
    config = workdir / "soak.yaml"
    config.write_text(json.dumps({"limits": {"exited_series_seconds": grace_s}}))
    out = workdir / "soak-events.jsonl"
    samples: list[dict[str, Any]] = []
    started: list[str] = []
    stop = threading.Event()
    with Agent([], out=out, command="run", args=["--config", str(config), "--metrics", f"127.0.0.1:{port}"]) as agent:
        cpu0, t0 = agent.cpu_seconds(), time.monotonic()
        first = agent.memory_mib()
        churn = threading.Thread(target=_churn, args=(stop, started), daemon=True)
        churn.start()
        storm = start_storm(bed, "file", rate, seconds)
        next_sample = t0 + SAMPLE_EVERY_S
        while time.monotonic() - t0 < seconds:
            time.sleep(0.5)
            if time.monotonic() >= next_sample:
                samples.append({"t_s": round(time.monotonic() - t0), **agent.memory_mib()})
                next_sample += SAMPLE_EVERY_S
        stop.set()
        churn.join(timeout=60)
        storm.communicate(timeout=120)
        last = agent.memory_mib()
        series = _series(port)
        cpu = agent.cpu_seconds() - cpu0
        elapsed = time.monotonic() - t0
    summary = agent.summary or {}
    received = sum(sum(t.get("received", {}).values()) for t in summary.get("trackers", {}).values())
    result = {
        "seconds": round(elapsed), "file_rate": rate, "grace_s": grace_s, "containers_started": len(started),
        "rss_start_mib": first.get("VmRSS"), "rss_end_mib": last.get("VmRSS"),
        "anon_start_mib": first.get("RssAnon"), "anon_end_mib": last.get("RssAnon"),
        "peak_mib": last.get("VmHWM"), "agent_cpu_pct": rnd(100 * cpu / elapsed, 1),
        "us_per_event": rnd(1e6 * cpu / received, 1) if received else None,
        "events": received, "lost": summary.get("lost"), **series, "samples": samples,
    }
    log(f"  soak: {len(started)} containers in {elapsed:.0f} s; RSS {first.get('VmRSS')} → {last.get('VmRSS')} MiB "
        f"(anon {first.get('RssAnon')} → {last.get('RssAnon')}); {series['containers_with_series']} containers "
        f"with series at the end; lost {summary.get('lost')}")
    return result
