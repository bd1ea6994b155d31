"""Proof of the advice: rerun the workload under it and compare.

    options = parse_run_help(docker_run_help_text)    # what this docker run accepts
    plan = plan_rerun(argv, profile, caps, options, cidfile)   # the advice injected
    ...run plan.argv while tracing syscall failures and capability checks...
    verdict = judge(recorded, allowed, caps, exit_code, stdout, eperm, capabilities)

    with_cidfile(argv, options, cidfile)   # any foreground docker run, made to name its container
                                           # (eunomia record removes it when it does not stop)
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import AdviceError
from .caps import CapabilityAdvice, not_the_workloads
from .inputs import RecordedContainer

# options that would override or void what is being verified
CONFLICTING = ("--privileged", "--cap-add", "--cap-drop", "--security-opt")
# the workload must run in the foreground: its exit code is the container's
DETACHING = ("--detach",)
OPTION_LINE = re.compile(r"^\s+(?:-(\w), )?--([a-z0-9-]+)(?: (\w+))?\s")


@dataclass(frozen=True)
class RunOptions:
    """What `docker run` accepts: long option → takes a value; short → long."""

    takes_value: dict[str, bool]
    short: dict[str, str]


def parse_run_help(text: str) -> RunOptions:
    """Options from `docker run --help`: a type word after the name
    (list, string, int, duration, bytes …) means it takes a value."""
    takes_value: dict[str, bool] = {}
    short: dict[str, str] = {}
    for line in text.splitlines():
        match = OPTION_LINE.match(line)
        if match:
            letter, name, kind = match.groups()
            takes_value[f"--{name}"] = kind is not None
            if letter:
                short[f"-{letter}"] = f"--{name}"
    if "--name" not in takes_value:
        raise AdviceError("`docker run --help` did not list its options; is the docker CLI installed?")
    return RunOptions(takes_value, short)


@dataclass
class RerunPlan:
    argv: list[str]          # the docker run to execute, advice injected
    name: str                # the container's name (given, or chosen here)
    named_here: bool
    removes_itself: bool     # --rm was given


@dataclass
class Verdict:
    ok: bool
    exit_code: int
    recorded_exit_code: int | None
    stdout_matches: bool | None = None
    denied_syscalls: dict[str, int] = field(default_factory=dict)      # not in the profile, got EPERM
    other_eperm: dict[str, int] = field(default_factory=dict)          # in the profile, EPERM anyway
    denied_capabilities: dict[str, list[str]] = field(default_factory=dict)  # CAP → processes


def plan_rerun(argv: list[str], profile: Path, caps: CapabilityAdvice, options: RunOptions,
               cidfile: Path) -> RerunPlan:
    """`docker run …` with `--security-opt seccomp=PROFILE --cap-drop ALL --cap-add …`
    and `--cidfile` injected (the container to remove is the one this run created)."""
    args = docker_run_args(argv)
    if args is None:
        raise AdviceError("give the workload as a `docker run …` command after `--`, e.g. "
                          "eunomia advise verify DIR -c app -- docker run --rm myimage")
    parsed = _options(args, options)
    for option, _ in parsed:
        if option in CONFLICTING:
            raise AdviceError(f"the command already sets {option}: leave capabilities and security options "
                              "out, verify injects the advised ones")
        if option in DETACHING:
            raise AdviceError("the command runs detached (-d): verify needs the workload in the foreground "
                              "to compare its exit code; leave -d out")
        if option == "--cidfile":
            raise AdviceError("the command sets --cidfile: leave it out, verify uses its own")
    names = [value for option, value in parsed if option == "--name" and value]
    name = names[-1] if names else f"eunomia-verify-{uuid.uuid4().hex[:10]}"
    removes = any(option == "--rm" and _true(value) for option, value in parsed)
    injected = ["--cidfile", str(cidfile), "--security-opt", f"seccomp={profile}", "--cap-drop", "ALL"]
    for cap in caps.names:
        injected += ["--cap-add", cap]
    if not names:
        injected += ["--name", name]
    return RerunPlan([argv[0], "run", *injected, *args], name, not names, removes)


def docker_run_args(argv: list[str]) -> list[str] | None:
    """What follows `docker run` (or `docker container run`); None for another command."""
    if not argv or os.path.basename(argv[0]) != "docker":
        return None
    if argv[1:3] == ["container", "run"]:
        return argv[3:]
    return argv[2:] if argv[1:2] == ["run"] else None


def with_cidfile(argv: list[str], options: RunOptions, cidfile: Path) -> tuple[list[str], Path] | None:
    """A `docker run` in the foreground, made to name the container it creates:
    (argv with `--cidfile CIDFILE` injected, CIDFILE), or (argv, its own
    --cidfile).  None for another command, a detached run (its container
    outlives the command by design) or options this docker does not know."""
    args = docker_run_args(argv)
    if args is None:
        return None
    try:
        parsed = _options(args, options)
    except AdviceError:
        return None  # docker itself will say what is wrong
    if any(option in DETACHING and _true(value) for option, value in parsed):
        return None
    given = [value for option, value in parsed if option == "--cidfile" and value]
    if given:
        return list(argv), Path(given[-1])
    return [*argv[:len(argv) - len(args)], "--cidfile", str(cidfile), *args], cidfile


def _true(value: str | None) -> bool:
    """A boolean option's value: `--rm`, `--rm=true`, `--rm=1`."""
    return value is None or value.lower() in ("true", "1")


def _options(args: list[str], known: RunOptions) -> list[tuple[str, str | None]]:
    """The options before the image, as (long option, value); unknown ones are refused."""
    found: list[tuple[str, str | None]] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            option, eq, value = arg.partition("=")
            if option not in known.takes_value:
                raise AdviceError(f"`docker run` has no option {option}; check the command")
            if known.takes_value[option] and not eq:
                if i >= len(args):
                    raise AdviceError(f"{option} needs a value")
                value, i = args[i], i + 1
            found.append((option, value if (eq or known.takes_value[option]) else None))
            continue
        # short options, possibly clustered (-it, -tid) and with a value (-e A=1, -eA=1)
        letters = arg[1:]
        while letters:
            option = known.short.get(f"-{letters[0]}")
            if option is None:
                raise AdviceError(f"`docker run` has no option -{letters[0]}; check the command")
            letters = letters[1:]
            if known.takes_value[option]:
                value = letters.lstrip("=") if letters else None
                if value is None:
                    if i >= len(args):
                        raise AdviceError(f"-{arg[1]} needs a value")
                    value, i = args[i], i + 1
                found.append((option, value))
                break
            found.append((option, None))
    return found


def recorded_exit_code(recorded: RecordedContainer) -> int | None:
    """The container's exit code in the recording, from Docker."""
    return recorded.report["container"].get("exit_code")


def recorded_stdout(recorded: RecordedContainer) -> bytes | None:
    if recorded.command is None or not recorded.command.get("stdout"):
        return None
    try:
        return (recorded.directory / recorded.command["stdout"]).read_bytes()
    except OSError:
        return None


def judge(recorded: RecordedContainer, allowed: set[str], caps: CapabilityAdvice, exit_code: int,
          stdout: bytes | None, eperm: dict[str, int], capabilities: dict[str, Any]) -> Verdict:
    """Compare the rerun with the recording; name what the advice denied."""
    expected = recorded_exit_code(recorded)
    if expected is None and stdout is None:
        raise AdviceError(f"{recorded.directory}: the container had not exited when the recording ended, so "
                          "there is no exit code to compare with: record the whole run (`eunomia record -- "
                          "docker run …`), or compare the output with --stdout")
    verdict = Verdict(ok=True, exit_code=exit_code, recorded_exit_code=expected)
    if expected is not None and exit_code != expected:
        verdict.ok = False
    if stdout is not None:
        wanted = recorded_stdout(recorded)
        if wanted is None:
            raise AdviceError(f"{recorded.directory} holds no output of its command to compare with: record the "
                              "workload with `eunomia record -- docker run …`, or leave out --stdout")
        verdict.stdout_matches = stdout == wanted
        verdict.ok = verdict.ok and verdict.stdout_matches
    for name, n in sorted(eperm.items()):
        (verdict.other_eperm if name in allowed else verdict.denied_syscalls)[name] = n
    for cap, totals in capabilities.items():
        if cap in caps.needed or "denied only" in caps.ignored.get(cap, {}):
            continue  # advised, or denied while recorded too: not what the advice changed
        for check in totals.get("checks") or []:
            if check.get("denied") and not_the_workloads(cap, check) is None:
                verdict.denied_capabilities.setdefault(cap, [])
                if check.get("process") not in verdict.denied_capabilities[cap]:
                    verdict.denied_capabilities[cap].append(str(check.get("process")))
    return verdict
