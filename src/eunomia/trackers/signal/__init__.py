"""signal: processes acting on other processes — signals, ptrace requests and
connections to unix sockets, each with the other process (`target`) and its
container.

The kernel side (signal.bpf.c) explains which hook reports what; here the
records' numbers become names and the target's cgroup id its container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eunomia.context.model import container_fields
from eunomia.trackers import Handles, TrackerDef

from .names import (
    flag,
    ptrace_request_name,
    si_code_name,
    signal_result,
    unix_address,
)

if TYPE_CHECKING:
    from eunomia.context.registry import ContainerRegistry

PTRACE_TRACEME = "PTRACE_TRACEME"

# the syscall handlers: every task's calls, since a host process acting
# on a monitored container's is decided by the target
SYSCALL_HANDLERS = {f"{way}__{call}": Handles((call,), every_task=True) for way in ("enter", "exit")
                    for call in ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
                                 "pidfd_send_signal", "ptrace", "connect")}


def _place_target_container(target: dict[str, Any], registry: "ContainerRegistry") -> None:
    """target.cgroup_id (kernel) → target.container (as the event's own)."""
    cgroup_id = target.pop("cgroup_id", 0)
    if cgroup_id and (target.get("process") or {}).get("pid"):
        target["container"] = container_fields(registry.container_of(cgroup_id))


def _tidy_signal(event: dict[str, Any], reached: bool) -> None:
    sig = event.get("signal")
    if sig is None:
        return
    if reached:
        sig["code"] = si_code_name(sig.get("number", 0), sig.get("code", 0))
    else:
        # the call generated nothing: there is no siginfo, no delivery
        sig.pop("code", None)
        sig.pop("group", None)


def post_enrich(event: dict[str, Any], registry: "ContainerRegistry") -> None:
    """Present the other process: its container by name, nothing where the
    kernel knew no process (a kill() that failed, an unresolved ptrace pid)."""
    target = event.get("target")
    if target is None:
        return
    if not target.pop("has_requested_pid", True):
        target.pop("requested_pid", None)
    if (event.get("ptrace") or {}).get("request") == PTRACE_TRACEME:
        target.pop("requested_pid", None)  # the call has no pid argument
    reached = bool((target.get("process") or {}).get("pid"))
    _place_target_container(target, registry)
    if not reached:
        target.pop("process", None)
    _tidy_signal(event, reached)
    if not target:
        del event["target"]


TRACKER = TrackerDef(
    name="signal",
    summary="signals (sender, target, delivery), ptrace requests and unix-socket connects between processes",
    needs=("ringbuf", "raw_tracepoint", "bpf_loop", "tp_btf"),
    syscall_handlers=SYSCALL_HANDLERS,
    fields={
        "result": "result",
        "sig": "signal.name",
        "signo": "signal.number",
        "code": "signal.code",
        "origin": "signal.origin",
        "group": "signal.group",
        "request": "ptrace.request",
        "addr": "unix.path",
        "sock_type": "unix.socket_type",
        "target.pid": "target.process.pid",
        "target.tid": "target.process.tid",
        "target.comm": "target.process.name",
        "target.cgroup_id": "target.cgroup_id",       # → target.container (post_enrich)
        "requested_pid": "target.requested_pid",
        "has_requested_pid": "target.has_requested_pid",  # dropped (post_enrich)
    },
    formatters={
        "eun_sig_result": signal_result,
        "eun_ptrace_request": ptrace_request_name,
        "eun_unix_addr": unix_address,
        "sig_bool": flag,
    },
    post_enrich=post_enrich,
)
