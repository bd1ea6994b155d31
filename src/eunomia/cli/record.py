"""`eunomia record`: keep what each container does on disk, per container."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Optional

import typer
from typer.core import TyperCommand

from .. import __version__
from .. import trackers as tracker_registry
from ..advise import AdviceError
from ..advise.verify import docker_run_args, parse_run_help, with_cidfile
from ..bpf import features
from ..outputs import OutputError
from ..pipeline.runner import Runner, Signals
from ..pipeline.scope import Scope
from ..pipeline.session import Context
from ..recording.files import RecordingWriteError
from ..recording.writer import RecordingWriter, RunInfo
from . import app
from .context import build_context
from .errors import RuntimeFailure, UsageError, check_seconds, handle_errors, require_root
from .progress import Progress
from .stopping import StartedContainer, die_with_us

CHECKPOINT_SECONDS = 5.0    # reports and index rewritten this often while recording
COMMAND_GRACE = 0.5         # after COMMAND exits: late events, Docker's die event
COMMAND_STOP_TIMEOUT = 10.0  # after forwarding a stop signal to COMMAND
CONTAINER_GONE_TIMEOUT = 10.0  # docker run ends once its container is removed
COMMAND_STDOUT = "command.stdout"
COMMAND_CIDFILE = "command.cid"  # the id of the container a `docker run` COMMAND created

EXAMPLES = """
Examples:

  eunomia record -T 60                      # every container for a minute

  eunomia record -c web -c db -d rec/       # two containers until Ctrl-C, into rec/

  eunomia record -c app -- docker run --rm --name app myimage   # one run, from its first exec

  eunomia report eunomia-recordings/20261128T120000 --html report.html
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _RecordCommand(TyperCommand):
    """Notes whether `--` was given: with nothing after it, COMMAND is missing."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: the click Context
        ctx.meta["eunomia.dashdash"] = "--" in args
        return super().parse_args(ctx, args)


@app.command(epilog=EXAMPLES, cls=_RecordCommand)
@handle_errors
def record(
    ctx: typer.Context,
    command: Optional[list[str]] = typer.Argument(
        None, metavar="[-- COMMAND...]", show_default=False,
        help="Run COMMAND once every probe is attached; record until it exits; its exit code is eunomia's."),
    container: list[str] = typer.Option([], "-c", "--container", metavar="NAME|ID",
                                         help="Only this container (name, id or id prefix; it may start later); "
                                              "repeat for more. Default: every container."),
    host: bool = typer.Option(False, "--host", help="Record processes outside containers too (folder 'host')."),
    timeout: Optional[float] = typer.Option(None, "-T", "--timeout", metavar="SECONDS",
                                            help="Stop after this many seconds."),
    directory: Optional[Path] = typer.Option(None, "-d", "--dir", metavar="DIR",
                                             help="Where to write (a new or empty directory, not a link). "
                                                  "Default: ./eunomia-recordings/<UTC time>."),
    debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks."),
) -> None:
    """Record what containers do, one folder per container.

    Writes DIR/index.json and, per container, events.jsonl (every event, as
    it arrives), report.json (processes, files, network, signals,
    capabilities, syscalls; see docs/report.md) and CSV tables.  Stops at
    the timeout, on Ctrl-C or SIGTERM, or when COMMAND exits; everything is
    flushed first.  Put COMMAND after `--`.  COMMAND dies with eunomia; the
    container of a `docker run` COMMAND is removed when it does not stop
    within 10 s of the stop signal (its id is in DIR/command.cid).
    """
    check_seconds(timeout)
    if not command and ctx.meta.get("eunomia.dashdash"):
        raise UsageError("no COMMAND after `--`; give the command to run, e.g. -- docker run --rm myimage, "
                         "or leave `--` out to record until stopped")
    for selector in container:
        if not selector.strip():
            raise UsageError(f"-c {selector!r} names no container; give a container name, id or id prefix")
    if command and shutil.which(command[0]) is None:
        raise UsageError(f"command not found: {command[0]!r}; give a program on PATH or a path to it")
    started_at = utc_now()
    if directory is None:
        directory = Path("eunomia-recordings") / started_at[:19].replace("-", "").replace(":", "")
    try:
        RecordingWriter.create_directory(directory)
    except (FileExistsError, RecordingWriteError, OutputError) as exc:
        raise UsageError(str(exc)) from None
    require_root("eunomia record")
    btf = features.probe("btf")
    if not btf.available:
        raise RuntimeFailure(f"no kernel BTF: {btf.detail}")

    chosen = list(tracker_registry.selectable().values())
    scope = Scope(containers=tuple(container), host=host, allow_pending=True)
    run = RunInfo(version=__version__,
                  host={"hostname": platform.node(), "kernel": platform.release(), "machine": platform.machine()},
                  trackers=[t.name for t in chosen], scope={"containers": list(container), "host": host},
                  start=started_at, command=list(command) if command else None)
    code = _record(chosen, scope, run, directory, Signals.install(), timeout, command or None)
    raise typer.Exit(code)


def describe_container(context: Context, container_id: str) -> dict[str, Any]:
    """What the runtime knows beyond the events: labels, start, exit."""
    out: dict[str, Any] = {}
    found = next((c for c in context.registry.containers() if c.id == container_id), None)
    if found is not None:
        out.update(labels=dict(found.labels), started=found.started)
    if context.docker is not None and context.docker.available:
        exited = context.docker.exit_of(container_id)
        if exited is not None:
            out["exited"], out["exit_code"] = exited
    return out


def _record(chosen: list[tracker_registry.TrackerDef], scope: Scope, run: RunInfo, directory: Path,
            signals: Signals, timeout: float | None, command: list[str] | None) -> int:
    streamed = {t.name: set(t.printed_kinds) if t.printed_kinds else None for t in chosen}
    with Runner(chosen, scope, build_context, signals=signals, timeout=timeout) as runner:
        context, session = runner.context, runner.session
        assert context is not None and session is not None
        writer = RecordingWriter(directory, run, now=utc_now,
                                 describe=lambda cid: describe_container(context, cid), wants=session.wants)

        def emit(tracker: tracker_registry.TrackerDef, event: dict[str, Any]) -> None:
            kinds = streamed.get(tracker.name)
            writer.write(event, stream=kinds is None or event["type"] in kinds)

        where = ", ".join(scope.containers) if scope.containers else "all containers"
        typer.echo(f"eunomia: recording {where}{' and the host' if scope.host else ''} into {directory} "
                   f"(probes attached in {runner.attached_s:.2f}s); Ctrl-C to stop", err=True)
        if signals.requested:  # stopped while the probes were being attached: run nothing
            command = None
        child, tee, container = _start(command, directory) if command else (None, None, None)
        progress = Progress(sys.stderr)
        ending = _Ending(signals, child, container)
        runner.every(CHECKPOINT_SECONDS, lambda: writer.checkpoint(session.aggregates(), session.summary()))

        def after_poll() -> None:
            writer.flush()
            progress.show(runner.elapsed(), writer.containers, writer.events, lambda: session.summary()["lost"])
        try:
            runner.pump(emit, until=ending.done, after_poll=after_poll)
        finally:
            if child is not None and child.poll() is None:  # an error in the loop: do not leave COMMAND running
                ending.end_command("eunomia stopped on an error")
            elif container is not None and signals.requested and container.running():
                container.remove("it was still running when the recording stopped")
            if tee is not None:
                tee.join(timeout=2)  # COMMAND's last output
            summary = runner.finish(emit)
            writer.finish(session.aggregates(), summary, ending.command_result(command))
            progress.clear()
    exit_code = ending.exit_code()
    typer.echo(f"eunomia: recorded {writer.containers} container(s), {writer.events} events "
               f"({summary['lost']} lost in the kernel) into {directory}", err=True)
    if writer.error is not None:
        raise RuntimeFailure(f"{writer.error} ({writer.unwritten} events not written)")
    return exit_code


def _start(command: list[str], directory: Path
           ) -> tuple[subprocess.Popen[bytes], threading.Thread, StartedContainer | None]:
    """Start COMMAND, to die with eunomia; its standard output goes on to ours
    and into DIR/command.stdout (what `eunomia advise verify --stdout`
    compares).  A foreground `docker run` writes its container's id to
    DIR/command.cid: that container is removed if it does not stop."""
    container = None
    docker_run = _with_cidfile(command, (directory / COMMAND_CIDFILE).absolute())
    if docker_run is not None:
        command, cidfile = docker_run
        # a --cidfile of the user's that exists already names some other container
        # (docker run refuses to start then): never remove what it names
        if not cidfile.exists():
            container = StartedContainer(command[0], cidfile)
    try:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, preexec_fn=die_with_us())
    except OSError as exc:
        raise UsageError(f"cannot run {command[0]!r}: {exc.strerror}") from None
    tee = threading.Thread(target=_tee, args=(child.stdout, directory / COMMAND_STDOUT), name="command-stdout",
                           daemon=True)
    tee.start()
    return child, tee, container


def _with_cidfile(command: list[str], cidfile: Path) -> tuple[list[str], Path] | None:
    """A foreground `docker run` COMMAND with --cidfile (as advise verify injects it)."""
    if docker_run_args(command) is None:
        return None
    try:
        help_text = subprocess.run([command[0], "run", "--help"], capture_output=True, text=True,
                                   timeout=30, check=False).stdout
        return with_cidfile(command, parse_run_help(help_text), cidfile)
    except (OSError, subprocess.TimeoutExpired, AdviceError):
        return None  # docker run itself will say what is wrong


def _tee(source: IO[bytes], path: Path) -> None:
    out = sys.stdout.buffer
    try:
        saved: IO[bytes] | None = open(path, "wb")
    except OSError:
        saved = None
    while chunk := source.read1(1 << 16):
        for sink in (out, saved):
            if sink is None:
                continue
            try:
                sink.write(chunk)
                sink.flush()
            except (OSError, ValueError):
                pass  # a closed stdout or a full disk must not block COMMAND
    if saved is not None:
        saved.close()


def _terminal_sent_it() -> bool:
    """Ctrl-C on a terminal signals the whole foreground process group,
    COMMAND included: it must not get a second SIGINT from us."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


class _Ending:
    """When a recording is over: at a stop (signal, timeout) with no COMMAND;
    with COMMAND, once it ended (and a grace for its last events) — a stop
    is forwarded to it first, and it is ended if it does not stop."""

    def __init__(self, signals: Signals, child: subprocess.Popen[bytes] | None,
                 container: StartedContainer | None = None) -> None:
        self.stop, self.child = signals, child
        self.container = container  # what a `docker run` COMMAND started
        self._forwarded_at: float | None = None
        self._ended_at: float | None = None

    def done(self) -> bool:
        now = time.monotonic()
        child = self.child
        if child is not None and child.poll() is not None:
            if self._ended_at is None:
                self._ended_at = now
            return now - self._ended_at >= COMMAND_GRACE
        if not self.stop.requested:
            return False
        if child is None:
            return True
        if self._forwarded_at is None:  # let COMMAND stop too, and record its end
            self._forwarded_at = now
            signum = self.stop.signum or signal.SIGTERM
            if not (signum == signal.SIGINT and _terminal_sent_it()):
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signum)
        elif now - self._forwarded_at > COMMAND_STOP_TIMEOUT:
            name = signal.Signals(self.stop.signum or signal.SIGTERM).name
            self.end_command(f"it did not stop within {COMMAND_STOP_TIMEOUT:.0f} s of {name}")
            return True
        return False

    def end_command(self, why: str) -> None:
        """COMMAND did not end: remove the container it started (a docker run
        then ends by itself), then kill COMMAND."""
        child = self.child
        assert child is not None
        if self.container is not None and self.container.remove(why):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=CONTAINER_GONE_TIMEOUT)
        if child.poll() is None:
            child.kill()
            child.wait()

    def command_result(self, command: list[str] | None) -> dict[str, Any] | None:
        if command is None:
            return None
        return {"argv": list(command), "exit_code": self.exit_code() if self.child is not None else None,
                "stdout": COMMAND_STDOUT}

    def exit_code(self) -> int:
        if self.child is None:
            return 0
        code = self.child.poll()
        if code is None:
            return 0
        return 128 - code if code < 0 else code  # killed by a signal: 128 + its number
