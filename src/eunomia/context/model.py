"""What the context layer knows about containers and processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HOST = "host"  # container id of processes that are in no container
_SHOWN = frozenset({"id", "name", "image", "runtime", "pod", "namespace"})  # container_fields' keys


@dataclass(frozen=True)
class CgroupRef:
    """A container named by a cgroup path: which runtime, which container."""

    runtime: str               # "docker", "containerd", "cri-o", "podman"
    container_id: str          # 64 lowercase hex digits
    pod_uid: str | None = None  # kubepods layouts: the pod's UID


@dataclass
class Container:
    """A container's identity and metadata (from its runtime)."""

    id: str                    # full 64-hex id, or HOST
    runtime: str | None = None
    name: str | None = None
    image: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    pod: str | None = None
    namespace: str | None = None
    cgroup_path: str | None = None
    ips: list[str] = field(default_factory=list)      # addresses on its networks
    # published ports: (protocol "tcp"/"udp", host port) → container port
    published: dict[tuple[str, int], int] = field(default_factory=dict)
    started: str | None = None  # RFC 3339, when the runtime started it
    privileged: bool | None = None  # run with --privileged (None: the runtime does not say)
    # (version, block): the `container` object of its events, built once per version
    _block: tuple[int, dict[str, object]] | None = field(default=None, init=False, repr=False, compare=False)
    _version: int = field(default=0, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _SHOWN:  # after the value: a block read meanwhile carries the old version
            object.__setattr__(self, "_version", self.__dict__.get("_version", 0) + 1)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def display_name(self) -> str:
        """The name when known, else the short id (metadata may be missing)."""
        return self.name or self.short_id


HOST_CONTAINER = Container(id=HOST)  # display_name: "host"


def container_fields(c: Container) -> dict[str, object]:
    """The `container` object of every event and record: one dict per
    version of the container, shared by its events (which nobody edits).
    The version is read before the fields, so a block built while another
    thread changed the container is never served after the change."""
    cached = c._block
    version = c._version
    if cached is not None and cached[0] == version:
        return cached[1]
    block = {"id": c.id, "name": c.name, "image": c.image, "runtime": c.runtime,
             "pod": c.pod, "namespace": c.namespace}
    c._block = (version, block)
    return block


# runc runs in the container's cgroup while it sets the container up (mounts
# under /var/lib/docker, /proc/<pid>/…), first as `runc`, then as the stages
# it names runc:[0:PARENT], runc:[1:CHILD], runc:[2:INIT] until the last one
# execs the container's program; again for each `docker exec`
RUNTIME_PROCESS_NAMES = ("runc",)
RUNTIME_PROCESS_PREFIXES = ("runc:[",)


def is_runtime_process(name: str | None) -> bool:
    """Is this comm the container runtime's own set-up?"""
    name = name or ""
    return name in RUNTIME_PROCESS_NAMES or name.startswith(RUNTIME_PROCESS_PREFIXES)


def split_checks(checks: list[dict[str, Any]], show_runtime: bool = False
                 ) -> tuple[list[dict[str, Any]], int, int]:
    """A capability's checks (docs/events.md, `capabilities`) → (the
    decisions of the container's own processes, how many checks only probed,
    how many were the runtime's set-up).  show_runtime: the runtime's
    decisions are kept with the others."""
    decided: list[dict[str, Any]] = []
    probes = runtime = 0
    for check in checks:
        n = (check.get("granted") or 0) + (check.get("denied") or 0)
        if check.get("probe"):
            probes += n
        elif not show_runtime and is_runtime_process(check.get("process")):
            runtime += n
        else:
            decided.append(check)
    return decided, probes, runtime


def is_runtime_setup(event: dict[str, Any]) -> bool:
    """Work the container runtime did inside the container's cgroup (events
    say so as process.runtime_setup; older recordings by the name only)."""
    process = event.get("process") or {}
    return bool(process.get("runtime_setup")) or is_runtime_process(process.get("name"))
