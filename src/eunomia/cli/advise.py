"""`eunomia advise`: least privilege from recordings, proven by enforcement."""

from __future__ import annotations

import contextlib
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Optional

import orjson
import typer
import yaml

from .. import outputs
from .. import trackers as tracker_registry
from ..advise import AdviceError
from ..advise.caps import advise_caps, docker_flags, evidence, k8s_capabilities
from ..advise.inputs import RecordedContainer, load_container
from ..advise.seccomp import advise_seccomp, k8s_profile, k8s_security_context, oci_profile
from ..advise.verify import RerunPlan, RunOptions, Verdict, judge, parse_run_help, plan_rerun
from ..pipeline.runner import Runner
from ..pipeline.scope import Scope
from ..sinks.escape import escape_text
from . import app
from .context import build_context
from .errors import RuntimeFailure, UsageError, check_seconds, handle_errors, require_root, warn

advise_app = typer.Typer(
    name="advise", no_args_is_help=True,
    help="Least privilege from recordings: a seccomp profile, a capability set, and their proof.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(advise_app)

SECCOMP_EXAMPLES = """
Examples:

  eunomia advise seccomp rec/ -c app -o app.json
  docker run --security-opt seccomp=app.json … myimage

  eunomia advise seccomp rec-node1/ rec-node2/ -c app -f k8s > app-seccomp.yaml
"""
CAPS_EXAMPLES = """
Examples:

  eunomia advise caps rec/ -c app                 # --cap-drop ALL --cap-add …

  eunomia advise caps rec/ -c app -f k8s          # securityContext.capabilities

  eunomia advise caps rec/ -c app -f json | jq .needed    # which process needed what
"""
VERIFY_EXAMPLES = """
Examples:

  eunomia record -c app -d rec/ -- docker run --rm --name app myimage

  eunomia advise verify rec/ -c app -- docker run --rm --name app myimage

  eunomia advise verify rec/ -c app --stdout -- docker run --rm --name app myimage
"""

OUTPUT_HELP = ("Write to FILE (a regular file is replaced whole; /dev/null, /dev/stdout or a pipe is written to; "
               "other links are refused).")
DIRS_HELP = "Recordings (from eunomia record); several are merged: the advice holds for every run."
CONTAINER_HELP = "The container: name, folder, id or id prefix, as in the recordings."


def _load(directories: list[Path], container: str) -> list[RecordedContainer]:
    """The recordings, read by the loader every command uses; a bad one is a usage error
    (one line, exit 2).  Their warnings are shown once the advice is made (_warn)."""
    try:
        return load_container(directories, container)
    except AdviceError as exc:
        raise UsageError(str(exc)) from None


def _warn(recorded: list[RecordedContainer]) -> None:
    for one in recorded:
        for warning in one.warnings:
            warn(warning)


def _emit(text: str, output: Path | None) -> None:
    """To stdout, or to FILE whole (a device, pipe or /dev/stdout is written to, never replaced)."""
    if output is None:
        outputs.write_stdout(text)
    elif not outputs.write_file(output, text.encode(), "-o"):
        typer.echo(f"eunomia: wrote {escape_text(str(output))}", err=True)


def _json(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


@advise_app.command("seccomp", epilog=SECCOMP_EXAMPLES)
@handle_errors
def seccomp(
    directories: list[Path] = typer.Argument(..., metavar="DIR...", help=DIRS_HELP),
    container: str = typer.Option(..., "-c", "--container", metavar="NAME|ID", help=CONTAINER_HELP),
    fmt: str = typer.Option("oci", "-f", "--format", metavar="oci|k8s",
                            help="oci: the JSON Docker and OCI runtimes read; k8s: a security-profiles-operator "
                                 "SeccompProfile and the securityContext that uses it."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE", help=OUTPUT_HELP),
    debug: bool = typer.Option(False, "--debug", help="Tracebacks on errors."),
) -> None:
    """The smallest seccomp profile the container can run with.

    It allows every syscall the container's processes made from its first
    exec on, plus what the container runtime needs to start it; anything
    else fails with EPERM."""
    if fmt not in ("oci", "k8s"):
        raise UsageError(f"unknown format {fmt!r}; choose oci or k8s")
    recorded = _load(directories, container)
    try:
        advice = advise_seccomp(recorded)
    except AdviceError as exc:
        raise UsageError(str(exc)) from None
    _warn(recorded)
    name = recorded[0].name
    if fmt == "oci":
        _emit(_json(oci_profile(advice)), output)
        return
    namespace = recorded[0].report["container"].get("namespace")
    text = yaml.safe_dump(k8s_profile(advice, name, namespace), sort_keys=False)
    usage = yaml.safe_dump(k8s_security_context(name, namespace), sort_keys=False)
    text += "# Use it in the pod (or container) spec, once the operator has installed it:\n"
    text += "".join(f"# {line}\n" for line in usage.splitlines())
    _emit(text, output)


@advise_app.command("caps", epilog=CAPS_EXAMPLES)
@handle_errors
def caps(
    directories: list[Path] = typer.Argument(..., metavar="DIR...", help=DIRS_HELP),
    container: str = typer.Option(..., "-c", "--container", metavar="NAME|ID", help=CONTAINER_HELP),
    fmt: str = typer.Option("docker", "-f", "--format", metavar="docker|k8s|json",
                            help="docker: run flags; k8s: securityContext.capabilities; json: with the evidence."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE", help=OUTPUT_HELP),
    debug: bool = typer.Option(False, "--debug", help="Tracebacks on errors."),
) -> None:
    """The capabilities the container needs, as drop-ALL-then-add.

    A capability is needed when a check of it was granted to one of the
    workload's processes on its own credentials.  Probes, the runtime's
    set-up and overlayfs's borrowed credentials do not count."""
    if fmt not in ("docker", "k8s", "json"):
        raise UsageError(f"unknown format {fmt!r}; choose docker, k8s or json")
    recorded = _load(directories, container)
    try:
        advice = advise_caps(recorded)
    except AdviceError as exc:
        raise UsageError(str(exc)) from None
    _warn(recorded)
    if fmt == "docker":
        _emit(" ".join(docker_flags(advice)) + "\n", output)
    elif fmt == "k8s":
        _emit(yaml.safe_dump(k8s_capabilities(advice), sort_keys=False), output)
    else:
        _emit(_json(evidence(advice, recorded[0].name)), output)


@advise_app.command("verify", epilog=VERIFY_EXAMPLES)
@handle_errors
def verify(
    directory: Path = typer.Argument(..., metavar="DIR", help="The recording to take the advice from."),
    command: list[str] = typer.Argument(..., metavar="-- docker run ...",
                                        help="The workload, as the docker run to repeat."),
    container: str = typer.Option(..., "-c", "--container", metavar="NAME|ID", help=CONTAINER_HELP),
    stdout: bool = typer.Option(False, "--stdout",
                                help="Also compare the standard output with the recording's command.stdout."),
    keep_profile: Optional[Path] = typer.Option(None, "--profile", metavar="FILE",
                                                help="Write the profile used to FILE (default: a temporary file)."),
    timeout: float = typer.Option(600, "-T", "--timeout", metavar="SECONDS",
                                  help="Give up on the workload after this long."),
    debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks."),
) -> None:
    """Prove the advice: rerun the workload under it and compare.

    The advised seccomp profile and capabilities are injected into the
    docker run; its exit code (and with --stdout its output) must be the
    recording's.  When it differs, eunomia names what the advice denied:
    syscalls that returned EPERM and capability checks that failed, as its
    tracers saw them.  Exit code 0 when verified, 1 when not."""
    check_seconds(timeout, low=1, until_stopped=False)
    recorded = _load([directory], container)
    try:
        seccomp_advice = advise_seccomp(recorded)
        caps_advice = advise_caps(recorded)
    except AdviceError as exc:
        raise UsageError(str(exc)) from None
    _warn(recorded)
    require_root("eunomia advise verify")
    options = _docker_run_options()
    with tempfile.TemporaryDirectory(prefix="eunomia-verify-") as temp:
        profile = keep_profile or Path(temp) / "seccomp.json"
        try:
            profile.write_text(_json(oci_profile(seccomp_advice)))
        except OSError as exc:
            raise UsageError(f"cannot write {profile}: {exc.strerror}") from None
        try:
            plan = plan_rerun(list(command), profile.resolve(), caps_advice, options, Path(temp) / "cid")
        except AdviceError as exc:
            raise UsageError(str(exc)) from None
        if _container_exists(plan.name):
            raise UsageError(f"a container named {escape_text(plan.name)!r} exists already; remove it "
                             "(docker rm -f) or give the rerun another --name")
        exit_code, out, eperm, capabilities = _rerun(plan, timeout, Path(temp) / "cid")
    try:
        verdict = judge(recorded[0], set(seccomp_advice.names), caps_advice, exit_code,
                        out if stdout else None, eperm, capabilities)
    except AdviceError as exc:
        raise UsageError(str(exc)) from None
    _report(verdict, len(seccomp_advice.names), caps_advice.names, sys.stderr)
    raise typer.Exit(0 if verdict.ok else 1)


def _docker_run_options() -> RunOptions:
    try:
        text = subprocess.run(["docker", "run", "--help"], capture_output=True, text=True, timeout=30).stdout
        return parse_run_help(text)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeFailure(f"cannot run the docker CLI: {exc}; install docker.io") from None
    except AdviceError as exc:
        raise RuntimeFailure(str(exc)) from None


def _container_exists(name: str) -> bool:
    return subprocess.run(["docker", "container", "inspect", name], capture_output=True).returncode == 0


def _rerun(plan: RerunPlan, timeout: float, cidfile: Path) -> tuple[int, bytes, dict[str, int], dict[str, Any]]:
    """Run the planned docker run while the syscall (with failures) and cap
    trackers watch its container; its stdout is passed on and kept."""
    chosen = [tracker_registry.discover()[name] for name in ("syscall", "cap")]
    scope = Scope(containers=(plan.name,), allow_pending=True)
    typer.echo(f"eunomia: running {escape_text(' '.join(plan.argv))}", err=True)
    with Runner(chosen, scope, build_context, timeout=timeout,
                knobs={"syscall": {"targ_failures": True}}) as runner:
        try:
            child = subprocess.Popen(plan.argv, stdout=subprocess.PIPE)
        except OSError as exc:
            raise RuntimeFailure(f"cannot run docker: {exc.strerror}") from None
        try:
            out = _pump(child, runner, timeout)
            exit_code = child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            _remove_created(cidfile)
        runner.finish(_ignore)
        eperm: dict[str, int] = {}
        capabilities: dict[str, Any] = {}
        for record in runner.aggregates():
            if (record.get("container") or {}).get("name") != plan.name:
                continue
            if record["type"] == "syscall_failures":
                eperm.update(record.get("eperm") or {})
            elif record["type"] == "capabilities":
                capabilities.update(record.get("capabilities") or {})
    return exit_code, out, eperm, capabilities


def _ignore(tracker: tracker_registry.TrackerDef, event: dict[str, Any]) -> None:
    """The rerun needs only the kernel's aggregates, not the events."""


def _pump(child: subprocess.Popen[bytes], runner: Runner, timeout: float) -> bytes:
    """Pass the child's stdout on (and keep it) while the runner polls,
    until the child exits (or the timeout)."""
    assert child.stdout is not None
    stdout = child.stdout
    out = bytearray()
    stdout_open = True

    def copy_output() -> None:
        nonlocal stdout_open
        while stdout_open and select.select([stdout], [], [], 0)[0]:
            chunk = stdout.read1(1 << 16)
            if not chunk:
                stdout_open = False
                return
            out.extend(chunk)
            with contextlib.suppress(OSError):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()

    def ended() -> bool:
        if runner.signals.requested:  # the runner's deadline
            raise RuntimeFailure(f"the workload ran longer than {timeout:.0f}s; give more time with -T")
        return not stdout_open and child.poll() is not None

    runner.pump(_ignore, until=ended, after_poll=copy_output, poll_seconds=0.05)
    return bytes(out)


def _remove_created(cidfile: Path) -> None:
    """Remove the container this run created (by id: never another of that name)."""
    try:
        container_id = cidfile.read_text().strip()
    except OSError:
        return  # docker run created nothing
    if container_id:  # with --rm it is gone already, unless the CLI died first
        subprocess.run(["docker", "rm", "-f", container_id], capture_output=True, check=False)


def _report(verdict: Verdict, profile_size: int, caps: list[str], err: IO[str]) -> None:
    granted = " ".join(caps) if caps else "none"
    if verdict.ok:
        same = "exit code" + (" and output" if verdict.stdout_matches else "")
        err.write(f"eunomia: verified: {same} as recorded ({verdict.exit_code}) under a profile of "
                  f"{profile_size} syscalls and capabilities: {granted}\n")
        return
    what = [f"exit code {verdict.exit_code} (recorded: {verdict.recorded_exit_code})"]
    if verdict.stdout_matches is False:
        what.append("output differs")
    err.write(f"eunomia: NOT verified: {', '.join(what)} under a profile of {profile_size} syscalls and "
              f"capabilities: {granted}\n")
    for name, n in verdict.denied_syscalls.items():
        err.write(f"  denied by the profile: {name} ({n} call{'s' if n != 1 else ''} returned EPERM)\n")
    for cap, processes in verdict.denied_capabilities.items():
        err.write(f"  capability denied: {cap} (checked by {', '.join(escape_text(p) for p in processes)})\n")
    for name, n in verdict.other_eperm.items():
        err.write(f"  also failed with EPERM, though allowed by the profile: {name} ({n})\n")
    if not (verdict.denied_syscalls or verdict.denied_capabilities):
        err.write("  nothing was denied: the workload behaves differently for another reason "
                  "(input, timing, network); record it again doing the same thing\n")
