"""How long and how often: the full profile (`make bench`) and the quick one
(`make bench-quick`, at most 3 minutes on a 2-vCPU VM)."""

from __future__ import annotations

from dataclasses import dataclass

ALL_CONDITIONS = ("alone", "eunomia-default", "eunomia-syscall", "bpftrace", "auditd", "strace")


@dataclass(frozen=True)
class Profile:
    name: str
    reps: int                          # interleaved repetitions (medians over them)
    loop_s: float                      # one run of the syscall loop
    nginx_s: int                       # one wrk run (whole seconds)
    exec_s: float                      # one run of the exec storm
    # conditions each workload runs under ("loop" always gets all of them)
    nginx_conditions: tuple[str, ...]  # (may include the floor of one program per direction)
    exec_conditions: tuple[str, ...]
    host_conditions: tuple[str, ...]   # the loop on the host (per-syscall cost outside containers)
    floors: tuple[str, ...]            # empty-hook floors (matrix.FLOOR): container and host loops
    storm_step_s: float                # one step of the paced storms (rate doubled each step)
    storm_max_rate: int
    rates: tuple[int, ...]             # agent CPU%/RSS at these file-storm rates (0 = idle)
    rates_step_s: float
    bpf_stats_s: float                 # loop run while kernel.bpf_stats_enabled=1
    bpf_filtered_window: bool          # also a second agent (-c another container) for that window
    startup_runs: int
    userspace_records: int             # records replayed through the decoder per tracker
    soak_s: float                      # `eunomia run` while containers come and go (--only soak)
    soak_grace_s: float                # how long an exited container keeps its series there
    budget_s: int                      # the whole run is cut off after this


FULL = Profile(
    name="full", reps=5, loop_s=3.0, nginx_s=4, exec_s=3.0,
    nginx_conditions=(*ALL_CONDITIONS, "empty-sys_enter+sys_exit"), exec_conditions=ALL_CONDITIONS,
    host_conditions=("alone", "eunomia-default", "eunomia-syscall"),
    floors=("empty-sys_enter", "empty-sys_exit", "empty-sys_enter+sys_exit"),
    storm_step_s=2.0, storm_max_rate=1 << 20, rates=(0, 1000, 10000, 50000, 100000), rates_step_s=10.0,
    bpf_stats_s=3.0, bpf_filtered_window=True, startup_runs=5, userspace_records=300_000, soak_s=600, soak_grace_s=60, budget_s=1500,
)

QUICK = Profile(
    name="quick", reps=3, loop_s=0.8, nginx_s=1, exec_s=0.8,
    nginx_conditions=("alone", "eunomia-default", "eunomia-syscall", "empty-sys_enter+sys_exit"),
    exec_conditions=("alone", "eunomia-default"),
    host_conditions=("alone", "eunomia-default", "eunomia-syscall"),
    floors=("empty-sys_enter", "empty-sys_enter+sys_exit"),
    storm_step_s=0.5, storm_max_rate=1 << 20, rates=(0, 1000, 10000, 50000), rates_step_s=1.2,
    bpf_stats_s=0.8, bpf_filtered_window=True, startup_runs=3, userspace_records=60_000, soak_s=90, soak_grace_s=15, budget_s=170,
)
