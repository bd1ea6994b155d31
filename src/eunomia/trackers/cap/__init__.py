"""cap: capability checks — granted or denied, by process and container.

Every check is counted in the kernel; only the first check of a
(process, capability, outcome) is streamed (see cap.bpf.c), and the
`aggregates` hook reads the totals per container when tracing ends.
"""

from __future__ import annotations

from typing import Any, Callable

from eunomia.context.model import container_fields
from eunomia.trackers import TrackerDef

from .names import cap_name

def totals_by_container(entries: list[tuple[tuple[int, int, int, bytes], list[int]]],
                        container_of: Callable[[int], Any]) -> dict[str, tuple[Any, dict[int, dict[str, Any]]]]:
    """container id → (container, {cap number → {granted, denied, processes}}),
    CPUs and the container's cgroups summed."""
    found: dict[str, tuple[Any, dict[int, dict[str, Any]]]] = {}
    for key, per_cpu in entries:  # struct cap_count_key → per-CPU counts
        container = container_of(key["cgroup_id"])
        _, caps = found.setdefault(container.id, (container, {}))
        slot = caps.setdefault(key["cap"], {"granted": 0, "denied": 0, "processes": set()})
        slot["granted" if key["granted"] else "denied"] += sum(per_cpu)
        slot["processes"].add(key["comm"])
    return found


def capability_record(container: dict[str, Any], caps: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The aggregate record of one container, capabilities in kernel order."""
    return {
        "type": "capabilities",
        "container": container,
        "capabilities": {cap_name(cap): {"granted": c["granted"], "denied": c["denied"],
                                         "processes": sorted(c["processes"])}
                         for cap, c in sorted(caps.items())},
    }


def aggregates(obj: Any, registry: Any) -> list[dict[str, Any]]:
    """Per container: each capability checked, how often granted and denied,
    by which processes (names)."""
    entries = obj.maps["cap_counts"].records()
    return [capability_record(container_fields(container), caps)
            for container, caps in totals_by_container(entries, registry.container_of).values()]


TRACKER = TrackerDef(
    name="cap",
    summary="capability checks (granted/denied) by process and container; totals when tracing ends",
    needs=("ringbuf", "raw_tracepoint"),
    fields={
        "cap": "capability.name",
        "cap_number": "capability.number",
        "granted": "capability.granted",
        "result": "result",
    },
    formatters={"eun_cap": cap_name, "cap_bool": bool},
    aggregates=aggregates,
)
