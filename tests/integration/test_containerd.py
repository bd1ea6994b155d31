"""containerd's own containers (`ctr run`, on the containerd dockerd starts:
no standalone one runs here without systemd) are named, attributed and
selected like Docker's.

`ctr run`'s cgroup is /<namespace>/<id> with an id that need not be hex;
the kernel side knows the namespaces user space found and takes the cgroup's
name as the id (trackers/cgroup).  Such a container is named by its id, and
containerd gives its image (context/containerd.py)."""

from __future__ import annotations

import subprocess
import uuid
from typing import Iterator

import pytest

from .conftest import IMAGE, events_of

pytestmark = pytest.mark.integration
SOCKET = "/run/docker/containerd/containerd.sock"
CTR_IMAGE = f"docker.io/{IMAGE}:latest"


def ctr(*args: str, namespace: str = "default", check: bool = True, timeout: float = 60,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ctr", "--address", SOCKET, "--namespace", namespace, *args], capture_output=True,
                          check=check, timeout=timeout, input=input)


def _ctr_id(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"   # a '.': no Docker-shaped id


@pytest.fixture(scope="module", autouse=True)
def ctr_image(docker_daemon) -> None:
    """The test image, copied from the Docker daemon into containerd's `default` namespace."""
    saved = subprocess.run(["docker", "save", f"{IMAGE}:latest"], capture_output=True, check=True, timeout=120)
    ctr("images", "import", "-", input=saved.stdout, timeout=120)


@pytest.fixture
def tasks() -> Iterator[list[tuple[str, str]]]:
    made: list[tuple[str, str]] = []   # (namespace, id)
    yield made
    for namespace, cid in made:
        ctr("tasks", "kill", "-s", "SIGKILL", cid, namespace=namespace, check=False)
        ctr("containers", "rm", cid, namespace=namespace, check=False)   # (a killed task is deleted first)
        ctr("tasks", "rm", "-f", cid, namespace=namespace, check=False)
        ctr("containers", "rm", cid, namespace=namespace, check=False)


def _run(tasks: list[tuple[str, str]], cid: str, *command: str, detach: bool = False,
         namespace: str = "default") -> subprocess.CompletedProcess:
    tasks.append((namespace, cid))
    return ctr("run", *(["-d"] if detach else ["--rm"]), CTR_IMAGE, cid, *command, namespace=namespace,
               check=False, timeout=120)


def test_a_running_ctr_container_is_named_selected_and_the_others_excluded(tracer, tasks):
    cid, other = _ctr_id("app"), _ctr_id("other")
    assert _run(tasks, cid, "sleep", "120", detach=True).returncode == 0
    agent = tracer("exec", "-c", cid)      # found by its id as tracing starts
    assert ctr("tasks", "exec", "--exec-id", "probe", cid, "/bin/cat", "/etc/passwd", check=False).returncode == 0
    assert _run(tasks, other, "/bin/true").returncode == 0
    subprocess.run(["/bin/true"], check=True)   # the host
    events, _ = agent.stop()
    execs = events_of(events, type="exec")
    assert [(e["container"]["id"], e["process"]["args"]) for e in execs] == [(cid, ["/bin/cat", "/etc/passwd"])]
    container = execs[0]["container"]
    assert (container["name"], container["image"], container["runtime"]) == (cid, CTR_IMAGE, "containerd")


def test_a_ctr_container_that_starts_later_is_recorded_from_its_first_exec(tracer, tasks):
    cid, other = _ctr_id("late"), _ctr_id("other")
    agent = tracer("-c", cid, "-t", "exec", "--metrics", "off", "--events", command="run")
    assert _run(tasks, cid, "sh", "-c", "/bin/cat /etc/passwd").returncode == 0
    assert _run(tasks, other, "/bin/true").returncode == 0
    events, _ = agent.stop()
    execs = events_of(events, type="exec")
    workload = [(e["container"]["id"], e["container"]["runtime"], e["process"]["args"]) for e in execs
                if not e["process"].get("runtime_setup")]
    assert workload == [(cid, "containerd", ["sh", "-c", "/bin/cat /etc/passwd"]),
                        (cid, "containerd", ["/bin/cat", "/etc/passwd"])]
    assert all(e["container"]["id"] == cid for e in execs)   # nothing of the other one, nor of the host


def test_a_namespace_made_while_tracing_is_learnt(tracer, tasks):
    namespace, cid = f"eun-{uuid.uuid4().hex[:8]}", _ctr_id("ns")
    saved = subprocess.run(["docker", "save", f"{IMAGE}:latest"], capture_output=True, check=True, timeout=120)
    ctr("images", "import", "-", namespace=namespace, input=saved.stdout, timeout=120)
    try:
        agent = tracer("-t", "exec", "--metrics", "off", "--events", command="run")
        assert _run(tasks, cid, "sh", "-c", "sleep 1; /bin/cat /etc/passwd", namespace=namespace).returncode == 0
        events, _ = agent.stop()
    finally:
        ctr("images", "rm", CTR_IMAGE, namespace=namespace, check=False)
    cats = [e for e in events_of(events, type="exec") if e["process"]["args"] == ["/bin/cat", "/etc/passwd"]]
    assert [(e["container"]["id"], e["container"]["name"], e["container"]["runtime"]) for e in cats] == \
        [(cid, cid, "containerd")]
