"""Podman's containers (Debian's podman, with runc: crun refuses this host's
hybrid cgroups) are named, attributed and selected like Docker's.

Podman 4.3's OCI spec names neither the container nor its image:
containers/storage's index does (context/storage.py).  There is no Podman
event stream here, so a `-c NAME` of a Podman container that starts later is
matched when its cgroup appears."""

from __future__ import annotations

import subprocess
from typing import Iterator

import pytest

from .conftest import IMAGE, events_of, unique

pytestmark = pytest.mark.integration
# the host lacks CAP_SYS_RESOURCE: Podman's default ulimits cannot be set
PODMAN_RUN = ["podman", "--runtime", "runc", "run", "--network", "none",
              "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
PODMAN_IMAGE = f"docker.io/{IMAGE}:latest"


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module", autouse=True)
def podman_image(docker_daemon) -> None:
    """The test image, copied from the Docker daemon (nothing is pulled from a registry)."""
    podman("pull", "-q", f"docker-daemon:{IMAGE}:latest")


@pytest.fixture
def pods() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    if names:
        podman("rm", "-f", *names, check=False)


def _run(pods: list[str], name: str, *command: str, detach: bool = False) -> subprocess.CompletedProcess:
    pods.append(name)
    return subprocess.run([*PODMAN_RUN, *(["-d"] if detach else []), "--name", name, PODMAN_IMAGE, *command],
                          capture_output=True, text=True, timeout=120)


def test_a_running_podman_container_is_named_selected_and_the_other_excluded(tracer, pods):
    name, other = unique("pod"), unique("podother")
    assert _run(pods, name, "sleep", "120", detach=True).returncode == 0
    cid = podman("inspect", "--format", "{{.Id}}", name).stdout.strip()
    agent = tracer("exec", "-c", name)      # found by name as tracing starts
    assert podman("exec", name, "/bin/cat", "/etc/hostname").returncode == 0
    assert _run(pods, other, "/bin/true").returncode == 0
    events, _ = agent.stop()
    execs = events_of(events, type="exec")
    assert [(e["container"]["id"], e["process"]["args"]) for e in execs] == [(cid, ["/bin/cat", "/etc/hostname"])]
    container = execs[0]["container"]
    assert (container["name"], container["image"], container["runtime"]) == (name, PODMAN_IMAGE, "podman")


def test_a_podman_container_that_starts_later_is_recorded_from_its_first_exec(tracer, pods):
    name, other = unique("podlate"), unique("podother")
    agent = tracer("-c", name, "-t", "exec", "--metrics", "off", "--events", command="run")
    assert _run(pods, name, "sh", "-c", "/bin/cat /etc/hostname").returncode == 0
    assert _run(pods, other, "/bin/true").returncode == 0
    events, _ = agent.stop()
    execs = events_of(events, type="exec")
    workload = [(e["container"]["name"], e["container"]["runtime"], e["process"]["args"]) for e in execs
                if not e["process"].get("runtime_setup")]       # runc's own `runc init` is marked
    assert workload == [(name, "podman", ["sh", "-c", "/bin/cat /etc/hostname"]),
                        (name, "podman", ["/bin/cat", "/etc/hostname"])]
    assert all(e["container"]["name"] == name for e in execs)   # nothing of the other one
