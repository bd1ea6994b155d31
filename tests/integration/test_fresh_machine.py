"""The fresh-machine path, exercised on any machine.

A fresh Debian 12 machine has no tracefs mounted (nothing mounts it without
systemd).  These tests run eunomia in a child mount namespace in which
tracefs is unmounted, so what a new user meets runs even where a developer
mounted tracefs by hand — the bug that once broke every trace for a new user
while CI, on the developer's machine, stayed green.  Tracing needs no
tracefs (no program is on a classic tracepoint); doctor's tracepoint probe
mounts it.

They also check that every tool the tests run comes from a Debian package
that the project's set-up (scripts/install-deps.sh) installs, so a package
installed by hand cannot hide a missing set-up step.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from eunomia.bpf.tracefs import TracefsError, ensure_tracefs

from .conftest import EUNOMIA, ROOT, events_of, unique

# In a private mount namespace: unmount tracefs wherever it is, then run "$@".
WITHOUT_TRACEFS = (
    "unshare", "--mount", "--propagation", "private", "sh", "-euc",
    'for m in /sys/kernel/debug/tracing /sys/kernel/debug /sys/kernel/tracing; do '
    '  while grep -q " $m " /proc/self/mounts; do umount "$m" || umount -l "$m"; done; '
    'done; '
    '! grep -q " tracefs " /proc/self/mounts || { echo "tracefs still mounted" >&2; exit 97; }; '
    'exec "$@"', "without-tracefs",
)


def test_doctor_mounts_tracefs_itself_where_none_is_mounted():
    result = subprocess.run([*WITHOUT_TRACEFS, EUNOMIA, "doctor"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr
    tracefs_row = [line for line in result.stdout.splitlines() if "tracefs" in line and "│" in line
                   and line.split("│")[1].strip() == "tracefs"]
    assert len(tracefs_row) == 1, result.stdout
    assert "mounted by eunomia" in tracefs_row[0]
    assert "/sys/kernel/tracing" in tracefs_row[0]
    tracepoint_row = [line for line in result.stdout.splitlines()
                      if line.startswith("│ tracepoint ")]
    assert len(tracepoint_row) == 1 and "│ yes" in tracepoint_row[0], result.stdout
    assert "tracing can work" in result.stdout
    assert "Error" not in result.stderr and "Traceback" not in result.stderr


def test_trace_needs_no_tracefs_and_sees_a_failed_exec(tracer, containers):
    # failed execs come from the syscall handlers (sys_enter/sys_exit, tp_btf)
    t = tracer("exec", wrapper=WITHOUT_TRACEFS)
    # `sh -c … exec "$@"`: the tracer is the wrapper's pid, in its mount namespace
    assert " tracefs " not in Path(f"/proc/{t.proc.pid}/mounts").read_text()
    name = unique("fresh")
    result = containers.run(name, "sh", "-c", "/bin/echo fresh >/dev/null; /nonexistent/tool --x; exit 4")
    assert result.returncode == 4
    cid = containers.full_id(name)
    events, summary = t.stop()
    assert "tracefs" not in t.stderr, t.stderr  # no warning that it could not be mounted

    execs = events_of(events, container_id=cid, type="exec")
    assert all(e["container"]["name"] == name for e in execs)
    ok = [e for e in execs if e["process"]["args"] == ["/bin/echo", "fresh"]]
    assert len(ok) == 1 and ok[0]["result"] == 0
    failed = [e for e in execs if e["process"]["executable"] == "/nonexistent/tool"]
    assert len(failed) == 1, execs
    assert failed[0]["result"] == "ENOENT"
    assert failed[0]["process"]["args"] == ["/nonexistent/tool", "--x"]
    assert summary["lost"] == 0


def test_refused_mount_is_one_line_naming_the_fix(tmp_path):
    """As a user without CAP_SYS_ADMIN, mounting is refused: TracefsError says why and what to do."""
    no_tracefs = tmp_path / "mounts"
    no_tracefs.write_text("proc /proc proc rw 0 0\n")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody, try, report through the pipe
        os.close(read_end)
        message = "no error"
        try:
            os.setgid(65534)
            os.setuid(65534)
            ensure_tracefs(proc_mounts=no_tracefs)
        except TracefsError as exc:
            message = f"TracefsError: {exc}"
        except BaseException as exc:  # anything else is the bug this test exists for
            message = f"{type(exc).__name__}: {exc}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    assert message.startswith("TracefsError: "), message
    assert "cannot mount tracefs at /sys/kernel/tracing" in message
    assert "run as root" in message
    assert "\n" not in message


# --- every tool the tests run is installed by the project -----------------------

def _packages_installed_by_setup() -> set[str]:
    script = (ROOT / "scripts" / "install-deps.sh").read_text()
    match = re.search(r'PKGS=\$\{PKGS:-"([^"]+)"\}', script)
    assert match, "scripts/install-deps.sh no longer declares PKGS"
    return set(match.group(1).split())


def _tools_the_tests_run() -> set[str]:
    """Programs the tests and the set-up scripts start, found in their source:
    the first element of an argv list, what shutil.which() is asked for, and the
    WITHOUT_TRACEFS chain."""
    tools = {"unshare", "umount", "grep", "sh", "make"}
    sources = list((ROOT / "tests").rglob("*.py")) + list((ROOT / "scripts").glob("*.sh"))
    for path in sources:
        text = path.read_text()
        tools.update(re.findall(r'shutil\.which\("([\w.+-]+)"\)', text))
        tools.update(re.findall(r'[A-Z_]+ = [^\n]*"/usr/s?bin/([\w.+-]+)"', text))  # CHROMIUM = …"/usr/bin/…"
        tools.update(re.findall(r'subprocess\.(?:run|Popen|check_output|check_call)\(\s*\[\s*"([\w.+/-]+)"', text))
    return {Path(t).name for t in tools}


def _package_of(program: str) -> str | None:
    path = shutil.which(program)
    if path is None:
        return None
    for candidate in (path, os.path.realpath(path)):
        # merged /usr: dpkg may know /bin/x, not /usr/bin/x
        for name in (candidate, candidate[4:]) if candidate.startswith("/usr/") else (candidate,):
            package = _dpkg_owner(name)
            if package:
                return package
    return "?"  # on the machine, but not from a Debian package


def _dpkg_owner(path: str) -> str | None:
    found = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    for line in found.stdout.splitlines():  # "pkg: /path"; "diversion by dash from: /bin/sh" is not an owner
        if not line.startswith("diversion by") and ": " in line:
            return line.split(":")[0].split(",")[0].strip()
    return None


def _essential(package: str) -> bool:
    info = subprocess.run(["dpkg-query", "-W", "-f=${Essential} ${Priority}", package],
                          capture_output=True, text=True).stdout.split()
    return "yes" in info or "required" in info


def test_every_tool_the_tests_run_is_installed_by_the_project():
    declared = _packages_installed_by_setup()
    problems = []
    for tool in sorted(_tools_the_tests_run()):
        if tool in ("eunomia", "python", "python3") or tool.startswith("."):
            continue  # the project's own venv
        package = _package_of(tool)
        if package is None:
            problems.append(f"{tool}: not on this machine")
        elif package == "?":
            if tool == "docker" and "docker.io" in declared:
                continue  # the image may carry a newer client in /usr/local/bin; docker.io brings one too
            problems.append(f"{tool}: {shutil.which(tool)} is not from a Debian package")
        elif package not in declared and not _essential(package):
            problems.append(f"{tool}: from package {package}, which scripts/install-deps.sh does not install")
    assert not problems, "; ".join(problems)
