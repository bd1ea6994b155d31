"""syscall: per-container syscall counts, aggregated in kernel maps; kernel
module load and mount attempts streamed as `module` and `mount` events.

Two sets per container (see syscall.bpf.c): the workload's calls (every
task but the runtime's set-up tasks) and the runtime's calls made under the
container's seccomp filter (runc:[2:INIT] finishing the set-up: capset,
setuid, prctl, the final execve, …).  With the knob targ_failures, also the
calls that returned -EPERM.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from eunomia import syscalls
from eunomia.context.model import container_fields
from eunomia.trackers import Handles, TrackerDef

Counts = dict[int, dict[int, int]]  # cgroup id → {syscall number: count}


def syscall_name(number: int) -> str:
    """Name from libseccomp's table; unknown numbers stay visible as such."""
    try:
        return syscalls.name_of(number)
    except syscalls.UnknownSyscallError:
        return f"unknown_{number}"


def _add(counts: Counts, cgroup_id: int, nr: int, n: int) -> None:
    if n:
        mine = counts.setdefault(cgroup_id, {})
        mine[nr] = mine.get(nr, 0) + n


def read_keyed(obj: Any, map_name: str) -> Counts:
    """A per-CPU hash of struct syscall_key → count, CPUs summed."""
    counts: Counts = {}
    for key, per_cpu in obj.maps[map_name].records():
        _add(counts, key["cgroup_id"], key["nr"], sum(per_cpu))
    return counts


def read_counts(obj: Any) -> Counts:
    """The workload's calls: CPUs summed, slots and fallback merged."""
    counts: Counts = {}
    slots = dict(obj.maps["cgroup_slots"].records())
    per_slot = dict(obj.maps["slot_counts"].records())
    for cgroup_id, slot in slots.items():
        counts.setdefault(cgroup_id, {})
        for cpu_value in per_slot.get(slot, []):
            raw = cpu_value["n"]  # __u64 n[SYSCALL_NR_MAX]
            for nr, n in enumerate(struct.unpack(f"<{len(raw) // 8}Q", raw)):
                _add(counts, cgroup_id, nr, n)
    for cgroup_id, by_number in read_keyed(obj, "syscall_counts").items():
        for nr, n in by_number.items():
            _add(counts, cgroup_id, nr, n)
    return counts


def unfiltered_runtime_calls(obj: Any) -> int:
    """How many calls the runtime's set-up made before the seccomp filter (not counted by name)."""
    return sum(sum(per_cpu) for _, per_cpu in obj.maps["unfiltered_runtime_calls"].records())


def by_container(counts: Counts, container_of: Callable[[int], Any],
                 containers: dict[str, Any]) -> dict[str, dict[int, int]]:
    """container id → {number: count}, the container's cgroups summed;
    `containers` collects the containers met (id → container)."""
    found: dict[str, dict[int, int]] = {}
    for cgroup_id, by_number in counts.items():
        container = container_of(cgroup_id)
        containers.setdefault(container.id, container)
        mine = found.setdefault(container.id, {})
        for nr, n in by_number.items():
            mine[nr] = mine.get(nr, 0) + n
    return found


def named(by_number: dict[int, int]) -> dict[str, int]:
    """{name: count}, most frequent first (then by number).  Two numbers
    never share a name in libseccomp's table; unknown_<n> keeps them apart."""
    ordered = sorted(by_number.items(), key=lambda kv: (-kv[1], kv[0]))
    return {syscall_name(nr): n for nr, n in ordered if n}


def syscall_records(workload: Counts, runtime: Counts, eperm: Counts,
                    container_of: Callable[[int], Any]) -> list[dict[str, Any]]:
    """The aggregate records: one `syscalls` per container that made calls,
    one `syscall_failures` per container with calls that returned -EPERM."""
    containers: dict[str, Any] = {}
    mine = by_container(workload, container_of, containers)
    theirs = by_container(runtime, container_of, containers)
    failed = by_container(eperm, container_of, containers)
    records = []
    for container_id in [*mine, *(c for c in theirs if c not in mine)]:
        calls, runtime_calls = mine.get(container_id, {}), theirs.get(container_id, {})
        if not any(calls.values()) and not any(runtime_calls.values()):
            continue
        records.append({"type": "syscalls", "container": container_fields(containers[container_id]),
                        "syscalls": named(calls), "runtime_syscalls": named(runtime_calls),
                        "total": sum(calls.values())})
    for container_id, by_number in failed.items():
        if any(by_number.values()):
            records.append({"type": "syscall_failures", "container": container_fields(containers[container_id]),
                            "eperm": named(by_number)})
    return records


def aggregates(obj: Any, registry: Any) -> list[dict[str, Any]]:
    """Per container: the workload's and the runtime's calls by name; the
    calls that returned -EPERM when targ_failures was on."""
    return syscall_records(read_counts(obj), read_keyed(obj, "runtime_syscall_counts"),
                           read_keyed(obj, "eperm_counts"), registry.container_of)


# the attempts streamed (attempts.h): the calls of monitored tasks
SYSCALL_HANDLERS = {f"enter__{call}": Handles((call,))
                    for call in ("init_module", "finit_module", "mount", "umount2")}


TRACKER = TrackerDef(
    name="syscall",
    summary="per-container syscall counts, aggregated in the kernel (printed when tracing ends); "
            "kernel module load and mount attempts as events",
    needs=("ringbuf", "raw_tracepoint", "bpf_loop", "tp_btf"),
    ringbuf_bytes=256 << 10,
    streaming=False,
    syscall_handlers=SYSCALL_HANDLERS,
    fields={
        "module_call": "module.syscall",
        "file": "module.file",
        "params": "module.params",
        "mount_call": "mount.syscall",
        "source": "mount.source",
        "target": "mount.target",
        "fstype": "mount.fstype",
        "flags": "mount.flags",
    },
    formatters={"eun_syscall": syscall_name},
    aggregates=aggregates,
)
