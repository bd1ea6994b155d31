"""What the container runtime itself needs from a container's seccomp profile.

runc installs the container's seccomp filter in its last set-up stage
(`runc:[2:INIT]`) and then makes a few more calls before it execs the
container's program: every one of those must be allowed by the profile,
or the container does not start (e.g. without `fstatfs` runc fails with
"ensure /proc/self/fd is on procfs").  Calls it makes before installing
the filter are not filtered and do not belong in the profile.

Measured, not guessed: the `syscall` tracker counts the calls of runc's
stages once their task has a seccomp filter (task->seccomp.mode ==
SECCOMP_MODE_FILTER) as `runtime_syscalls`.  The set below is the union of
what it saw on Debian 12's runc 1.1.5 (libseccomp 2.5.4, Go 1.19) with
Docker 20.10.24 on x86-64, over 60 container starts: `docker run` with
the default capabilities, `--cap-drop ALL`, `--user 1000`, `-w`,
`--read-only`, `--init`, `--sysctl`, and `docker exec`.  Every start made
the same 23 calls; `fchown` comes with `--user` (runc hands the stdio
descriptors to the user), `rt_sigreturn` with a signal Go's runtime got
meanwhile (its preemption signal, SIGURG: 7 starts in 50), and `sched_yield`
with Go's scheduler spinning on a busy machine (seen once, in a CI run on
2 vCPUs with the test suite running beside it).
tests/integration/test_advise.py::test_runtime_set_is_what_runc_does
measures it again on every test run and fails when runc needs more.
Recordings carry their own measurement (each report's `runtime_syscalls`),
which `advise seccomp` adds too.
"""

from __future__ import annotations

RUNTIME_AFTER_FILTER: frozenset[str] = frozenset({
    # Go runtime and file descriptors
    "close", "epoll_ctl", "fcntl", "fstat", "fstatfs", "futex", "getdents64", "newfstatat", "openat", "read",
    "rt_sigreturn", "sched_yield", "write",
    # runc's finishing steps: identity, capabilities, working directory, checks, the exec
    "capget", "capset", "chdir", "execve", "faccessat2", "fchown", "getcwd", "getpid", "getppid", "prctl",
    "setgid", "setgroups", "setuid",
})
