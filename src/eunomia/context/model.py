"""What the context layer knows about containers and processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HOST = "host"  # container id of processes that are in no container


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

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def display_name(self) -> str:
        """The name when known, else the short id (metadata may be missing)."""
        return self.name or self.short_id


HOST_CONTAINER = Container(id=HOST)  # display_name: "host"


def container_fields(c: Container) -> dict[str, object]:
    """The `container` object of every event and record."""
    return {"id": c.id, "name": c.name, "image": c.image, "runtime": c.runtime,
            "pod": c.pod, "namespace": c.namespace}


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


def is_runtime_setup(event: dict[str, Any]) -> bool:
    """Work the container runtime did inside the container's cgroup."""
    return is_runtime_process((event.get("process") or {}).get("name"))
