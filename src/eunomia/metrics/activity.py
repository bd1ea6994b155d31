"""Per container, what its streamed events showed, counted as they pass.

One dict increment per counted event, on the pump's thread; everything the
kernel already counts (bytes per file, syscalls) is read from its maps at
scrape time instead (collector.py).  Labels stay bounded: a peer is a
container's name (addresses outside the host are one value, ""), a
capability or signal is one of a fixed set, a path is never a label.

The container runtime's own set-up inside a container (runc's stages, in
its cgroup before the container's program starts) is not the container's
behaviour and is not counted, as in a recording's report.

A container that exited leaves the series `grace` seconds after it was
seen gone, so a dashboard still shows its last minutes; its kernel-counted
series (collector.py) go with it, as it is then `forgotten`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..context.model import is_runtime_setup

Event = dict[str, Any]
Key = tuple[str, ...]
WRITE_FLAGS = frozenset(("write", "create", "truncate", "append", "tmpfile"))
DEFAULT_GRACE_SECONDS = 300.0
# programs counted as shells (by the name the kernel gives the process at exec:
# the basename of the file run, so busybox's /bin/sh is "sh")
SHELLS = frozenset(("sh", "ash", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox"))


def _exec(event: Event) -> tuple[Key, ...]:
    if event.get("result") != 0:
        return (("exec_failures",),)
    name = (event.get("process") or {}).get("name")
    if name in SHELLS:  # a shell is a process start too
        return ("process_starts",), ("shell_starts", name)
    return (("process_starts",),)


def _open(event: Event) -> tuple[Key, ...]:
    flags = (event.get("file") or {}).get("flags") or ()
    access = "write" if WRITE_FLAGS.intersection(flags) else "read"
    failed = isinstance(event.get("result"), str)
    return (("file_open_failures", access) if failed else ("file_opens", access),)


def _connect(event: Event) -> tuple[Key, ...]:
    peer = (event.get("destination") or {}).get("container") or ""
    return (("tcp_connections", peer) if event.get("result") == 0 else ("tcp_connect_failures", peer),)


def _capability(event: Event) -> tuple[Key, ...]:
    cap = event.get("capability") or {}
    return (("capability_checks", str(cap.get("name")), "true" if cap.get("granted") else "false"),)


def _signal(event: Event) -> tuple[Key, ...]:
    return (("signals_sent", str((event.get("signal") or {}).get("name"))),)


# event type → the counter keys it adds one to
COUNTED: dict[str, Callable[[Event], tuple[Key, ...]]] = {
    "exec": _exec, "open": _open, "connect": _connect, "capability": _capability, "signal": _signal,
}


@dataclass
class ContainerActivity:
    name: str | None
    image: str | None
    counts: dict[Key, int] = field(default_factory=dict)
    gone_since: float | None = None


FORGOTTEN_LIMIT = 65536  # exited containers remembered as gone (oldest forgotten first)


class Activity:
    def __init__(self, grace: float = DEFAULT_GRACE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace, self.clock = grace, clock
        self._by_id: dict[str, ContainerActivity] = {}
        self._forgotten: dict[str, None] = {}  # ids whose series left (an ordered set)

    def has(self, container_id: str) -> bool:
        return container_id in self._by_id

    def is_forgotten(self, container_id: str) -> bool:
        return container_id in self._forgotten

    def touch(self, container_id: str, name: str | None, image: str | None) -> None:
        """A container known from the kernel's counts only: pruned like the others."""
        if container_id not in self._by_id and container_id not in self._forgotten:
            self._by_id[container_id] = ContainerActivity(name, image)

    def observe(self, event: Event) -> None:
        count = COUNTED.get(event["type"])
        if count is None or is_runtime_setup(event):
            return
        container = event["container"]
        entry = self._by_id.get(container["id"])
        if entry is None:
            entry = self._by_id[container["id"]] = ContainerActivity(container["name"], container["image"])
            self._forgotten.pop(container["id"], None)  # back (a restart after the grace)
        elif entry.name is None and container["name"] is not None:  # named late
            entry.name, entry.image = container["name"], container["image"]
        counts = entry.counts
        for key in count(event):
            counts[key] = counts.get(key, 0) + 1

    def observe_alert(self, container: dict[str, Any]) -> None:
        """A rule fired for this container (shown in the live view; the metric is the engine's)."""
        entry = self._by_id.get(container.get("id") or "")
        if entry is not None:
            entry.counts[("alerts",)] = entry.counts.get(("alerts",), 0) + 1

    def prune(self, exited: Callable[[str], bool]) -> list[str]:
        """Forget containers that exited more than `grace` seconds ago; returns their ids."""
        now = self.clock()
        forgotten = []
        for container_id, entry in list(self._by_id.items()):
            if not exited(container_id):
                entry.gone_since = None
            elif entry.gone_since is None:
                entry.gone_since = now
            elif now - entry.gone_since >= self.grace:
                del self._by_id[container_id]
                self._forgotten[container_id] = None
                forgotten.append(container_id)
                if len(self._forgotten) > FORGOTTEN_LIMIT:
                    del self._forgotten[next(iter(self._forgotten))]
        return forgotten

    def snapshot(self) -> dict[str, ContainerActivity]:
        """A copy to read while the pump goes on."""
        return {cid: ContainerActivity(e.name, e.image, dict(e.counts), e.gone_since)
                for cid, e in list(self._by_id.items())}

    def __len__(self) -> int:
        return len(self._by_id)
