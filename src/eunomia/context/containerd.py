"""What containerd knows of a container beyond its OCI spec: its image, labels
and creation time, asked of containerd itself with `ctr containers info`.

    info = ContainerdInfo()
    info.of(Path("/run/containerd"), "default", "my-app")   # {"Image": "docker.io/library/nginx:1", ...} or None

A container that `ctr run` started has no name but its id, and its spec (the
bundle's config.json) does not say its image: containerd keeps that in its
metadata database, which only containerd reads.  `ctr` answers over the
socket next to the state directory (`<state>/../containerd.sock` for
dockerd's own containerd, `/run/containerd/containerd.sock` for a system
one).  Asked on the registry's lookup thread, once per container: never on
the event path.  Without `ctr` or a socket the answer is None.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

from .cgroups import is_containerd_id

ASK_SECONDS = 3.0
MAX_ANSWER_BYTES = 1 << 20

Run = Callable[[list[str], float], bytes | None]


def _run(argv: list[str], timeout: float) -> bytes | None:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


class ContainerdInfo:
    def __init__(self, ctr: str | None = None, run: Run = _run) -> None:
        self.ctr = ctr if ctr is not None else shutil.which("ctr")
        self.run = run

    def of(self, state: Path, namespace: str, container_id: str) -> dict[str, Any] | None:
        """containerd's record of the container (ID, Image, Labels, CreatedAt), or None."""
        if self.ctr is None or not (is_containerd_id(namespace) and is_containerd_id(container_id)):
            return None
        socket = next((s for s in (state / "containerd.sock", state.parent / "containerd.sock") if s.is_socket()),
                      None)
        if socket is None:
            return None
        out = self.run([self.ctr, "--address", str(socket), "--namespace", namespace, "containers", "info",
                        container_id], ASK_SECONDS)
        if out is None or len(out) > MAX_ANSWER_BYTES:
            return None
        try:
            answer = json.loads(out)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) and answer.get("ID") == container_id else None
