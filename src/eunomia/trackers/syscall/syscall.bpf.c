// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * syscall: how often each container makes each syscall — counted in the
 * kernel, not streamed — split into what the container's own programs
 * call (the workload) and what the container runtime calls once the
 * container's seccomp filter is in force; with targ_failures, also the calls
 * that returned -EPERM.  The counting is done by the syscall dispatcher
 * (dispatch.bpf.c, with counting.h), the one program on sys_enter; this
 * object holds the counts' maps (the dispatcher's, shared) and streams the
 * attempts (attempts.h): module loads and mounts.
 *
 * The runtime.  runc sets a container up from inside the container's cgroup
 * before the container's program runs: `runc init` (comm "runc" until it
 * renames itself) becomes runc:[0:PARENT], runc:[1:CHILD] and runc:[2:INIT];
 * the last one installs the container's seccomp filter, drops privileges
 * and execs the entrypoint, whose comm is then the program's name.  Every
 * `docker exec` repeats it (runc:[2:INIT] joins the container).  Before the
 * filter (mount, pivot_root, sethostname, …) is the runtime's business:
 * those calls are not counted, only their number (unfiltered_runtime_calls).
 * After it, what runc:[2:INIT] still calls (capset, setuid, prctl, the
 * final execve, …) must pass the container's profile: counted apart, in
 * runtime_syscall_counts.
 */
#include "eunomia/common.h"
#include "eunomia/fd.h"
#include "counting.h"
#include "attempts.h"
