// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The syscall dispatcher: the only programs on sys_enter and sys_exit.
 *
 * They run for every syscall of every task on the machine, so the common
 * case leaves first and cheapest: a number no tracker handles (and, at
 * entry, no counting) is two loads — the number, then its route in a
 * table — and a return.  Otherwise one cached filter answer for the task
 * (filter.h), then, for monitored tasks, the syscall tracker's counting
 * (counting.h, when it is on) and a tail call into the first handler of
 * this number (eunomia/dispatch.h), which goes on to the next.
 *
 * Routes come from user space before load, one byte per number and
 * direction (a second table holds the slot of its first handler):
 * ROUTE_MONITORED when some handler wants the calls of monitored tasks, ROUTE_EVERY_TASK when one wants every task's (signals
 * sent from the host to a container, a listening socket's address learnt
 * from any accept, a call's state cleaned up at exit).  ROUTE_COUNT_FILTERED
 * counts, per number, the calls the filter discards, for a tracker whose
 * `filtered` statistic counts them: here, without a tail call into a
 * handler that would only count and return (user space adds them up).
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
#define ROUTE_COUNT_FILTERED 4

/* calls the filter discarded, at entry (nr) and at exit (EUN_SYSCALL_NR_MAX + nr) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * EUN_SYSCALL_NR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} filtered_calls SEC(".maps");

const volatile __u8 targ_enter_routes[EUN_SYSCALL_NR_MAX] = {};
const volatile __u8 targ_exit_routes[EUN_SYSCALL_NR_MAX] = {};
const volatile __u8 targ_enter_slots[EUN_SYSCALL_NR_MAX] = {};
const volatile __u8 targ_exit_slots[EUN_SYSCALL_NR_MAX] = {};
/* the syscall tracker is on: count every call of monitored tasks */
const volatile bool targ_count_syscalls = false;

static __always_inline __u8 route_of(const volatile __u8 *routes, long nr)
{
	if ((unsigned long)nr >= EUN_SYSCALL_NR_MAX)
		return 0;
	return routes[nr];
}

static __always_inline void count_filtered(__u32 slot)
{
	__u64 *count = bpf_map_lookup_elem(&filtered_calls, &slot);

	if (count)
		*count += 1;
}

/*
 * The task's filter answer (cached, and left in the shared cache for the
 * handlers), counting a discarded call of a ROUTE_COUNT_FILTERED number in
 * `filtered_key`; false for a call no one may see (a compat call).
 */
static __always_inline bool filter_call(long nr, __u8 route, __u32 filtered_key,
					eun_cgroup_id *cgroup_id, bool *discard)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (nr < 0 || eun_compat_task(task))
		return false;
	*discard = should_discard_task(task, cgroup_id);
	if (*discard && route & ROUTE_COUNT_FILTERED)
		count_filtered(filtered_key);
	return true;
}

/* Does a handler of this route want this task's call? */
static __always_inline bool handler_wants(__u8 route, bool discard)
{
	return route & ROUTE_EVERY_TASK || (route & ROUTE_MONITORED && !discard);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(dispatch_sys_enter, struct pt_regs *regs, long nr)
{
	__u8 route = route_of(targ_enter_routes, nr);
	eun_cgroup_id cgroup_id;
	bool discard;

	if (!route && !targ_count_syscalls)
		return 0;
	if (!filter_call(nr, route, nr, &cgroup_id, &discard))
		return 0;
	if (!discard && targ_count_syscalls)
		count_syscall(cgroup_id, nr);
	if (handler_wants(route, discard))
		EUN_TAIL_SLOT(ctx, sys_enter_handlers, targ_enter_slots[nr & (EUN_SYSCALL_NR_MAX - 1)]);
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
	if (!filter_call(nr, route, EUN_SYSCALL_NR_MAX + nr, &cgroup_id, &discard))
		return 0;
	if (!discard && failed)
		count_eperm(cgroup_id, nr);
	if (handler_wants(route, discard))
		EUN_TAIL_SLOT(ctx, sys_exit_handlers, targ_exit_slots[nr & (EUN_SYSCALL_NR_MAX - 1)]);
	return 0;
}
