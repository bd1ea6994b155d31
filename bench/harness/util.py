"""Small helpers shared by the harness: commands with timeouts, paths,
unique names, medians, logging, a global deadline."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
BUILD = ROOT / "build" / "bench"
# the agent measured: this checkout's, or another build's (a before/after with
# the same harness: EUNOMIA_BENCH_AGENT=/path/to/other/.venv/bin/eunomia)
EUNOMIA = Path(os.environ.get("EUNOMIA_BENCH_AGENT") or ROOT / ".venv" / "bin" / "eunomia")
RUN_ID = uuid.uuid4().hex[:8]  # every docker object of this run carries it


class BenchError(RuntimeError):
    """A step could not run; the message says which and why."""


class BudgetExceeded(BaseException):
    """The run's time budget is over (a BaseException, like KeyboardInterrupt,
    so that no `except Exception` swallows it; `finally` blocks still run)."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sh(args: Sequence[str], timeout: float = 60, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output as text, bounded in time."""
    try:
        done = subprocess.run(list(args), check=False, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(args)}") from exc
    if check and done.returncode != 0:
        raise BenchError(f"failed ({done.returncode}): {' '.join(args)}\n{done.stderr.strip()[-2000:]}")
    return done


def unique(prefix: str) -> str:
    """A docker object name nobody else uses: eunbench-<run>-<prefix>-<random>."""
    return f"eunbench-{RUN_ID}-{prefix}-{uuid.uuid4().hex[:4]}"


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
    """Signal a child we started, wait for it, kill it if it will not go."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
    return proc.returncode


def median(values: Iterable[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return statistics.median(xs) if xs else None


def rnd(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def require_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench needs root (BPF, Docker, auditd): sudo make bench")


class Deadline:
    """The whole run is bounded: SIGALRM raises BudgetExceeded in the main
    thread after `seconds`, so every `finally` still cleans up."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __enter__(self) -> Deadline:
        def expired(signum: int, frame: Any) -> None:
            raise BudgetExceeded(f"bench exceeded its time budget of {self.seconds} s")

        signal.signal(signal.SIGALRM, expired)
        signal.alarm(self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.alarm(0)


def sigterm_as_interrupt() -> None:
    """SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C: cleanup runs."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
