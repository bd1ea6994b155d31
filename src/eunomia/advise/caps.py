"""The capabilities a container needs, from its recordings.

A capability is needed when a process of the workload had a check of it
granted on its own credentials and the check was not a probe.  Left out,
with the reason kept as evidence:

- checks made by the container runtime while it set the container up
  (processes named runc and runc:[…]: they run before the workload's exec);
- checks on borrowed credentials: overlayfs copies files up and looks
  them up with the credentials of whoever mounted it (override_creds), so
  a container writing into its image shows CAP_DAC_OVERRIDE, CAP_SYS_ADMIN…
  that are the mounter's, not the container's;
- probes: checks whose outcome only tunes behaviour and never makes a
  call fail (the kernel asks them with CAP_OPT_NOAUDIT); the main one is
  the overcommit heuristic, a CAP_SYS_ADMIN check at every mmap, brk,
  fork and exec;
- checks that were only denied: the workload ran without the capability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..context.model import is_runtime_process
from ..trackers.cap.names import CAPABILITIES
from . import AdviceError
from .inputs import RecordedContainer

# Where the overcommit probe (cap_vm_enough_memory) runs: used only when a
# recording's checks carry no probe flag of their own.
MEMORY_ACCOUNTING_SYSCALLS = frozenset({
    None, "mmap", "mmap2", "brk", "mprotect", "pkey_mprotect", "mremap", "clone", "clone3", "fork", "vfork",
    "execve", "execveat", "shmget", "shmat",
})


@dataclass
class CapabilityAdvice:
    needed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # CAP → granted checks that count
    ignored: dict[str, dict[str, int]] = field(default_factory=dict)       # CAP → reason → checks

    @property
    def names(self) -> list[str]:
        return sorted(self.needed, key=_cap_order)


def _cap_order(name: str) -> tuple[int, str]:
    try:
        return CAPABILITIES.index(name), name
    except ValueError:
        return 1000, name


def not_the_workloads(cap: str, check: dict[str, Any]) -> str | None:
    """Why a check says nothing about what the workload needs, or None."""
    if is_runtime_process(check.get("process")) and check.get("syscall") not in ("execve", "execveat"):
        # runc has applied the container's capabilities before its final
        # exec: checks during that exec (e.g. of the entrypoint's file) are
        # the container's own
        return "container runtime set-up"
    if check.get("credentials") == "borrowed":
        return "borrowed credentials (overlayfs)"
    if check.get("probe") or ("probe" not in check and cap == "CAP_SYS_ADMIN"
                              and check.get("syscall") in MEMORY_ACCOUNTING_SYSCALLS):
        return "probe"
    return None


def advise_caps(recorded: list[RecordedContainer]) -> CapabilityAdvice:
    advice = CapabilityAdvice()
    for one in recorded:
        capabilities = one.report.get("capabilities") or {}
        for cap, totals in capabilities.items():
            if cap not in CAPABILITIES:
                raise AdviceError(f"{one.directory}: {cap!r} is not a capability this eunomia knows; "
                                  "the report is damaged or newer: record again with this version")
            checks = totals.get("checks")
            if checks is None:
                raise AdviceError(f"{one.directory}: the capability checks of {one.name!r} have no detail "
                                  "(a recording of an older eunomia); record again")
            for check in checks:
                reason = not_the_workloads(cap, check) or (None if check.get("granted") else "denied only")
                if reason is None:
                    advice.needed.setdefault(cap, []).append({**check, "recording": str(one.directory)})
                else:
                    reasons = advice.ignored.setdefault(cap, {})
                    reasons[reason] = reasons.get(reason, 0) + int(check.get("granted", 0)) + int(check.get("denied", 0))
    for cap in advice.needed:
        advice.ignored.pop(cap, None)
    return advice


def docker_flags(advice: CapabilityAdvice) -> list[str]:
    flags = ["--cap-drop", "ALL"]
    for cap in advice.names:
        flags += ["--cap-add", cap]
    return flags


def k8s_capabilities(advice: CapabilityAdvice) -> dict[str, Any]:
    """securityContext.capabilities; Kubernetes spells them without CAP_."""
    return {"securityContext": {"capabilities": {
        "drop": ["ALL"], "add": [cap.removeprefix("CAP_") for cap in advice.names]}}}


def evidence(advice: CapabilityAdvice, container: str) -> dict[str, Any]:
    needed = {}
    for cap in advice.names:
        checks = advice.needed[cap]
        needed[cap] = {
            "granted_checks": sum(int(c.get("granted", 0)) for c in checks),
            "processes": sorted({str(c.get("process")) for c in checks}),
            "syscalls": sorted({str(c.get("syscall")) for c in checks if c.get("syscall")}),
        }
    return {"container": container, "drop": ["ALL"], "add": advice.names, "needed": needed,
            "not_needed": {cap: dict(sorted(r.items())) for cap, r in sorted(advice.ignored.items())}}
