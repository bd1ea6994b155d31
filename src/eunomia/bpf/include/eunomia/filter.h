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

/*
 * Every-syscall hooks cannot afford a cgroup lookup per call
 * (bpf_get_current_cgroup_id() alone costs ~20 ns, the hash lookup more).
 * They use a per-CPU cache of the last task's answer, keyed by the
 * task_struct address and pid_tgid, and valid while filter_generation is
 * unchanged: the cgroup tracker bumps it whenever a verdict is set or a task
 * moves between cgroups, and user space bumps it after changing verdicts.
 * One cache for every object (user space shares the map): a syscall
 * handler finds there the answer the dispatcher just looked up.
 */
struct filter_cache {
	void *task;
	__u64 pid_tgid;
	__u64 generation;
	eun_cgroup_id cgroup_id;
	__u64 discard;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_cache);
} filter_cache SEC(".maps");

/* shared by every object, like container_verdicts */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} filter_generation SEC(".maps");

static __always_inline void filter_generation_bump(void)
{
	__u32 zero = 0;
	__u64 *gen = bpf_map_lookup_elem(&filter_generation, &zero);

	if (gen)
		__sync_fetch_and_add(gen, 1);
}

/*
 * The cached filter for hot paths: true to discard; *cgid receives the
 * task's cgroup id either way.  Does not count EUN_STAT_FILTERED (that
 * per-call increment is what the cache exists to avoid).
 */
static __always_inline bool should_discard_task(struct task_struct *task, eun_cgroup_id *cgid)
{
	__u32 zero = 0;
	struct filter_cache *c = bpf_map_lookup_elem(&filter_cache, &zero);
	__u64 *gen = bpf_map_lookup_elem(&filter_generation, &zero);
	/* plain loads from the task's BTF pointer, not a helper call */
	__u64 pid_tgid = (__u64)task->tgid << 32 | (__u32)task->pid;

	if (!c || !gen)
		return true;
	if (c->task == task && c->pid_tgid == pid_tgid && c->generation == *gen) {
		*cgid = c->cgroup_id;
		return c->discard;
	}
	c->task = task;
	c->pid_tgid = pid_tgid;
	c->generation = *gen;
	c->cgroup_id = bpf_get_current_cgroup_id();
	c->discard = cgroup_discarded(c->cgroup_id);
	*cgid = c->cgroup_id;
	return c->discard;
}

static __always_inline bool should_discard_cached(eun_cgroup_id *cgid)
{
	return should_discard_task(bpf_get_current_task_btf(), cgid);
}

/*
 * In a syscall handler: the answer the dispatcher just looked up for this
 * task.  A handler only runs as a tail call of the dispatcher, in the same
 * run on the same CPU, right after its should_discard_task() filled this
 * shared cache; asking again would do the same work twice per call.
 */
static __always_inline bool dispatched_discard(eun_cgroup_id *cgid)
{
	__u32 zero = 0;
	struct filter_cache *c = bpf_map_lookup_elem(&filter_cache, &zero);

	if (!c)
		return true;
	*cgid = c->cgroup_id;
	return c->discard;
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
