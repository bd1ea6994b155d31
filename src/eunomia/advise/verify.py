"""Proof of the advice: rerun the workload under it and compare.

    plan = plan_rerun(argv, profile_path, caps)       # docker run … with the advice injected
    ...run it while tracing syscall failures and capability checks...
    verdict = judge(plan, recorded, exit_code, stdout, failures, checks)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import AdviceError
from .caps import CapabilityAdvice, not_the_workloads
from .inputs import RecordedContainer

# options that would override or void what is being verified
CONFLICTING = ("--privileged", "--cap-add", "--cap-drop", "--security-opt")
# options of `docker run` that take a value as the next argument (to find the image)
VALUE_OPTIONS = frozenset({
    "-a", "--attach", "--add-host", "--blkio-weight", "-c", "--cpu-shares", "--cgroup-parent", "--cidfile",
    "--cpus", "--cpuset-cpus", "--cpuset-mems", "--device", "--dns", "--dns-option", "--dns-search",
    "--entrypoint", "-e", "--env", "--env-file", "--expose", "--gpus", "--group-add", "-h", "--hostname",
    "--health-cmd", "--health-interval", "--health-retries", "--health-timeout", "--ip", "--ip6", "--ipc",
    "--isolation", "-l", "--label", "--label-file", "--link", "--log-driver", "--log-opt", "--mac-address",
    "-m", "--memory", "--memory-reservation", "--memory-swap", "--mount", "--name", "--network", "--net",
    "--network-alias", "--pid", "--pids-limit", "--platform", "-p", "--publish", "--pull", "--restart",
    "--runtime", "--shm-size", "--stop-signal", "--stop-timeout", "--storage-opt", "--sysctl", "--tmpfs",
    "--ulimit", "-u", "--user", "--userns", "--uts", "-v", "--volume", "--volume-driver", "--volumes-from",
    "-w", "--workdir", "--cgroupns", "--init-path",
})


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


def plan_rerun(argv: list[str], profile: Path, caps: CapabilityAdvice) -> RerunPlan:
    """`docker run …` with `--security-opt seccomp=PROFILE --cap-drop ALL --cap-add …` injected."""
    if argv[:2] == ["docker", "container"] and argv[2:3] == ["run"]:
        argv = ["docker", "run", *argv[3:]]
    if argv[:2] != ["docker", "run"]:
        raise AdviceError("give the workload as a `docker run …` command after `--`, e.g. "
                          "eunomia advise verify DIR -c app -- docker run --rm myimage")
    options = _options(argv[2:])
    for option, _ in options:
        if option.split("=", 1)[0] in CONFLICTING:
            raise AdviceError(f"the command already sets {option.split('=', 1)[0]}: leave capabilities and "
                              "security options out, verify injects the advised ones")
    names = [value for option, value in options if option.split("=", 1)[0] == "--name"]
    name = names[-1] if names else f"eunomia-verify-{uuid.uuid4().hex[:10]}"
    injected = ["--security-opt", f"seccomp={profile}", "--cap-drop", "ALL"]
    for cap in caps.names:
        injected += ["--cap-add", cap]
    if not names:
        injected += ["--name", name]
    return RerunPlan(["docker", "run", *injected, *argv[2:]], name, not names,
                     any(option == "--rm" for option, _ in options))


def _options(args: list[str]) -> list[tuple[str, str | None]]:
    """The options before the image: (option, value) pairs."""
    found: list[tuple[str, str | None]] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        option = args[i]
        if option == "--":
            break
        if "=" not in option and option in VALUE_OPTIONS and i + 1 < len(args):
            found.append((option, args[i + 1]))
            i += 2
            continue
        found.append((option.split("=", 1)[0], option.split("=", 1)[1]) if "=" in option else (option, None))
        i += 1
    return found


def recorded_exit_code(recorded: RecordedContainer) -> int | None:
    """The container's exit code in the recording (Docker's), else the command's."""
    code = recorded.report["container"].get("exit_code")
    if code is None and recorded.command is not None:
        code = recorded.command.get("exit_code")
    return code


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
        if cap in caps.needed:
            continue
        for check in totals.get("checks") or []:
            if check.get("denied") and not_the_workloads(cap, check) is None:
                verdict.denied_capabilities.setdefault(cap, [])
                if check.get("process") not in verdict.denied_capabilities[cap]:
                    verdict.denied_capabilities[cap].append(str(check.get("process")))
    return verdict
