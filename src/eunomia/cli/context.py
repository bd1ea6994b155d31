"""Building the context (registry, process table, runtimes) for a command."""

from __future__ import annotations

from ..context.docker import DockerResolver, DockerUnavailable
from ..context.lookups import BackgroundLookups
from ..context.mounts import find_cgroup_mounts
from ..context.oci import OciStateResolver
from ..context.processes import ProcessTable
from ..context.registry import ContainerRegistry
from ..pipeline.session import Context
from .errors import warn


def build_context() -> Context:
    docker = DockerResolver()
    try:
        docker.connect()
    except DockerUnavailable as exc:
        warn(f"Docker is not reachable ({exc}); tracing goes on, but container names and images "
             "will be missing: start dockerd (or set DOCKER_HOST)")
    # metadata is looked up on a worker thread: the event path never waits for Docker
    oci = OciStateResolver()
    registry = ContainerRegistry([docker, oci], background=BackgroundLookups("container-lookups"))
    return Context(registry=registry, processes=ProcessTable(), mounts=find_cgroup_mounts(), docker=docker,
                   containerd_namespaces=oci.containerd_namespaces)
