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
    # the floors in the container too: a syscall there costs more than on the
    # host (overlayfs), and so may merely attaching a program
    out += [(cond, ["loop", "loop-host", *(["nginx"] if cond in profile.nginx_conditions else [])])
            for cond in FLOOR if cond in profile.floors]
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


def floor_of(infos: list[dict[str, Any]]) -> str:
    """The empty-hook floor with the hooks an agent attached (bpftool, at its
    start): one program on sys_enter, or one on each direction."""
    hooks = {tuple(i["syscall_hooks"]) for i in infos if i.get("syscall_hooks")}
    return f"empty-{'+'.join(hooks.pop())}" if len(hooks) == 1 else FLOOR_BOTH


def _spread(raw: dict[str, dict[str, list[dict[str, Any]]]], cond: str) -> dict[str, float | None]:
    """± half the range of a condition's runs, in ns per syscall (against the
    median alone run), per place."""
    out: dict[str, float | None] = {}
    for where, workload, name in (("monitored_container", "loop", cond),
                                  ("filtered_out_container", "loop", cond + "-filtered"),
                                  ("host", "loop-host", cond)):
        values = [r["value"] for r in raw.get(workload, {}).get(name, [])]
        alone = median(r["value"] for r in raw.get(workload, {}).get("alone", []))
        if len(values) > 1 and alone:
            low, high = (_ns_per_syscall(v, alone) for v in (max(values), min(values)))
            out[where] = rnd((high - low) / 2) if low is not None and high is not None else None
        else:
            out[where] = None
    return out


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
    above_floor: dict[str, dict[str, Any]] = {}
    for cond, by_where in per_syscall.items():
        if not cond.startswith("eunomia-"):
            continue
        floor_name = floor_of(infos.get(cond, []))
        floors = per_syscall.get(floor_name) or {}
        # a container is compared with the floor in the (same) container loop
        floor_at = {"monitored_container": floors.get("monitored_container"),
                    "filtered_out_container": floors.get("monitored_container"), "host": floors.get("host")}
        above_floor[cond] = {where: rnd(ns - floor_at[where]) if ns is not None and floor_at[where] is not None
                             else None for where, ns in by_where.items()}
        above_floor[cond]["floor"] = floor_name
        above_floor[cond]["spread"] = _spread(raw, cond)
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
        "ns_above_floor": above_floor,   # minus the floor of the hooks it attached, in the same place
        "condition_info": infos,
        "errors": errors,
    }
