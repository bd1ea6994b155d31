"""syscall: per-container syscall counts, aggregated in a kernel map."""

from __future__ import annotations

from typing import Any, Callable

from eunomia import syscalls
from eunomia.trackers import TrackerDef


def syscall_name(number: int) -> str:
    """Name from libseccomp's table; unknown numbers stay visible as such."""
    try:
        return syscalls.name_of(number)
    except syscalls.UnknownSyscallError:
        return f"unknown_{number}"


def aggregates(obj: Any, container_of: Callable[[int], Any]) -> list[dict[str, Any]]:
    """One record per container: {syscall name: count}, CPUs and sub-cgroups summed."""
    from eunomia.pipeline.enrich import container_fields  # pipeline sits above trackers

    containers: dict[str, Any] = {}
    counts: dict[str, dict[int, int]] = {}
    for (cgroup_id, nr, _pad), per_cpu in obj.maps["syscall_counts"].typed("<QII", "<Q").items_batch():
        container = containers.setdefault(container_of(cgroup_id).id, container_of(cgroup_id))
        mine = counts.setdefault(container.id, {})
        mine[nr] = mine.get(nr, 0) + sum(per_cpu)
    records = []
    for container_id, by_number in counts.items():
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
