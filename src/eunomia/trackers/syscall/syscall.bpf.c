// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * syscall: how often each container makes each syscall — counted in the
 * kernel, never streamed.
 *
 * raw_tp/sys_enter runs for every syscall of every task on the machine, so
 * both exits must be cheap:
 *  - not monitored: should_discard_cached() answers from a per-CPU cache of
 *    the last task, without a cgroup or hash lookup;
 *  - monitored: each container cgroup gets a slot, and a slot is one per-CPU
 *    array element of SYSCALL_NR_MAX counters — array lookups are inlined
 *    by the verifier, so a count is a few loads and one store.  Past
 *    SLOT_MAX containers (or for numbers >= SYSCALL_NR_MAX) counting falls
 *    back to a hash keyed by (cgroup id, number).
 * Counting happens at entry, so syscalls that never return (exit_group, a
 * successful execve) are counted too.
 */
#include "eunomia/common.h"

#define SYSCALL_NR_MAX 512     /* x86-64 and arm64 numbers are below 470 */
#define SLOT_MAX 256           /* containers with a fast slot */
#define NO_SLOT 0xffffffff

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
} syscall_counts SEC(".maps");   /* the fallback */

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

static __always_inline void count_in_hash(eun_cgroup_id cgroup_id, long nr)
{
	struct syscall_key key = { .cgroup_id = cgroup_id, .nr = nr };
	__u64 *count, one = 1;

	count = bpf_map_lookup_elem(&syscall_counts, &key);
	if (count) {
		*count += 1;
		return;
	}
	if (bpf_map_update_elem(&syscall_counts, &key, &one, BPF_NOEXIST) == -E2BIG)
		stat_inc(EUN_STAT_MAP_FULL);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long nr)
{
	eun_cgroup_id cgroup_id;
	struct slot_counts *counts;
	__u32 slot;

	if (should_discard_cached(&cgroup_id) || nr < 0)
		return 0;
	slot = slot_of(cgroup_id);
	if (slot < SLOT_MAX && nr < SYSCALL_NR_MAX) {
		counts = bpf_map_lookup_elem(&slot_counts, &slot);
		if (counts) {
			counts->n[nr & (SYSCALL_NR_MAX - 1)] += 1;
			return 0;
		}
	}
	count_in_hash(cgroup_id, nr);
	return 0;
}
