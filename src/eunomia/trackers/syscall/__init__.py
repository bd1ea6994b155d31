"""syscall: per-container syscall counts, aggregated in a kernel map."""

from __future__ import annotations

import struct
from typing import Any

from eunomia import syscalls
from eunomia.context.model import container_fields
from eunomia.trackers import TrackerDef


def syscall_name(number: int) -> str:
    """Name from libseccomp's table; unknown numbers stay visible as such."""
    try:
        return syscalls.name_of(number)
    except syscalls.UnknownSyscallError:
        return f"unknown_{number}"


def read_counts(obj: Any) -> dict[int, dict[int, int]]:
    """cgroup id → {syscall number: count}, CPUs summed, slots and fallback merged."""
    counts: dict[int, dict[int, int]] = {}
    slots = dict(obj.maps["cgroup_slots"].records())
    per_slot = dict(obj.maps["slot_counts"].records())
    for cgroup_id, slot in slots.items():
        mine = counts.setdefault(cgroup_id, {})
        for cpu_value in per_slot.get(slot, []):
            raw = cpu_value["n"]  # __u64 n[SYSCALL_NR_MAX]
            for nr, n in enumerate(struct.unpack(f"<{len(raw) // 8}Q", raw)):
                if n:
                    mine[nr] = mine.get(nr, 0) + n
    for key, per_cpu in obj.maps["syscall_counts"].records():
        mine = counts.setdefault(key["cgroup_id"], {})
        mine[key["nr"]] = mine.get(key["nr"], 0) + sum(per_cpu)
    return counts


def aggregates(obj: Any, registry: Any) -> list[dict[str, Any]]:
    """One record per container: {syscall name: count}, sub-cgroups summed."""
    container_of = registry.container_of
    containers: dict[str, Any] = {}
    counts: dict[str, dict[int, int]] = {}
    for cgroup_id, by_number in read_counts(obj).items():
        container = containers.setdefault(container_of(cgroup_id).id, container_of(cgroup_id))
        mine = counts.setdefault(container.id, {})
        for nr, n in by_number.items():
            mine[nr] = mine.get(nr, 0) + n
    records = []
    for container_id, by_number in counts.items():
        if not by_number:
            continue
        ordered = sorted(by_number.items(), key=lambda kv: (-kv[1], kv[0]))
        records.append({"type": "syscalls", "container": container_fields(containers[container_id]),
                        "syscalls": {syscall_name(nr): n for nr, n in ordered},
                        "total": sum(by_number.values())})
    return records


TRACKER = TrackerDef(
    name="syscall",
    summary="per-container syscall counts, aggregated in the kernel (printed when tracing ends)",
    needs=("raw_tracepoint",),
    ringbuf_bytes=4096 * 4,
    streaming=False,
    aggregates=aggregates,
)
