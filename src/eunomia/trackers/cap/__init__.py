"""cap: capability checks — granted or denied, by process and container.

Every check is counted in the kernel; only the first check of a
(process, capability, outcome, credentials) is streamed (see cap.bpf.c),
and the `aggregates` hook reads the totals per container when tracing ends.
Each check carries the syscall the process was executing (none for a page
fault) and whether the credentials checked were the process's own or
borrowed (overlayfs' mounter credentials, another task's).
"""

from __future__ import annotations

from typing import Any, Callable

from eunomia.context.model import container_fields
from eunomia.trackers import TrackerDef
from eunomia.trackers.syscall import syscall_name

from .names import cap_name
from .probes import probe_ranges_knob

NO_SYSCALL = -1
CREDENTIALS = ("own", "borrowed")  # cap_credentials / cap_count_key.borrowed


def syscall_of(number: int) -> str | None:
    """The syscall being executed during a check; None outside a syscall."""
    return None if number < 0 else syscall_name(number)


def credentials_of(borrowed: int) -> str:
    return CREDENTIALS[1 if borrowed else 0]


def _check_order(check: dict[str, Any]) -> tuple[Any, ...]:
    # by process, then syscall (outside a syscall first), then own before borrowed
    syscall = check["syscall"]
    return (check["process"], syscall is not None, syscall or "", CREDENTIALS.index(check["credentials"]),
            check.get("probe", False))


def totals_by_container(entries: list[tuple[dict[str, Any], list[int]]],
                        container_of: Callable[[int], Any]) -> dict[str, tuple[Any, dict[int, dict[str, Any]]]]:
    """container id → (container, {cap number → {granted, denied, processes, checks}}),
    CPUs and the container's cgroups summed; checks keyed by (process, syscall, credentials)."""
    found: dict[str, tuple[Any, dict[int, dict[str, Any]]]] = {}
    for key, per_cpu in entries:  # struct cap_count_key → per-CPU counts
        n = sum(per_cpu)
        if not n:
            continue
        container = container_of(key["cgroup_id"])
        _, caps = found.setdefault(container.id, (container, {}))
        slot = caps.setdefault(key["cap"], {"granted": 0, "denied": 0, "processes": set(), "checks": {}})
        outcome = "granted" if key["granted"] else "denied"
        slot[outcome] += n
        slot["processes"].add(key["comm"])
        where = (key["comm"], syscall_of(key["syscall"]), credentials_of(key["borrowed"]), bool(key["probe"]))
        check = slot["checks"].setdefault(where, {"process": where[0], "syscall": where[1],
                                                  "credentials": where[2], "probe": where[3],
                                                  "granted": 0, "denied": 0})
        check[outcome] += n
    return found


def capability_record(container: dict[str, Any], caps: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The aggregate record of one container, capabilities in kernel order."""
    return {
        "type": "capabilities",
        "container": container,
        "capabilities": {cap_name(cap): {"granted": c["granted"], "denied": c["denied"],
                                         "processes": sorted(c["processes"]),
                                         "checks": sorted(c["checks"].values(), key=_check_order)}
                         for cap, c in sorted(caps.items())},
    }


def aggregates(obj: Any, registry: Any) -> list[dict[str, Any]]:
    """Per container: each capability checked, how often granted and denied,
    by which processes (names), and where (process, syscall, credentials)."""
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
        "syscall": "capability.syscall",
        "credentials": "capability.credentials",
        "probe": "capability.probe",
        "result": "result",
    },
    knobs=lambda: {"targ_probe_ranges": probe_ranges_knob()},
    formatters={"eun_cap": cap_name, "cap_bool": bool, "cap_syscall": syscall_of,
                "cap_credentials": credentials_of},
    aggregates=aggregates,
)
