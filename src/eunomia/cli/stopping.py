"""What a command started is stopped with it: COMMAND dies with eunomia
(even on SIGKILL), and the container of a `docker run` COMMAND is removed
when it does not stop.  (Ctrl-C and SIGTERM only raise a flag the runner
checks: pipeline/runner.py, Signals.)"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from pathlib import Path
from typing import Callable

import typer

from ..sinks.escape import escape_text


# -- what COMMAND started ------------------------------------------------------
PR_SET_PDEATHSIG = 1


def die_with_us() -> Callable[[], None]:
    """A preexec_fn: the child gets SIGKILL when eunomia dies, even by SIGKILL
    (prctl PR_SET_PDEATHSIG; "dies" is the thread that started it: call Popen
    from the main thread).  What the child started itself — a container the
    Docker daemon runs — is not the child's and survives it."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
              ctypes.c_ulong(0), ctypes.c_ulong(0))
        if os.getppid() != parent:  # eunomia died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class StartedContainer:
    """The container a `docker run` COMMAND creates, named by its --cidfile."""

    def __init__(self, docker: str, cidfile: Path) -> None:
        self.docker, self.cidfile = docker, cidfile

    def id(self) -> str | None:
        try:
            return self.cidfile.read_text().strip() or None
        except OSError:
            return None  # docker run created nothing (yet)

    def running(self) -> bool:
        container = self.id()
        if container is None:
            return False
        try:
            done = subprocess.run([self.docker, "container", "inspect", "--format", "{{.State.Running}}",
                                   container], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return True  # cannot tell: removing it is the safe side
        return done.returncode == 0 and done.stdout.strip() == "true"

    def remove(self, why: str) -> bool:
        """docker rm -f it, and say so (one line on stderr); False when there was none."""
        container = self.id()
        if container is None:
            return False
        try:
            done = subprocess.run([self.docker, "rm", "-f", container], capture_output=True, text=True,
                                  timeout=60, check=False)
            if done.returncode and "No such container" in done.stderr:
                return False  # gone already (--rm)
            failure = done.stderr.strip().splitlines()[-1:] if done.returncode else None
        except (OSError, subprocess.TimeoutExpired) as exc:
            failure = [str(exc)]
        if failure is not None:
            typer.echo(f"eunomia: warning: cannot remove container {container[:12]} ({why}): "
                       f"{escape_text(' '.join(failure))}; remove it with: docker rm -f {container[:12]}", err=True)
            return False
        typer.echo(f"eunomia: removed container {container[:12]} that COMMAND started ({why})", err=True)
        return True
