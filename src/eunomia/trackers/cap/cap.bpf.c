// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cap: capability checks — which capabilities each container's processes
 * use, and which they were refused.
 *
 * The capability:cap_capable tracepoint (Linux 6.13+) fires at the end of
 * the commoncap LSM's cap_capable(), for every check: TP_PROTO(cred,
 * target_ns, capable_ns, cap, ret), ret 0 when granted and -EPERM when
 * denied.  It does not expose cap_capable()'s `opts`, so checks that are
 * only probes (CAP_OPT_NOAUDIT: ns_capable_noaudit(), has_capability_noaudit())
 * cannot be told from real ones here.  The check is attributed to the
 * current task, which is the one whose credentials are checked except for
 * the rare has_capability(other_task, …).
 *
 * Checks repeat (a chown of 50 files is 50 CAP_CHOWN checks), so they are
 * aggregated in the kernel: cap_counts counts every check by (container
 * cgroup, capability, granted, process name), read by user space at the
 * end; only the first check of a (cgroup, process and exec, capability,
 * granted) is streamed as an event, remembered in the LRU cap_seen.
 */
#include "eunomia/common.h"

typedef __u8 cap_bool;   /* presented as true/false */

struct event_capability {
	enum eun_event_type type;
	eun_errno result;              /* 0 granted, -EPERM denied */
	struct eun_task task;
	eun_cap cap;                   /* name */
	__u32 cap_number;
	cap_bool granted;
	__u8 pad[7];
};

EUN_EVENT(event_capability);

struct cap_count_key {
	eun_cgroup_id cgroup_id;
	__u32 cap;
	__u32 granted;
	eun_comm comm;
};

/* per-CPU values: no atomic increments; user space sums the CPUs */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cap_count_key);
	__type(value, __u64);
} cap_counts SEC(".maps");

/* the exec generation too: after an exec (runc's init becoming the
 * container's entrypoint) the same pid is another program */
struct cap_seen_key {
	eun_cgroup_id cgroup_id;
	eun_pid pid;
	__u32 cap_granted;             /* cap << 1 | granted */
	__u64 exec_id;                 /* task->self_exec_id: +1 at each exec */
};

/* LRU: an evicted key only means that process's next identical check is
 * streamed again */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cap_seen_key);
	__type(value, __u8);
} cap_seen SEC(".maps");

static __always_inline void count_check(struct cap_count_key *key)
{
	__u64 *count = bpf_map_lookup_elem(&cap_counts, key), one = 1;

	if (count) {
		*count += 1;
		return;
	}
	/* BPF_NOEXIST: another CPU may have added the key meanwhile; then
	 * this CPU's slot exists too and the lookup finds it */
	if (bpf_map_update_elem(&cap_counts, key, &one, BPF_NOEXIST)) {
		count = bpf_map_lookup_elem(&cap_counts, key);
		if (count)
			*count += 1;
		else
			stat_inc(EUN_STAT_MAP_FULL);
	}
}

/* True the first time this process (since its last exec) makes this check
 * with this outcome. */
static __always_inline bool first_check(const struct cap_count_key *count)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct cap_seen_key key = {
		.cgroup_id = count->cgroup_id,
		.pid = bpf_get_current_pid_tgid() >> 32,
		.cap_granted = count->cap << 1 | count->granted,
		.exec_id = BPF_CORE_READ(task, self_exec_id),
	};

	return !seen_before(&cap_seen, &key);
}

SEC("raw_tp/cap_capable")
int BPF_PROG(handle_cap_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	struct cap_count_key key = { .cap = cap, .granted = ret == 0 };
	struct event_capability *e;

	key.cgroup_id = bpf_get_current_cgroup_id();
	if (filter_by_container && cgroup_discarded(key.cgroup_id)) {
		stat_inc(EUN_STAT_FILTERED);
		return 0;
	}
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	count_check(&key);
	if (!first_check(&key))
		return 0;
	e = reserve_record(sizeof(*e));
	if (!e)
		return 0;
	e->type = EUN_EV_CAPABILITY;
	e->result = ret;
	fill_task(&e->task, (struct task_struct *)bpf_get_current_task());
	e->cap = e->cap_number = cap;
	e->granted = key.granted;
	commit_record(e);
	return 0;
}
