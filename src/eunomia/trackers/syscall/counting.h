/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Counting syscalls per container: the maps the syscall tracker reads, and
 * what the dispatcher (dispatch.bpf.c) does with them at every entry of a
 * monitored task when the tracker is on.  Both objects include this file;
 * user space creates the maps once, in the dispatcher, and hands their fds
 * to the tracker's object.
 *
 * Counting:
 *  - not monitored: the dispatcher's cached filter has said so already;
 *  - monitored: one load of the task's comm tells the runtime's tasks from
 *    the workload's; each container cgroup gets a slot, and a slot is one
 *    per-CPU array element of SYSCALL_NR_MAX counters — array lookups are
 *    inlined by the verifier, so a workload count is a few loads and one
 *    store.  Past SLOT_MAX containers (or for numbers >= SYSCALL_NR_MAX)
 *    counting falls back to a hash keyed by (cgroup id, number).
 * Counting happens at entry, so syscalls that never return (exit_group, a
 * successful execve) are counted too.  A call a seccomp filter rejects
 * never gets here: the kernel runs the filter before the sys_enter
 * tracepoint, and skips the call (and the tracepoint) when the filter says
 * no — it is only seen at sys_exit, with its error.
 */
#ifndef EUNOMIA_SYSCALL_COUNTING_H
#define EUNOMIA_SYSCALL_COUNTING_H

#include "eunomia/dispatch.h"

/* count the calls of monitored containers that returned -EPERM */
const volatile bool targ_failures = false;

#define SYSCALL_NR_MAX EUN_SYSCALL_NR_MAX
#define SLOT_MAX 256           /* containers with a fast slot */
#define NO_SLOT 0xffffffff

#define SECCOMP_MODE_FILTER 2  /* uapi linux/seccomp.h */

/* comm prefixes of runc's set-up tasks, read as one little-endian word */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "syscall.bpf.c: the comm constants below are little-endian"
#endif
#define RUNC_STAGE 0x5b3a636e7572ULL   /* "runc:[" (runc:[0:PARENT], …) */
#define RUNC_STAGE_MASK 0xffffffffffffULL
#define RUNC_INIT 0x00636e7572ULL      /* "runc" and its NUL: `runc init` */
#define RUNC_INIT_MASK 0xffffffffffULL

struct syscall_key {
	eun_cgroup_id cgroup_id;
	eun_syscall nr;
	__u32 pad;
};

struct slot_counts {
	__u64 n[SYSCALL_NR_MAX];
};

/* per-CPU values: no atomic increments on the hot path */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOT_MAX);
	__type(key, __u32);
	__type(value, struct slot_counts);
} slot_counts SEC(".maps");

/* cgroup id → slot, assigned on a container's first syscall */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLOT_MAX);
	__type(key, eun_cgroup_id);
	__type(value, __u32);
} cgroup_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct syscall_key);
	__type(value, __u64);
} syscall_counts SEC(".maps");   /* the workload's fallback */

/* the runtime's calls under the container's seccomp filter: a few dozen
 * keys per container */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct syscall_key);
	__type(value, __u64);
} runtime_syscall_counts SEC(".maps");

/* the runtime's calls before the filter: not counted by number */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unfiltered_runtime_calls SEC(".maps");

/* targ_failures: calls that returned -EPERM */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct syscall_key);
	__type(value, __u64);
} eperm_counts SEC(".maps");

struct slot_cache {
	eun_cgroup_id cgroup_id;
	__u32 slot;
	__u32 valid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot_cache);
} slot_cache SEC(".maps");

__u32 next_slot = 0;

static __always_inline __u32 slot_assign(eun_cgroup_id cgroup_id)
{
	__u32 *found = bpf_map_lookup_elem(&cgroup_slots, &cgroup_id);
	__u32 slot;

	if (found)
		return *found;
	slot = __sync_fetch_and_add(&next_slot, 1);
	if (slot >= SLOT_MAX)
		return NO_SLOT;
	if (bpf_map_update_elem(&cgroup_slots, &cgroup_id, &slot, BPF_NOEXIST)) {
		/* another CPU assigned one first: use it (this slot stays unused) */
		found = bpf_map_lookup_elem(&cgroup_slots, &cgroup_id);
		return found ? *found : NO_SLOT;
	}
	return slot;
}

static __always_inline __u32 slot_of(eun_cgroup_id cgroup_id)
{
	__u32 zero = 0;
	struct slot_cache *c = bpf_map_lookup_elem(&slot_cache, &zero);

	if (!c)
		return NO_SLOT;
	if (c->valid && c->cgroup_id == cgroup_id)
		return c->slot;
	c->cgroup_id = cgroup_id;
	c->slot = slot_assign(cgroup_id);
	c->valid = 1;
	return c->slot;
}

/* +1 for (cgroup, nr) in a per-CPU hash of struct syscall_key */
static __always_inline void count_in(void *map, eun_cgroup_id cgroup_id, long nr)
{
	struct syscall_key key = { .cgroup_id = cgroup_id, .nr = nr };

	count_key(map, &key);
}

/* One of runc's set-up tasks?  comm is read as one 8-byte word: its first
 * bytes are "runc:[" or "runc" and the NUL. */
static __always_inline bool runtime_task(struct task_struct *task)
{
	__u64 head = *(__u64 *)task->comm;

	return (head & RUNC_STAGE_MASK) == RUNC_STAGE || (head & RUNC_INIT_MASK) == RUNC_INIT;
}

/* Is a seccomp filter in force for this task?  (SECCOMP_MODE_FILTER is set
 * when the first filter is installed and stays for the task's life, passed
 * on at fork and kept across exec.) */
static __always_inline bool seccomp_filtered(struct task_struct *task)
{
	if (!bpf_core_field_exists(task->seccomp.mode))
		return false;  /* a kernel without CONFIG_SECCOMP */
	return task->seccomp.mode == SECCOMP_MODE_FILTER;
}

static __always_inline void count_runtime(struct task_struct *task, eun_cgroup_id cgroup_id, long nr)
{
	__u32 zero = 0;
	__u64 *unfiltered;

	if (seccomp_filtered(task)) {
		count_in(&runtime_syscall_counts, cgroup_id, nr);
		return;
	}
	unfiltered = bpf_map_lookup_elem(&unfiltered_runtime_calls, &zero);
	if (unfiltered)
		*unfiltered += 1;
}

/* +1 for (cgroup, nr): the runtime's, or the workload's in its slot */
static __always_inline void count_syscall(eun_cgroup_id cgroup_id, long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct slot_counts *counts;
	__u32 slot;

	if (runtime_task(task)) {
		count_runtime(task, cgroup_id, nr);
		return;
	}
	slot = slot_of(cgroup_id);
	if (slot < SLOT_MAX && nr < SYSCALL_NR_MAX) {
		counts = bpf_map_lookup_elem(&slot_counts, &slot);
		if (counts) {
			counts->n[nr & (SYSCALL_NR_MAX - 1)] += 1;
			return;
		}
	}
	count_in(&syscall_counts, cgroup_id, nr);
}

/*
 * targ_failures: calls that returned -EPERM, what a seccomp profile's
 * SCMP_ACT_ERRNO (errno 1) makes a call return — and what a call refused
 * for want of a capability returns.  A call the filter rejected still
 * passes sys_exit with its original number.  The runtime's calls before
 * the filter are left out: no seccomp filter made them fail.
 */
static __always_inline void count_eperm(eun_cgroup_id cgroup_id, long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (runtime_task(task) && !seccomp_filtered(task))
		return;
	count_in(&eperm_counts, cgroup_id, nr);
}

#endif
