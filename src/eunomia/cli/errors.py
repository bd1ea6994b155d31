"""Errors → one line on stderr and an exit code (0 ok, 1 runtime, 2 usage)."""

from __future__ import annotations

import functools
import logging
import math
import os
from typing import Any, Callable, TypeVar

import typer

from .. import outputs
from ..bpf.errors import BpfError, BpfPermissionError, NotSupportedError, VerifierError
from ..pipeline.scope import AmbiguousContainerError, UnknownContainerError
from ..trackers import UnknownTrackerError

EXIT_RUNTIME = 1
EXIT_USAGE = 2
MAX_SECONDS = 366 * 24 * 3600  # -T: longer is a typo, not a plan

F = TypeVar("F", bound=Callable[..., Any])


class UsageError(Exception):
    """Bad input from the user: exit 2."""


class RuntimeFailure(Exception):
    """Cannot go on: exit 1."""


def fail(message: str, code: int = EXIT_RUNTIME) -> typer.Exit:
    typer.echo(f"eunomia: error: {message}", err=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(f"eunomia: warning: {message}", err=True)


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """One line for a failure, and the exit code it means."""
    if isinstance(exc, (UsageError, UnknownTrackerError, UnknownContainerError, AmbiguousContainerError)):
        return str(exc), EXIT_USAGE
    if isinstance(exc, outputs.OutputError):
        return str(exc), EXIT_USAGE if exc.usage else EXIT_RUNTIME
    if isinstance(exc, VerifierError):
        tail = "\n".join(exc.log.splitlines()[-3:])
        return f"{exc}; verifier says: {tail} (run with --debug for the whole log)", EXIT_RUNTIME
    if isinstance(exc, BpfPermissionError):
        return f"{exc}; run as root (sudo)", EXIT_RUNTIME
    if isinstance(exc, NotSupportedError):
        return f"{exc}; see 'eunomia doctor'", EXIT_RUNTIME
    if isinstance(exc, (BpfError, RuntimeFailure)):
        return str(exc), EXIT_RUNTIME
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", EXIT_RUNTIME
    return f"{type(exc).__name__}: {exc}", EXIT_RUNTIME


def handle_errors(fn: F) -> F:
    """Turn any failure of a command into one line and an exit code.

    With --debug (or EUNOMIA_DEBUG=1) the traceback is shown too.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or os.environ.get("EUNOMIA_DEBUG") == "1"
        logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                            format="eunomia: %(levelname)s: %(name)s: %(message)s")
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130)
        except Exception as exc:
            if _reader_left(exc):  # `| head` had enough: not an error
                outputs.discard_stdout()
                raise typer.Exit(0)
            if isinstance(exc, outputs.OutputError) and exc.stdout:
                outputs.discard_stdout()  # what is still buffered must not fail again at exit
            if debug:
                raise
            message, code = describe_failure(exc)
            raise fail(message, code) from None

    return wrapper  # type: ignore[return-value]


def _reader_left(exc: Exception) -> bool:
    """The reader of our output (stdout, a FIFO given with -o) went away; a
    broken pipe elsewhere (a socket, COMMAND) is an error."""
    if isinstance(exc, outputs.OutputError):
        return exc.closed
    return isinstance(exc, BrokenPipeError) and outputs.stdout_closed()


def check_seconds(value: float | None, option: str = "-T", *, low: float = 0,
                  until_stopped: bool = True) -> None:
    """A number of seconds must be finite and sane: inf, nan and 1e99 are not "forever"."""
    if value is None or (math.isfinite(value) and low <= value <= MAX_SECONDS):
        return
    rest = f", or leave {option} out to run until stopped" if until_stopped else ""
    raise UsageError(f"{option} {value:g} is not a usable number of seconds; give a finite number from {low:g} to "
                     f"{MAX_SECONDS} (366 days){rest}")


def require_root(action: str) -> None:
    """BPF programs need root (or CAP_BPF + CAP_PERFMON)."""
    if os.geteuid() == 0 or _has_bpf_caps():
        return
    raise RuntimeFailure(f"{action} needs root to load BPF programs: run it with sudo")


def _has_bpf_caps() -> bool:
    CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39
    try:
        for line in open("/proc/self/status"):
            if line.startswith("CapEff:"):
                caps = int(line.split()[1], 16)
                return bool(caps & (1 << CAP_SYS_ADMIN)) or (
                    bool(caps & (1 << CAP_BPF)) and bool(caps & (1 << CAP_PERFMON)))
    except OSError:
        pass
    return False
