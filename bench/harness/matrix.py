"""Workloads × conditions, interleaved: every repetition runs each condition
once (in an order rotated by one each time, so drift and warm-up spread
over all of them) and, inside it, each of its workloads; the figures are
medians over the repetitions.

Per-syscall cost from throughput: the loop makes SYSCALLS_PER_ITERATION
syscalls per iteration, so with a condition's and the alone iteration
rates (medians),
    ns per syscall = (1/with − 1/alone) / SYSCALLS_PER_ITERATION × 1e9
for the loop in a monitored container (`loop` under eunomia-*), in a
container the agent filters out (`loop` under eunomia-*-filtered: the
agent runs with `-c <decoy>`), and on the host (`loop-host`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .conditions import make
from .config import ALL_CONDITIONS, Profile
from .util import log, median, rnd
from .workloads import SYSCALLS_PER_ITERATION, WORKLOADS, Testbed

FILTERED = ("eunomia-default-filtered", "eunomia-syscall-filtered")
# what attaching a hook costs every syscall, whatever the program does (it is
# the same for every task: measured on the host loop, the least noisy)
# (two probes on one tracepoint: it then calls them through an iterator, with
# indirect calls, instead of one static call)
FLOOR = ("empty-sys_enter", "empty-sys_exit", "empty-sys_enter+sys_exit")
# what any monitor that sees syscall arguments and results pays: one program
# per direction (Eunomia's syscall dispatcher is exactly that many)
FLOOR_BOTH = "empty-sys_enter+sys_exit"


def plan(profile: Profile) -> list[tuple[str, list[str]]]:
    """(condition, its workloads) in the base order."""
    out = []
    for cond in ALL_CONDITIONS:
        workloads = ["loop"]
        if cond in profile.host_conditions:
            workloads.append("loop-host")
        if cond in profile.nginx_conditions:
            workloads.append("nginx")
        if cond in profile.exec_conditions:
            workloads.append("exec")
        out.append((cond, workloads))
    out += [(cond, ["loop"]) for cond in FILTERED]
    out += [(cond, ["loop-host"]) for cond in FLOOR if cond in profile.floors]
    return out


def _seconds(profile: Profile, workload: str) -> float:
    return {"loop": profile.loop_s, "loop-host": profile.loop_s, "nginx": profile.nginx_s,
            "exec": profile.exec_s}[workload]


def run(bed: Testbed, profile: Profile, workdir: Path) -> dict[str, Any]:
    base = plan(profile)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {w: {} for w in WORKLOADS}
    infos: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    warm = make("alone", workdir, bed.decoy)  # the first runs after set-up are slow: not counted
    for w in ("loop-host", "loop", "nginx", "exec"):
        WORKLOADS[w][1](bed, warm, 0.5)
    for rep in range(profile.reps):
        order = base[rep % len(base):] + base[: rep % len(base)]
        log(f"repetition {rep + 1}/{profile.reps}")
        for cond_name, workloads in order:
            if cond_name in errors:
                continue
            cond = make(cond_name, workdir, bed.decoy)
            try:
                with cond:
                    for w in workloads:
                        measure = WORKLOADS[w][1]
                        cpu0, t0 = cond.cpu_seconds(), time.monotonic()
                        m = measure(bed, cond, _seconds(profile, w))
                        cpu1, t1 = cond.cpu_seconds(), time.monotonic()
                        row = {"value": m.value, **m.extra}
                        if cpu0 is not None and cpu1 is not None:
                            row["tool_cpu_pct"] = rnd(100 * (cpu1 - cpu0) / (t1 - t0))
                        raw[w].setdefault(cond_name, []).append(row)
                        log(f"  {cond_name:<25} {w:<9} {m.value:>12,.0f}")
            except Exception as exc:  # noqa: BLE001 - a condition that cannot run is skipped, not fatal
                errors[cond_name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log(f"  {cond_name}: skipped from now on: {errors[cond_name]}")
            infos.setdefault(cond_name, []).append(getattr(cond, "info", {}) or {})
    return summarise(raw, infos, errors)


def _ns_per_syscall(with_rate: float | None, alone_rate: float | None) -> float | None:
    if not with_rate or not alone_rate:
        return None
    return (1 / with_rate - 1 / alone_rate) / SYSCALLS_PER_ITERATION * 1e9


def summarise(raw: dict[str, dict[str, list[dict[str, Any]]]], infos: dict[str, list[dict[str, Any]]],
              errors: dict[str, str]) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    for workload, by_cond in raw.items():
        if not by_cond:
            continue
        alone = median(r["value"] for r in by_cond.get("alone", []))
        alone_p99 = median(r.get("latency_99_ms") for r in by_cond.get("alone", []))
        rows: dict[str, Any] = {}
        for cond, runs in by_cond.items():
            value = median(r["value"] for r in runs)
            row: dict[str, Any] = {"median": rnd(value), "values": [rnd(r["value"]) for r in runs]}
            if alone and value is not None:
                row["ratio"] = round(value / alone, 3)
                row["slowdown_pct"] = round(100 * (1 - value / alone), 1)
            p99 = median(r.get("latency_99_ms") for r in runs)
            if p99 is not None:
                row["latency_p99_ms"] = p99
                row["latency_p50_ms"] = median(r.get("latency_50_ms") for r in runs)
                if alone_p99:
                    row["latency_p99_ratio"] = round(p99 / alone_p99, 3)
            cpu = median(r.get("tool_cpu_pct") for r in runs)
            if cpu is not None:
                row["tool_cpu_pct"] = rnd(cpu)
            rows[cond] = row
        table[workload] = {"label": WORKLOADS[workload][0], "conditions": rows}

    def med(workload: str, cond: str) -> float | None:
        return table.get(workload, {}).get("conditions", {}).get(cond, {}).get("median")

    per_syscall: dict[str, dict[str, float | None]] = {}
    for cond in (*ALL_CONDITIONS[1:], *FLOOR):
        per_syscall[cond] = {
            "monitored_container": rnd(_ns_per_syscall(med("loop", cond), med("loop", "alone"))),
            "filtered_out_container": rnd(_ns_per_syscall(med("loop", cond + "-filtered"), med("loop", "alone"))),
            "host": rnd(_ns_per_syscall(med("loop-host", cond), med("loop-host", "alone"))),
        }
    floor = (per_syscall.get(FLOOR_BOTH) or {}).get("host")
    above_floor = {cond: {where: rnd(ns - floor) if ns is not None and floor is not None else None
                          for where, ns in by_where.items()}
                   for cond, by_where in per_syscall.items() if cond.startswith("eunomia-")}
    noise: dict[str, float | None] = {}
    for workload in ("loop", "loop-host"):
        values = [r["value"] for r in raw.get(workload, {}).get("alone", [])]
        spread = _ns_per_syscall(min(values), max(values)) if len(values) > 1 else None
        if spread is not None:  # half the spread of the alone runs, in ns per syscall
            noise[workload] = rnd(spread / 2)
    return {
        "syscalls_per_iteration": SYSCALLS_PER_ITERATION,
        "workloads": table,
        "ns_per_syscall": per_syscall,
        "ns_per_syscall_noise": noise,
        "ns_above_floor": above_floor,   # minus the FLOOR_BOTH row (host loop)
        "condition_info": infos,
        "errors": errors,
    }
