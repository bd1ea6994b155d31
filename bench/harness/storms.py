"""Paced event storms against a live agent.

Both run the agent on the bench's loop container only (`-c <loop>`), so that
other containers on the machine add no events; the storm
(bench/images/storm.c) runs in that container.

max_rate(): one agent per tracker (`eunomia trace TRACKER -c LOOP -f json
-o FILE`); the storm runs at 1k events/s, then 2k, 4k, … — each step for a
fixed time — until the agent's kernel counters show a lost record, the
generator cannot reach the rate (less than 90 % of it), or the agent did
not keep up: it was still writing events well after the storm ended.  A
backlog is not a drop yet (the ring absorbed it), but a longer storm at
that rate would overflow the ring, so the step does not count.  The answer
is the last rate with none of these: the highest sustainable rate with zero
drops.

agent_cost(): the agent with its default trackers under a file storm at
fixed rates (1k, 10k, 50k and, in the full profile, 100k events/s): CPU% (utime+stime over the storm's wall
time) and memory (RSS, peak, anonymous), from /proc — `trace` writing every
event, and `run` with Falco's stable rules and the defaults, alerts only.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from .agent import Agent
from .bpfstats import AgentCounters
from .util import log, rnd
from .workloads import Testbed, storm

STORM_TRACKER = {"exec": "exec", "file": "file", "net": "net"}  # storm kind → tracker streaming it
EVENT = {"exec": "exec of /bin/true", "file": "failed openat (unique path)", "net": "refused TCP connect"}
# the agent drains its rings every poll (100 ms: the kernel does not wake it
# for each record), flushes per poll, and docker exec returns late: a little
# lag is no backlog; more than this plus 10 % of the storm's length is
BACKLOG_SLACK_S = 0.2


def _step(bed: Testbed, agent: Agent, counters: AgentCounters | None, kind: str, rate: int,
          seconds: float) -> dict[str, Any]:
    before = counters.read() if counters else {}
    cpu0 = agent.cpu_seconds()
    result = storm(bed, kind, rate, seconds)
    storm_end = time.monotonic()
    last_output = agent.wait_drained()
    cpu1 = agent.cpu_seconds()
    after = counters.read() if counters else {}
    delta = {k: after[k] - before.get(k, 0) for k in after}
    catch_up = max(0.0, last_output - storm_end)
    return {
        "target": rate, "achieved": result["rate"], "events": result["done"],
        "storm_s": result["seconds"],
        "records_submitted": delta.get("submitted"), "lost": delta.get("lost"),
        "records_per_s": round(delta["submitted"] / result["seconds"]) if "submitted" in delta else None,
        # CPU-seconds the agent spent on the storm's events per second of storm:
        # over 100 % means it fell behind (it kept working after the storm ended)
        "agent_cpu_pct": rnd(100 * (cpu1 - cpu0) / result["seconds"]),
        # how long after the storm ended the agent still wrote events (a backlog
        # in the ring: a longer storm at this rate would overflow it)
        "catch_up_s": round(catch_up, 2),
        "kept_up": catch_up <= BACKLOG_SLACK_S + 0.1 * result["seconds"],
        **{f"rss_{k}": v for k, v in agent.memory_mib().items()},
    }


def max_rate(bed: Testbed, kind: str, step_s: float, ceiling: int, workdir: Path) -> dict[str, Any]:
    out = workdir / f"storm-{kind}-{uuid.uuid4().hex[:6]}.jsonl"
    steps: list[dict[str, Any]] = []
    best: int | None = None
    stopped_by = "ceiling"
    agent = Agent([STORM_TRACKER[kind]], out, ["-c", bed.loop])
    try:
        agent.start()
        counters = AgentCounters(agent.pid)
        rate = 1000
        while rate <= ceiling:
            step = _step(bed, agent, counters, kind, rate, step_s)
            steps.append(step)
            log(f"  {kind} storm {rate:>9,}/s: achieved {step['achieved']:>9,.0f}/s, lost {step['lost']}, "
                f"agent {step['agent_cpu_pct']}% CPU, caught up {step['catch_up_s']} s after")
            if step["lost"]:
                stopped_by = "drops"
                break
            if step["achieved"] < 0.9 * rate:
                stopped_by = "generator"
                break
            if not step["kept_up"]:
                stopped_by = "backlog"
                break
            best = rate
            rate *= 2
    finally:
        summary = agent.stop() or {}
        out.unlink(missing_ok=True)
    return {"tracker": STORM_TRACKER[kind], "event": EVENT[kind], "max_rate_no_drops": best,
            "step_s": step_s, "stopped_by": stopped_by, "records_per_s_at_max": next(
                (s["records_per_s"] for s in steps if s["target"] == best), None),
            "agent_total_lost": summary.get("lost"), "steps": steps}


def agent_cost(bed: Testbed, rates: tuple[int, ...], step_s: float, workdir: Path,
               rules: Path | None = None) -> dict[str, Any]:
    """`trace` with the default trackers writing every event; with `rules`: `run` with Eunomia's
    default rules and that file, alerts only on standard output (no event sink)."""
    out = workdir / f"cost-{uuid.uuid4().hex[:6]}.jsonl"
    rows: list[dict[str, Any]] = []
    if rules is None:
        agent = Agent([], out, ["-c", bed.loop])  # default trackers
    else:
        agent = Agent([], out, ["-c", bed.loop, "--rules", str(rules), "--metrics", "off"], command="run",
                      alerts_only=True)
    try:
        agent.start()
        counters = AgentCounters(agent.pid)
        for rate in rates:
            if rate == 0:
                cpu0 = agent.cpu_seconds()
                time.sleep(step_s)
                rows.append({"target": 0, "achieved": 0, "lost": 0,
                             "agent_cpu_pct": rnd(100 * (agent.cpu_seconds() - cpu0) / step_s),
                             **{f"rss_{k}": v for k, v in agent.memory_mib().items()}})
            else:
                rows.append(_step(bed, agent, counters, "file", rate, step_s))
            r = rows[-1]
            log(f"  agent at {rate:>6,} events/s: {r['agent_cpu_pct']}% CPU, RSS {r.get('rss_VmRSS')} MiB")
    finally:
        summary = agent.stop() or {}
        out.unlink(missing_ok=True)
    return {"trackers": "default", "storm": "file", "rows": rows, "agent_total_lost": summary.get("lost"),
            "command": "trace (every event as JSONL)" if rules is None else
            f"run --rules {rules.name} (and the default rules; alerts only)",
            "alerts": summary.get("alerts")}
