/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The container filter every program calls first.
 *
 * A task belongs to a container when its cgroup v2 id has a verdict in
 * container_verdicts; the map is shared by every tracker object (user space
 * hands one fd to all of them before load).  User space seeds it from the
 * cgroup tree at start, and the cgroup tracker adds verdicts in the kernel
 * the moment a container's cgroup is created, so a container started later
 * is filtered from its first instruction.  A cgroup without a verdict is the
 * host's.
 */
#ifndef EUNOMIA_FILTER_H
#define EUNOMIA_FILTER_H

/* off: every task passes (e.g. --host without -c) */
const volatile bool filter_by_container = false;
/* with filter_by_container: let tasks of non-container cgroups pass */
const volatile bool filter_keep_host = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, eun_cgroup_id);
	__type(value, __u8); /* enum eun_verdict */
} container_verdicts SEC(".maps");

static __always_inline bool cgroup_discarded(eun_cgroup_id cgid)
{
	__u8 *verdict;

	if (!filter_by_container)
		return false;
	verdict = bpf_map_lookup_elem(&container_verdicts, &cgid);
	if (!verdict)
		return !filter_keep_host;
	return *verdict != EUN_VERDICT_KEEP;
}

/* True when the current task's events must not reach user space. */
static __always_inline bool should_discard(void)
{
	if (!filter_by_container)
		return false;
	if (cgroup_discarded(bpf_get_current_cgroup_id())) {
		stat_inc(EUN_STAT_FILTERED);
		return true;
	}
	return false;
}

#endif
