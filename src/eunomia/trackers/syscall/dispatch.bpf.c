// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The syscall dispatcher: the only programs on sys_enter and sys_exit.
 *
 * They run for every syscall of every task on the machine, so the common
 * case leaves first and cheapest: a number no tracker handles (and, at
 * entry, no counting) is two loads — the number, then its route in a
 * table — and a return.  Otherwise one cached filter answer for the task
 * (filter.h), then, for monitored tasks, the syscall tracker's counting
 * (counting.h, when it is on) and a tail call into the trackers' handlers
 * for this number (eunomia/dispatch.h), row by row.
 *
 * Routes come from user space before load, one byte per number and
 * direction: ROUTE_MONITORED when some handler wants the calls of
 * monitored tasks, ROUTE_EVERY_TASK when one wants every task's (signals
 * sent from the host to a container, a listening socket's address learnt
 * from any accept, a call's state cleaned up at exit).
 *
 * tp_btf, not raw_tp: the pt_regs pointer is BTF-typed, so the number at
 * exit (orig_ax) and the handlers' arguments are plain loads instead of a
 * bpf_probe_read_kernel() call each.
 */
#include "eunomia/common.h"
#include "eunomia/syscall_nr.h"
#include "counting.h"

#define ROUTE_MONITORED 1
#define ROUTE_EVERY_TASK 2

const volatile __u8 targ_enter_routes[EUN_SYSCALL_NR_MAX] = {};
const volatile __u8 targ_exit_routes[EUN_SYSCALL_NR_MAX] = {};
/* the syscall tracker is on: count every call of monitored tasks */
const volatile bool targ_count_syscalls = false;

static __always_inline __u8 route_of(const volatile __u8 *routes, long nr)
{
	if ((unsigned long)nr >= EUN_SYSCALL_NR_MAX)
		return 0;
	return routes[nr];
}

SEC("tp_btf/sys_enter")
int BPF_PROG(dispatch_sys_enter, struct pt_regs *regs, long nr)
{
	__u8 route = route_of(targ_enter_routes, nr);
	eun_cgroup_id cgroup_id;
	bool discard;

	if (!route && !targ_count_syscalls)
		return 0;
	if (nr < 0 || eun_compat_syscall())
		return 0;
	discard = should_discard_cached(&cgroup_id);
	if (!discard && targ_count_syscalls)
		count_syscall(cgroup_id, nr);
	if (route & ROUTE_EVERY_TASK || (route && !discard))
		eun_tail_rows(ctx, &sys_enter_handlers, nr, 0);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(dispatch_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = EUN_NR(regs);
	__u8 route = route_of(targ_exit_routes, nr);
	bool failed = targ_failures && ret == -EPERM;
	eun_cgroup_id cgroup_id;
	bool discard;

	if (!route && !failed)
		return 0;
	if (nr < 0 || eun_compat_syscall())
		return 0;
	discard = should_discard_cached(&cgroup_id);
	if (!discard && failed)
		count_eperm(cgroup_id, nr);
	if (route & ROUTE_EVERY_TASK || (route && !discard))
		eun_tail_rows(ctx, &sys_exit_handlers, nr, 0);
	return 0;
}
