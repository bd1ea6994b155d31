"""The seccomp profile a container needs, from its recordings.

Allowed: every syscall the container's processes made from its first exec
on (the `syscalls` of each report), the runtime's own calls after it
installed the filter (each report's `runtime_syscalls`), and the runtime
set measured on this machine (runtime.py), so a profile made from a
recording of an older eunomia still starts.  Everything else fails with
EPERM (`defaultAction: SCMP_ACT_ERRNO`, `defaultErrnoRet: 1`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import syscalls
from ..baseline.behaviour import Behaviour
from . import AdviceError
from .inputs import RecordedContainer
from .runtime import RUNTIME_AFTER_FILTER

# uname -m → libseccomp's name of the native ABI
ARCHITECTURES = {
    "x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "arm64": "SCMP_ARCH_AARCH64",
    "i386": "SCMP_ARCH_X86", "i686": "SCMP_ARCH_X86", "armv7l": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64",
}
UNKNOWN_NAME = re.compile(r"^unknown_(\d+)$")
SYSCALL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ENOSYS = 38
# Syscalls a program probes and falls back from only on ENOSYS: glibc 2.34+
# creates threads with clone3 and uses clone only when clone3 returns
# ENOSYS (Docker's default profile answers it so, to keep namespace flags
# filterable).  Under a profile that leaves them out they must fail with
# ENOSYS, not EPERM — and a filter-refused call never reaches the syscall
# tracker, so a recording made under Docker's default profile cannot show them.
ENOSYS_FALLBACKS = ("clone3",)
K8S_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")


@dataclass
class SeccompAdvice:
    architectures: list[str]
    workload: dict[str, int]     # syscall → calls, all recordings together
    runtime: set[str]            # the runtime's calls after its filter

    @property
    def names(self) -> list[str]:
        return sorted(set(self.workload) | self.runtime)


def advise_seccomp(recorded: list[RecordedContainer]) -> SeccompAdvice:
    architectures: list[str] = []
    workload: dict[str, int] = {}
    runtime = set(RUNTIME_AFTER_FILTER)
    for one in recorded:
        arch = ARCHITECTURES.get(one.machine)
        if arch is None:
            raise AdviceError(f"{one.directory}: recorded on a {one.machine!r} machine, for which no seccomp "
                              "architecture is known")
        if arch not in architectures:
            architectures.append(arch)
        behaviour = Behaviour.from_report(one.report)  # what drift compares with too
        counts = behaviour.syscalls
        if not counts:
            raise AdviceError(f"{one.directory}: no syscalls were recorded for {one.name!r} (was the syscall "
                              "tracker off, or did the container not run during the recording?); record again")
        for name, n in counts.items():
            _check_name(name, one)
            workload[name] = workload.get(name, 0) + n
        for name in sorted(behaviour.runtime_syscalls):
            _check_name(name, one)
            runtime.add(name)
    return SeccompAdvice(architectures, workload, runtime)


def _check_name(name: str, one: RecordedContainer) -> None:
    """A name a profile can allow: libseccomp knows it (checked when the
    recording machine has this machine's architecture)."""
    unknown = UNKNOWN_NAME.match(name)
    if not unknown and not SYSCALL_NAME.match(name):
        raise AdviceError(f"{one.directory}: {name!r} is not a syscall name; the report is damaged: record again")
    if unknown:
        raise AdviceError(f"{one.directory}: {one.name!r} made syscall number {unknown.group(1)}, which "
                          "libseccomp does not name on the recording machine; a profile cannot allow it by "
                          "name: update libseccomp and record again")
    try:
        if ARCHITECTURES.get(one.machine) == syscalls.native_arch():
            syscalls.number_of(name)
    except syscalls.UnknownSyscallError:
        raise AdviceError(f"{one.directory}: syscall {name!r} is not known to libseccomp here; "
                          "the report is damaged: record again") from None
    except syscalls.LibseccompMissing:
        pass  # names are checked where libseccomp is installed


def _rules(advice: SeccompAdvice, errno_key: str, errno: Any) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [{"names": advice.names, "action": "SCMP_ACT_ALLOW"}]
    fallbacks = [name for name in ENOSYS_FALLBACKS if name not in advice.names]
    if fallbacks:
        rules.append({"names": fallbacks, "action": "SCMP_ACT_ERRNO", errno_key: errno})
    return rules


def oci_profile(advice: SeccompAdvice) -> dict[str, Any]:
    """The profile as Docker (`--security-opt seccomp=FILE`) and OCI runtimes read it."""
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": list(advice.architectures),
        "syscalls": _rules(advice, "errnoRet", ENOSYS),
    }


def k8s_name(container: str) -> str:
    """A Kubernetes object name (RFC 1123 label) for the container's profile."""
    name = K8S_NAME_UNSAFE.sub("-", container.lower()).strip("-")[:63].strip("-")
    return name or "container"


def k8s_profile(advice: SeccompAdvice, container: str, namespace: str | None) -> dict[str, Any]:
    """A security-profiles-operator SeccompProfile.  Its spec has no
    defaultErrnoRet: runtimes return EPERM for SCMP_ACT_ERRNO without one."""
    metadata: dict[str, Any] = {"name": k8s_name(container)}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "security-profiles-operator.x-k8s.io/v1beta1",
        "kind": "SeccompProfile",
        "metadata": metadata,
        "spec": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": list(advice.architectures),
            "syscalls": _rules(advice, "errnoRet", str(ENOSYS)),  # the operator's errnoRet is a string
        },
    }


def k8s_security_context(container: str, namespace: str | None) -> dict[str, Any]:
    """The pod's (or container's) securityContext that uses the profile:
    the operator installs it on each node as operator/<namespace>/<name>.json."""
    return {"securityContext": {"seccompProfile": {
        "type": "Localhost",
        "localhostProfile": f"operator/{namespace or 'default'}/{k8s_name(container)}.json"}}}
