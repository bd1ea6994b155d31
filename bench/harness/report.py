"""The results: one JSON file (bench/results/<date>-<host>[-quick].json) and
Markdown tables printed at the end (the README's Performance section shows
them), with the issue's targets marked met or missed."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .bpfstats import DISPATCHER
from .conditions import NOTES
from .matrix import FLOOR_BOTH
from .config import ALL_CONDITIONS
from .util import BENCH

COND_LABEL = {"alone": "alone", "eunomia-default": "Eunomia default", "eunomia-syscall": "Eunomia syscall",
              "bpftrace": "bpftrace", "auditd": "auditd", "strace": "strace -f",
              "empty-sys_enter": "*floor: an empty raw_tp/sys_enter program*",
              "empty-sys_exit": "*floor: an empty raw_tp/sys_exit program*",
              "empty-sys_enter+sys_exit": "*floor: one empty program on each, raw_tp/sys_enter and sys_exit*"}


def machine() -> dict[str, Any]:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = Path("/proc/meminfo").read_text().split()[1]
    return {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(), "cpu_model": model,
            "memory_gib": round(int(mem) / 2**20, 1), "python": platform.python_version()}


def save(results: dict[str, Any], quick: bool, only: list[str] | None = None) -> Path:
    """bench/results/<date>-<host>[-quick][-only-SECTIONS][-incomplete].json: an
    interrupted run, or one of some sections only, does not replace a complete one."""
    suffix = ("-quick" if quick else "") + (f"-only-{'-'.join(only)}" if only else "")
    suffix += "-incomplete" if results.get("incomplete") else ""
    out = BENCH / "results" / f"{datetime.now(timezone.utc):%Y-%m-%d}-{platform.node()}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(out)
    return out


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def us_per_event(cpu_pct: float | None, events_per_s: float | None) -> float | None:
    """Agent CPU seconds per event, in µs: comparable across machines and rates."""
    if cpu_pct is None or not events_per_s:
        return None
    return cpu_pct / 100 / events_per_s * 1e6


def _n(value: Any, fmt: str = "{:,.0f}") -> str:
    return "—" if value is None else fmt.format(value)


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """(what, measured, target, met) for each target (issues 6, 11 and 12)."""
    m = r.get("matrix", {})
    rows: list[dict[str, Any]] = []

    def add(what: str, value: Any, target: str, ok: Callable[[Any], bool]) -> None:
        rows.append({"target": what, "goal": target, "value": value,
                     "met": None if value is None else bool(ok(value))})

    add("nginx + wrk slowdown, Eunomia default", _get(m, "workloads", "nginx", "conditions", "eunomia-default",
                                                     "slowdown_pct"), "≤ 3 %", lambda v: v <= 3)
    add("syscall loop slowdown, Eunomia default", _get(m, "workloads", "loop", "conditions", "eunomia-default",
                                                      "slowdown_pct"), "≤ 10 %", lambda v: v <= 10)
    for cond in ("eunomia-default", "eunomia-syscall"):
        ns = _get(m, "ns_per_syscall", cond) or {}
        add(f"ns per syscall, monitored container ({COND_LABEL[cond]})", ns.get("monitored_container"),
            "≤ 30 ns", lambda v: v <= 30)
        others = [v for v in (ns.get("filtered_out_container"), ns.get("host")) if v is not None]
        add(f"ns per syscall, everything else: worst of filtered-out container and host ({COND_LABEL[cond]})",
            max(others) if others else None, "≤ 10 ns", lambda v: v <= 10)
    above = _get(m, "ns_above_floor", "eunomia-default") or {}
    add("ns per syscall above the floor, monitored container (Eunomia default)", above.get("monitored_container"),
        "≤ 40 ns", lambda v: v <= 40)
    others = [v for v in (above.get("filtered_out_container"), above.get("host")) if v is not None]
    add("ns per syscall above the floor, worst of filtered-out container and host (Eunomia default)",
        max(others) if others else None, "≤ 10 ns", lambda v: v <= 10)
    wins = _get(r, "bpf_stats", "windows") or {}
    for label, goal, limit in (("loop in a monitored container", "≤ 40 ns", 40), ("loop on the host", "≤ 10 ns", 10),
                               ("loop in a filtered-out container", "≤ 10 ns", 10)):
        add(f"BPF ns per syscall above an empty program per direction, {label.removeprefix('loop ')} "
            "(default agent; bpf_stats: the dispatcher and its handlers)", _get(wins, label, "dispatcher_above_floor_ns"),
            goal, lambda v, limit=limit: v <= limit)
    nginx = _get(m, "workloads", "nginx", "conditions") or {}
    agent_ratio, floor_ratio = _get(nginx, "eunomia-default", "ratio"), _get(nginx, FLOOR_BOTH, "ratio")
    add("nginx + wrk, Eunomia default below the floor's ratio (points)",
        None if agent_ratio is None or floor_ratio is None else round(100 * (floor_ratio - agent_ratio), 1),
        "≤ 3 points", lambda v: v <= 3)
    file_rates = _get(r, "userspace", "per_tracker", "file") or {}
    add("records/s unpacked into Python tuples (file records, batch ring reads; strings still bytes)",
        file_rates.get("drain_unpack_per_s"),
        "≥ 1,000,000/s", lambda v: v >= 1_000_000)
    add("events/s enriched and written as JSONL (file records)", file_rates.get("drain_decode_enrich_jsonl_per_s"),
        "≥ 200,000/s", lambda v: v >= 200_000)
    at10k: dict[str, Any] = next((row for row in _get(r, "agent_cost", "rows") or [] if row.get("target") == 10000), {})
    add("agent CPU at 10k events/s", at10k.get("agent_cpu_pct"), "≤ 2 % of a core", lambda v: v <= 2)
    rules10k = next((row for row in _get(r, "agent_cost_rules", "rows") or [] if row.get("target") == 10000), {})
    add("agent CPU at 10k events/s, `run` with the rules, alerts only", rules10k.get("agent_cpu_pct"),
        "≤ 3 % of a core", lambda v: v <= 3)
    add("agent RSS at 10k events/s (VmRSS, MiB)", at10k.get("rss_VmRSS"), "≤ 50 MB", lambda v: v * 1.048576 <= 50)
    add("agent anonymous RSS at 10k events/s (RssAnon, MiB: without the mapped rings)", at10k.get("rss_RssAnon"),
        "≤ 50 MB", lambda v: v * 1.048576 <= 50)
    add("all probes attached (agent's own figure)", _get(r, "startup", "probes_attached_s"), "≤ 1 s",
        lambda v: v <= 1)
    # issue 11: the event path in user space
    add("µs of agent CPU per event at 10k file events/s, `trace` writing JSONL (issue 11)",
        us_per_event(at10k.get("agent_cpu_pct"), at10k.get("achieved")), "≤ 3 µs", lambda v: v <= 3)
    at100k = next((row for row in _get(r, "agent_cost", "rows") or [] if row.get("target") == 100000), {})
    add("events lost at 100k file events/s for 10 s (issue 11)",
        at100k.get("lost") if at100k.get("storm_s", 0) >= 9.9 else None, "0", lambda v: v == 0)
    add("agent VmRSS at 10k events/s, MiB (issue 11)", at10k.get("rss_VmRSS"), "≤ 60 MiB", lambda v: v <= 60)
    return rows


def markdown(r: dict[str, Any]) -> str:
    mach = r["machine"]
    lines = [f"Machine: {mach['host']}, {mach['cpus']} vCPUs ({mach['cpu_model']}), {mach['memory_gib']} GiB, "
             f"kernel {mach['kernel']}; profile `{r['profile']}` ({r['reps']} interleaved repetitions, medians); "
             f"{r['date']}; load average {r['load_average_at_start'][0]:.2f} at start, "
             f"{r.get('load_average_at_end', [0])[0]:.2f} at end; reproduce: `{r['command']}`.", ""]
    m = r.get("matrix") or {}
    if m.get("workloads"):
        # the floor beside alone: the ratio any one-program-per-direction monitor starts from
        order = (ALL_CONDITIONS[0], FLOOR_BOTH, *ALL_CONDITIONS[1:])
        conds = [c for c in order if any(c in w["conditions"] for w in m["workloads"].values())]
        lines += ["**Throughput vs alone** (ratio with/alone; change in throughput in brackets)", "",
                  "| workload | alone | " + " | ".join("*floor*" if c == FLOOR_BOTH else COND_LABEL.get(c, c)
                                                       for c in conds[1:]) + " |",
                  "|---|---|" + "---|" * (len(conds) - 1)]
        for w in m["workloads"].values():
            cells = []
            for c in conds[1:]:
                row = w["conditions"].get(c)
                cells.append("—" if not row or "ratio" not in row else
                             f"{row['ratio']:.2f} ({-row['slowdown_pct']:+.1f} %)".replace("-", "−"))
            lines.append(f"| {w['label']} | {_n(_get(w, 'conditions', 'alone', 'median'))} | " + " | ".join(cells) + " |")
        nginx = _get(m, "workloads", "nginx", "conditions") or {}
        if _get(nginx, "alone", "latency_p99_ms"):
            cells = [(f"{nginx[c]['latency_p99_ms']:.2f} ms (×{nginx[c].get('latency_p99_ratio', 0):.2f})"
                      if c in nginx and nginx[c].get("latency_p99_ms") else "—") for c in conds[1:]]
            lines.append(f"| nginx + wrk, p99 latency | {nginx['alone']['latency_p99_ms']:.2f} ms | " + " | ".join(cells) + " |")
        lines += ["", "Conditions: " + "; ".join(f"**{COND_LABEL.get(c, c)}**: {NOTES[c]}" for c in conds if NOTES.get(c)) + ".",
                  "Eunomia default = `eunomia trace -f json -o FILE` (every streaming tracker, all containers); "
                  "Eunomia syscall = `eunomia trace syscall` (the syscall recorder only)."]
        if m.get("errors"):
            lines.append("Skipped: " + "; ".join(f"{c}: {e}" for c, e in m["errors"].items()))
        lines += ["", f"**Cost per syscall** of the loop ({m['syscalls_per_iteration']} syscalls per iteration: "
                  "openat, read, close, newfstatat, getppid), ns = (1/with − 1/alone) / 5 × 1e9",
                  "", "| condition | monitored container | filtered-out container (`-c` another) | host |",
                  "|---|---|---|---|"]
        for c, ns in m.get("ns_per_syscall", {}).items():
            if any(v is not None for v in ns.values()):
                lines.append(f"| {COND_LABEL.get(c, c)} | " + " | ".join(_n(ns.get(k), "{:,.1f} ns") for k in
                             ("monitored_container", "filtered_out_container", "host")) + " |")
        noise = m.get("ns_per_syscall_noise") or {}
        floors = [c for c in m.get("ns_per_syscall", {}) if c.startswith("empty-")]
        if noise:
            lines.append(f"| *noise (± half the spread of the alone runs)* | ±{_n(noise.get('loop'), '{:.1f}')} ns | "
                         f"±{_n(noise.get('loop'), '{:.1f}')} ns | ±{_n(noise.get('loop-host'), '{:.1f}')} ns |")
        if floors:
            lines += ["", "Floor rows: empty BPF programs attached and nothing else (the loop in a container, and on "
                      "the host): what the hooks cost every syscall of every task before a program does anything. "
                      "Eunomia attaches one program per direction (the syscall dispatcher), the last floor row."]
        above = m.get("ns_above_floor") or {}
        places = ("monitored_container", "filtered_out_container", "host")
        if any(by_where.get(k) is not None for by_where in above.values() for k in places):
            lines += ["", "**Above the floor** (the cost per syscall minus the floor of the hooks the agent "
                      "attached, as bpftool listed them, in the same place (a container's loop, the host's): what "
                      "Eunomia's programs add to merely being attached; "
                      "± half the range of the condition's runs)", "",
                      "| condition | floor | monitored container | filtered-out container | host |",
                      "|---|---|---|---|---|"]
            for c, by_where in above.items():
                spread = by_where.get("spread") or {}
                floor = str(by_where.get("floor", FLOOR_BOTH)).removeprefix("empty-")
                lines.append(f"| {COND_LABEL.get(c, c)} | {floor} | " + " | ".join(
                    _n(by_where.get(k), "{:,.1f} ns") + (f" ±{spread[k]:.1f}" if spread.get(k) is not None else "")
                    for k in ("monitored_container", "filtered_out_container", "host")) + " |")
    storms = r.get("storms") or []
    if storms:
        lines += ["", "**Max events/s into Python with zero drops** (paced storm in the bench container, "
                  f"rate doubled from 1k/s, {storms[0]['step_s']} s per step; one agent per tracker, "
                  "`eunomia trace TRACKER -c CONTAINER -f json -o FILE`; a step counts when nothing was lost and "
                  "the agent kept up: no backlog left in the ring after the storm)", "",
                  "| tracker | event | max rate without drops | stopped by | records/s at max | "
                  "agent CPU at max | µs of agent CPU per event |", "|---|---|---|---|---|---|---|"]
        for s in storms:
            at: dict[str, Any] = next((x for x in s["steps"] if x["target"] == s["max_rate_no_drops"]), {})
            stop = {"drops": "drops", "generator": "the generator's limit",
                    "backlog": "backlog (agent behind)", "ceiling": "the ceiling"}.get(s["stopped_by"], s["stopped_by"])
            nxt = next((x for x in s["steps"] if x["target"] > (s["max_rate_no_drops"] or 0)), None)
            if nxt:
                stop += (f" at {nxt['target']:,}/s: achieved {nxt['achieved']:,.0f}/s, lost {nxt['lost']}, "
                         f"caught up {nxt['catch_up_s']:.2f} s after")
            lines.append(f"| {s['tracker']} | {s['event']} | {_n(s['max_rate_no_drops'])}/s | {stop} | "
                         f"{_n(at.get('records_per_s'))} | {_n(at.get('agent_cpu_pct'), '{:.0f} %')} | "
                         f"{_n(us_per_event(at.get('agent_cpu_pct'), at.get('achieved')), '{:.1f}')} |")
    for key, what in (("agent_cost", "`trace`, every event as JSONL"),
                      ("agent_cost_rules", "`run` with Falco's stable rules and the default rules, alerts only")):
        cost = r.get(key) or {}
        if not cost.get("rows"):
            continue
        lines += ["", f"**Agent cost**: {what} (default trackers, `-c` the bench container, file storm of failed "
                  "opens; CPU = utime+stime over the "
                  "storm's wall time: over 100 % means the agent was still busy after the storm; RSS includes the "
                  "ring buffers' data (mapped once); anonymous = Python's own memory)", "",
                  "| events/s (target) | achieved | agent CPU | µs of agent CPU per event | caught up after | RSS | "
                  "peak RSS | anonymous | lost |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in cost["rows"]:
            lines.append(f"| {_n(row['target'])} | {_n(row.get('achieved'))} | {_n(row.get('agent_cpu_pct'), '{:.1f} %')} | "
                         f"{_n(us_per_event(row.get('agent_cpu_pct'), row.get('achieved')), '{:.1f}')} | "
                         f"{_n(row.get('catch_up_s'), '{:.2f} s')} | "
                         f"{_n(row.get('rss_VmRSS'), '{:.1f} MiB')} | {_n(row.get('rss_VmHWM'), '{:.1f} MiB')} | "
                         f"{_n(row.get('rss_RssAnon'), '{:.1f} MiB')} | {_n(row.get('lost'))} |")
    bpf = r.get("bpf_stats") or {}
    if bpf.get("windows"):
        wins = bpf["windows"]
        labels = list(wins)
        tp_btf = any(wins[w].get("baselines_ns_per_run") for w in labels)
        lines += ["", "**BPF run time per program** (`kernel.bpf_stats_enabled`; the default agent, then one with every "
                  "tracker; "
                  "\"net\" = minus the baseline: an empty program on the same hook for the dispatcher, "
                  "the sys_enter one for the others)", "",
                  "| program | type | " + " | ".join(f"{w}: ns/run (net) | runs" for w in labels) + " |",
                  "|---|---|" + "---|---|" * len(labels)]
        for hook in ("sys_enter", "sys_exit") if tp_btf else ("sys_enter",):
            lines.append(f"| *baseline: empty {'tp_btf' if tp_btf else 'raw_tp'}/{hook}* | "
                         f"{'tracing' if tp_btf else 'raw_tracepoint'} | " + " | ".join(
                             f"{_n((wins[w].get('baselines_ns_per_run') or {'sys_enter': wins[w]['baseline_ns_per_run']}).get(hook), '{:.1f}')} | "
                             for w in labels) + " |")
        def key(p: dict[str, Any]) -> tuple[str, str]:  # one agent per window: ids differ, names do not
            return p.get("object", ""), p["name"]
        names: dict[tuple[str, str], dict[str, Any]] = {}
        for w in labels:
            for p in wins[w]["programs"]:
                names.setdefault(key(p), p)
        by_label = {w: {key(p): p for p in wins[w]["programs"]} for w in labels}
        rare = 0
        for pid, p in sorted(names.items(), key=lambda kv: -max(by_label[w].get(kv[0], {}).get("runs", 0) for w in labels)):
            if max(by_label[w].get(pid, {}).get("runs", 0) for w in labels) < 100:
                rare += 1
                continue
            cells = []
            for w in labels:
                q = by_label[w].get(pid)
                base = ((wins[w].get("baselines_ns_per_run") or {}).get(DISPATCHER.get(p["name"], ""))
                        or wins[w]["baseline_ns_per_run"] or 0)
                cells.append("— | 0" if q is None else f"{q['ns_per_run']:.1f} ({q['ns_per_run'] - base:.1f}) | {q['runs']:,}")
            name = f"{p['object']}: {p['name']}" if p.get("object") else p["name"]
            lines.append(f"| {name} | {p['type']} | " + " | ".join(cells) + " |")
        if rare:
            lines += ["", f"{rare} more programs ran fewer than 100 times in every window (exec, signal, "
                      "cgroup and socket events of the machine): see the JSON."]
        above = {w: wins[w].get("dispatcher_above_floor_ns") for w in labels}
        if any(v is not None for v in above.values()):
            lines += ["", "The dispatcher above the floor, per syscall (its two programs' net ns per run, "
                      "summed; the handlers it tail-calls included): " +
                      "; ".join(f"{w}: {_n(v, '{:.1f} ns')}" for w, v in above.items()) + "."]
    us = _get(r, "userspace", "per_tracker") or {}
    if us:
        lines += ["", "**User-space throughput** (records/s on one CPU, replaying captured records through "
                  "`RingBuffer.drain`)", "",
                  "| tracker | record size | drain only | drain + unpack to tuples | drain + dict decode "
                  "(generic path) | + enrich + JSONL | Falco's stable + default rules, µs/event |",
                  "|---|---|---|---|---|---|---|"]
        for name, u in us.items():
            lines.append(f"| {name} | {u['mean_record_bytes']} B | {_n(u['drain_only_per_s'])} | "
                         f"{_n(u.get('drain_unpack_per_s'))} | "
                         f"{_n(u['drain_decode_per_s'])} | {_n(u['drain_decode_enrich_jsonl_per_s'])} | "
                         f"{_n(u.get('rules_us_per_event'), '{:.2f}')} |")
    st = r.get("startup") or {}
    if st.get("probes_attached_s") is not None:
        lines += ["", f"**Start-up** (`eunomia trace`, default trackers, median of {st['runs']}): probes attached in "
                  f"{st['probes_attached_s']:.2f} s (the agent's own figure); {st['exec_to_ready_s']:.2f} s from exec "
                  f"to that line (Python start-up and imports included); SIGTERM to exit (final drain, detaching, "
                  f"summary): {_n(st.get('stop_s'), '{:.2f}')} s."]
    lines += ["", "**Targets** (issues 6, 11 and 12)", "", "| target | goal | measured | |", "|---|---|---|---|"]
    for t in r.get("targets", []):
        mark = "—" if t["met"] is None else ("met" if t["met"] else "**missed**")
        lines.append(f"| {t['target']} | {t['goal']} | {_n(t['value'], '{:,.1f}')} | {mark} |")
    soaked = r.get("soak")
    if soaked:
        lines += ["", f"**Soak**: `eunomia run` (default trackers, metrics, a JSONL sink) for {soaked['seconds']} s "
                  f"while {soaked['containers_started']} short-lived containers came and went and a steady "
                  f"{soaked['file_rate']:,} file events/s ran; exited containers kept their series "
                  f"{soaked['grace_s']:g} s.", "",
                  "| | start | end |", "|---|---|---|",
                  f"| VmRSS | {_n(soaked['rss_start_mib'], '{:.1f} MiB')} | {_n(soaked['rss_end_mib'], '{:.1f} MiB')} |",
                  f"| RssAnon (Python's heap) | {_n(soaked['anon_start_mib'], '{:.1f} MiB')} | "
                  f"{_n(soaked['anon_end_mib'], '{:.1f} MiB')} |",
                  "", f"Agent CPU {_n(soaked['agent_cpu_pct'], '{:.1f} %')} ({_n(soaked['us_per_event'], '{:.1f}')} µs "
                  f"per event, {soaked['events']:,} events, {soaked['lost']} lost); "
                  f"{soaked['containers_with_series']} containers had series at the end."]
    return "\n".join(lines)
