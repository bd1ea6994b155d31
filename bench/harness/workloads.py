"""The workloads and the containers they run in.

A `Testbed` owns every Docker object of a run (unique names, removed in
`close()`): a bridge network, the loop container (where the syscall loop,
the exec storm and the paced storms run: `--network none`, so its only
network is its own loopback), a decoy container (what the agent selects
with `-c` when the loop container must be filtered out) and the nginx
container.  wrk runs on the host against nginx's address on the bench's
own network.

Every container gets the host's strace and its libraries bind-mounted
read-only, so the strace condition can run the workload under
`strace -f` inside the container (as ptrace-based profile generators do).

Workloads return a throughput (higher is better):
  loop       iterations/s of the C loop (bench/images/loop.c) in the loop container
  loop-host  the same static binary on the host (not in any container)
  nginx      requests/s of wrk (keep-alive, 2 threads, 32 connections, 612-byte file)
  exec       execs/s of `storm exec 0` (fork+exec of /bin/true, as fast as it can)
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .util import BUILD, ROOT, BenchError, log, sh, unique

# One iteration of bench/images/loop.c makes exactly these syscalls (checked
# with `strace -c -f build/bench/loop 1`): openat, read, close, newfstatat
# (glibc's stat), getppid.  clock_gettime goes through the vDSO.
SYSCALLS_PER_ITERATION = 5

LOOP_IMAGE = "eunomia-bench/loop"
NGINX_IMAGE = "eunomia-bench/nginx"
STRACE_MOUNTS = ("-v", "/usr/bin/strace:/usr/bin/strace:ro",
                 "-v", "/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro",
                 "-v", "/lib64:/lib64:ro")
HOST_LOOP = BUILD / "loop"
HOST_STORM = BUILD / "storm"


class Wrapper(Protocol):
    """What a condition may do to a workload's command (strace wraps it)."""

    wraps: bool

    def wrap(self, argv: list[str]) -> list[str]: ...


def build_images() -> None:
    """Images and host binaries, built locally (bench/images/build.sh)."""
    sh([str(ROOT / "scripts" / "ensure-dockerd.sh")], timeout=120)
    done = sh(["sh", str(ROOT / "bench" / "images" / "build.sh")], timeout=600)
    for line in done.stdout.splitlines():
        log(line)


@dataclass
class Measurement:
    value: float                       # the throughput
    extra: dict[str, Any] = field(default_factory=dict)


class Testbed:
    """The containers and network of one run; a context manager."""

    def __init__(self, lifetime_s: int) -> None:
        self.lifetime_s = lifetime_s       # containers exit by themselves after this
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.loop = ""
        self.decoy = ""
        self.nginx = ""
        self.nginx_ip = ""
        self.network = ""

    def __enter__(self) -> Testbed:
        try:
            self.network = unique("net")
            sh(["docker", "network", "create", self.network])
            self.networks.append(self.network)
            self.loop = self.run_container("loop", LOOP_IMAGE, ["--network", "none"], ["sleep", str(self.lifetime_s)])
            self.decoy = self.run_container("decoy", LOOP_IMAGE, ["--network", "none"], ["sleep", str(self.lifetime_s)])
            self.nginx, self.nginx_ip = self.start_nginx(strace=False)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_container(self, role: str, image: str, options: list[str], command: list[str]) -> str:
        name = unique(role)
        self.containers.append(name)  # before it exists: close() removes it whatever happens
        sh(["docker", "run", "-d", "--name", name, *STRACE_MOUNTS, *options, image, *command], timeout=60)
        return name

    def remove(self, name: str) -> None:
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True, timeout=60)
        if name in self.containers:
            self.containers.remove(name)

    def close(self) -> None:
        for name in list(self.containers):
            try:
                self.remove(name)
            except subprocess.TimeoutExpired:
                log(f"could not remove container {name}")
        for net in self.networks:
            subprocess.run(["docker", "network", "rm", net], check=False, capture_output=True, timeout=60)
        self.networks.clear()

    # -- nginx ------------------------------------------------------------
    def start_nginx(self, strace: bool) -> tuple[str, str]:
        """nginx on the bench network; under strace -f from its first instruction
        when asked.  Returns (name, address) once it answers HTTP."""
        options = ["--network", self.network]
        command: list[str] = []
        if strace:
            options += ["--entrypoint", "/usr/bin/strace"]
            command = ["-f", "-o", "/dev/null", "/usr/sbin/nginx"]
        name = self.run_container("nginx-strace" if strace else "nginx", NGINX_IMAGE, options, command)
        ip = sh(["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                 name]).stdout.strip()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if _http_ok(ip, 8080):
                return name, ip
            time.sleep(0.1)
        raise BenchError(f"nginx in {name} did not answer on {ip}:8080")


def _http_ok(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


# -- the workloads --------------------------------------------------------
def loop_in(bed: Testbed, container: str, cond: Wrapper, seconds: float) -> Measurement:
    argv = cond.wrap(["/bin/loop", str(seconds)])
    out = sh(["docker", "exec", container, *argv], timeout=seconds * 4 + 60).stdout
    return Measurement(float(out.split()[-1]))


def loop_container(bed: Testbed, cond: Wrapper, seconds: float) -> Measurement:
    return loop_in(bed, bed.loop, cond, seconds)


def loop_host(bed: Testbed, cond: Wrapper, seconds: float) -> Measurement:
    out = sh(cond.wrap([str(HOST_LOOP), str(seconds)]), timeout=seconds * 4 + 60).stdout
    return Measurement(float(out.split()[-1]))


def exec_storm(bed: Testbed, cond: Wrapper, seconds: float) -> Measurement:
    result = storm(bed, "exec", 0, seconds, cond)
    return Measurement(result["rate"])


def nginx_wrk(bed: Testbed, cond: Wrapper, seconds: float) -> Measurement:
    name, ip = bed.nginx, bed.nginx_ip
    if cond.wraps:  # strace must hold nginx from its start: a container of its own
        name, ip = bed.start_nginx(strace=True)
    try:
        out = sh(["wrk", "-t2", "-c32", f"-d{max(1, round(seconds))}s", "--latency", f"http://{ip}:8080/"],
                 timeout=seconds + 60).stdout
    finally:
        if name != bed.nginx:
            bed.remove(name)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if rps is None:
        raise BenchError(f"wrk printed no Requests/sec:\n{out}")
    extra: dict[str, Any] = {f"latency_{p}_ms": _ms(m.group(1), m.group(2))
             for p in ("50", "99") for m in [re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\b", out, re.MULTILINE)] if m}
    errors = re.search(r"Non-2xx or 3xx responses:\s*(\d+)|Socket errors:.*", out)
    if errors:
        extra["errors"] = errors.group(0)
    return Measurement(float(rps.group(1)), extra)


def _ms(value: str, unit: str) -> float:
    return round(float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit], 3)


def storm(bed: Testbed, kind: str, rate: float, seconds: float, cond: Wrapper | None = None) -> dict[str, Any]:
    """Run bench/images/storm.c in the loop container; its JSON result."""
    argv = ["/bin/storm", kind, str(int(rate)), str(seconds)]
    if cond is not None:
        argv = cond.wrap(argv)
    out = sh(["docker", "exec", bed.loop, *argv], timeout=seconds * 10 + 60).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_storm(bed: Testbed, kind: str, rate: float, seconds: float) -> subprocess.Popen[str]:
    """The same, in the background (the caller polls and waits)."""
    return subprocess.Popen(["docker", "exec", bed.loop, "/bin/storm", kind, str(int(rate)), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


WORKLOADS: dict[str, tuple[str, Callable[[Testbed, Wrapper, float], Measurement]]] = {
    "loop": ("C loop of open/read/close/stat/getppid in a container, iterations/s", loop_container),
    "loop-host": ("the same loop on the host (outside containers), iterations/s", loop_host),
    "nginx": ("nginx + wrk (keep-alive, 612-byte file), requests/s", nginx_wrk),
    "exec": ("exec storm (fork+exec /bin/true in a container), execs/s", exec_storm),
}
