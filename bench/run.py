"""Eunomia's benchmark harness (issue 6).  A benchmark, not a test.

    sudo make bench          # full: ~12 minutes on a 2-vCPU VM
    sudo make bench-quick    # quick: under 3 minutes, fewer repetitions and conditions
    .venv/bin/python bench/run.py [--quick] [--only matrix,storms,...] [--reps N]
    .venv/bin/python bench/run.py --render bench/results/<file>.json   # the tables again

Sections (bench/harness/):
  matrix     workloads (syscall loop, nginx + wrk, exec storm) × conditions (alone,
             Eunomia default, Eunomia syscall recorder, bpftrace, auditd, strace -f),
             interleaved; throughput ratios and the per-syscall cost in ns for a
             monitored container, a filtered-out one and the host
  startup    launch → all probes attached, and SIGTERM → exit (medians; the
             matrix's own launches of the default agent count)
  bpf        BPF ns per run of every agent program (kernel.bpf_stats_enabled),
             beside empty tp_btf programs on sys_enter and sys_exit as the baselines
  storms     max events/s into Python with zero drops, per tracker (paced storms)
  cost       agent CPU% and RSS at 1k/10k/50k/100k events/s
  cost_rules the same for `run` with Falco's stable rules and the defaults, alerts only
  userspace  records/s decoded, and enriched + written as JSONL, in-process
  soak       `eunomia run` while containers come and go: RSS at start and end (only with --only soak)

Everything runs locally: images built from Debian packages (bench/images/),
containers and a network with unique names removed at the end, wrk against
the bench's own network, nothing else on the network.  Results:
bench/results/<date>-<host>[-quick].json and Markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bpfstats, matrix, report, soak, storms, userspace
from harness.agent import Agent, startup_times
from harness.conditions import Condition
from harness.config import FULL, QUICK, Profile
from harness.util import (
    EUNOMIA,
    ROOT,
    BudgetExceeded,
    Deadline,
    log,
    require_root,
    sigterm_as_interrupt,
)
from harness.workloads import Testbed, build_images, loop_container, loop_host

SECTIONS = ("matrix", "startup", "bpf", "storms", "cost", "cost_rules", "userspace", "soak")
# Falco's stable rules, read where the workplace keeps its reference data
FALCO_RULES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "falco_rules.yaml"
DEFAULT_SECTIONS = SECTIONS[:-1]  # the soak runs only when asked (10 minutes in the full profile)
TOOLS = {"wrk": "nginx workload", "bpftrace": "bpftrace condition", "auditd": "auditd condition",
         "auditctl": "auditd condition", "strace": "strace condition", "bpftool": "BPF stats, storms, the floor of each agent's hooks",
         "clang": "BPF stats baseline", "docker": "everything"}


def every_tracker() -> list[str]:
    from eunomia import trackers
    return list(trackers.selectable())


def bpf_section(bed: Testbed, profile: Profile, workdir: Path) -> dict[str, Any]:
    """The default agent (all containers): the loop in a monitored container
    and on the host, then (a second agent, `-c` the decoy) in a filtered-out
    container; last, every tracker loaded (the syscall tracker's counting
    too), the loop in a monitored container."""
    out = workdir / "bpf-stats.jsonl"
    alone = Condition()

    def in_container() -> object:
        return loop_container(bed, alone, profile.bpf_stats_s)

    with bpfstats.stats_enabled(), bpfstats.EmptyProgram("btf-sys_enter") as enter, \
            bpfstats.EmptyProgram("btf-sys_exit") as exit_:
        empty = {"sys_enter": enter, "sys_exit": exit_}
        with Agent([], out) as agent:
            windows = bpfstats.profile_windows(agent.pid, empty, {
                "loop in a monitored container": in_container,
                "loop on the host": lambda: loop_host(bed, alone, profile.bpf_stats_s),
            })
        if profile.bpf_filtered_window:
            with Agent([], out, ["-c", bed.decoy]) as agent:
                windows.update(bpfstats.profile_windows(agent.pid, empty, {
                    "loop in a filtered-out container": in_container}))
        with Agent(every_tracker(), out) as agent:
            windows.update(bpfstats.profile_windows(agent.pid, empty, {
                "every tracker: loop in a monitored container": in_container}))
    out.unlink(missing_ok=True)
    return {"trackers": "default, then every tracker: " + " ".join(every_tracker()), "windows": windows}


def _get_infos(results: dict[str, Any], condition: str) -> list[dict[str, Any]]:
    return list((results.get("matrix") or {}).get("condition_info", {}).get(condition, []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the ≤ 3 minute profile")
    parser.add_argument("--only", default=",".join(DEFAULT_SECTIONS),
                        help=f"comma-separated sections ({', '.join(SECTIONS)}; default: all but soak)")
    parser.add_argument("--reps", type=int, help="override the number of interleaved repetitions")
    parser.add_argument("--render", metavar="JSON", help="only print the Markdown tables of a saved result")
    args = parser.parse_args()
    if args.render:
        print(report.markdown(json.loads(Path(args.render).read_text())))
        return 0
    profile = QUICK if args.quick else FULL
    if args.reps:
        profile = Profile(**{**profile.__dict__, "reps": args.reps})
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    require_root()
    sigterm_as_interrupt()
    started = time.monotonic()
    missing = {t: why for t, why in TOOLS.items() if shutil.which(t) is None}
    results: dict[str, Any] = {
        "profile": profile.name, "reps": profile.reps, "profile_settings": profile.__dict__,
        "command": "sudo make bench-quick" if args.quick else "sudo make bench",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": report.machine(), "agent": str(EUNOMIA),
        "load_average_at_start": os.getloadavg(),
        "bpf_stats_enabled_at_start": bpfstats.SYSCTL.read_text().strip(),
        "missing_tools": missing, "errors": {}, "section_seconds": {},
    }
    if "docker" in missing:
        raise SystemExit("docker is missing: make bench-deps")
    workdir = Path(tempfile.mkdtemp(prefix="eunomia-bench-"))
    status = 0
    try:
        with Deadline(profile.budget_s):
            build_images()
            with Testbed(lifetime_s=profile.budget_s + 120) as bed:
                steps: dict[str, Callable[[], Any]] = {
                    "startup": lambda: startup_times(profile.startup_runs, _get_infos(results, "eunomia-default")),
                    "matrix": lambda: matrix.run(bed, profile, workdir),
                    "bpf": lambda: bpf_section(bed, profile, workdir),
                    "storms": lambda: [storms.max_rate(bed, kind, profile.storm_step_s, profile.storm_max_rate, workdir)
                                       for kind in ("exec", "file", "net")],
                    "cost": lambda: storms.agent_cost(bed, profile.rates, profile.rates_step_s, workdir),
                    "cost_rules": lambda: storms.agent_cost(bed, profile.rates, profile.rates_step_s, workdir,
                                                            rules=FALCO_RULES),
                    "userspace": lambda: userspace.measure(bed, profile.userspace_records),
                    "soak": lambda: soak.soak(bed, profile.soak_s, 1000, profile.soak_grace_s, workdir),
                }
                keys = {"startup": "startup", "matrix": "matrix", "bpf": "bpf_stats", "storms": "storms",
                        "cost": "agent_cost", "cost_rules": "agent_cost_rules", "userspace": "userspace",
                        "soak": "soak"}
                for section in SECTIONS:
                    if section not in only:
                        continue
                    log(f"== {section}")
                    t0 = time.monotonic()
                    try:
                        results[keys[section]] = steps[section]()
                    except Exception as exc:  # noqa: BLE001 - one section failing must not lose the others
                        results["errors"][section] = f"{type(exc).__name__}: {exc}"
                        log(f"{section} failed: {type(exc).__name__}: {exc}")
                    results["section_seconds"][section] = round(time.monotonic() - t0, 1)
    except (KeyboardInterrupt, BudgetExceeded) as exc:
        results["incomplete"] = f"{type(exc).__name__}: {exc}"
        log(f"stopped: {results['incomplete']}; containers removed, tools stopped; saving what was measured")
        status = 130 if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    results["total_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = report.targets(results)
    path = report.save(results, quick=args.quick, only=None if set(only) == set(DEFAULT_SECTIONS) else only)
    print(report.markdown(results))
    print(f"\nSaved {path.relative_to(ROOT)} in {results['total_seconds']:.0f} s.")
    return status


if __name__ == "__main__":
    sys.exit(main())
