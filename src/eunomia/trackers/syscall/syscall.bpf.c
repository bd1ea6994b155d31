// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * syscall: how often each container makes each syscall — counted in the
 * kernel, never streamed.
 *
 * raw_tp/sys_enter runs for every syscall of every task on the machine, so
 * the "not monitored" exit must be cheap: should_discard_cached() answers
 * from a per-CPU cache of the last task.  Counting happens at entry, so
 * syscalls that never return (exit_group, a successful execve) are counted.
 */
#include "eunomia/common.h"

struct syscall_key {
	eun_cgroup_id cgroup_id;
	eun_syscall nr;
	__u32 pad;
};

/* per-CPU values: no atomic increments on the hot path */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct syscall_key);
	__type(value, __u64);
} syscall_counts SEC(".maps");

static __always_inline void count_syscall(eun_cgroup_id cgroup_id, long nr)
{
	struct syscall_key key = { .cgroup_id = cgroup_id, .nr = nr };
	__u64 *count, one = 1;

	count = bpf_map_lookup_elem(&syscall_counts, &key);
	if (count) {
		*count += 1;
		return;
	}
	/* BPF_NOEXIST: another CPU may have added it meanwhile; that is fine */
	if (bpf_map_update_elem(&syscall_counts, &key, &one, BPF_NOEXIST) == -E2BIG)
		stat_inc(EUN_STAT_MAP_FULL);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long nr)
{
	eun_cgroup_id cgroup_id;

	if (should_discard_cached(&cgroup_id))
		return 0;
	if (nr >= 0)
		count_syscall(cgroup_id, nr);
	return 0;
}
