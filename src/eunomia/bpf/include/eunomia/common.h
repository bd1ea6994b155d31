/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What every tracker includes: the task context stamped on each event, the
 * ring buffer, the per-CPU statistics and the container filter.
 */
#ifndef EUNOMIA_COMMON_H
#define EUNOMIA_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "eunomia/types.h"

/* errno values the programs compare with (uapi asm-generic/errno-base.h) */
#define EPERM 1
#define ENOENT 2
#define E2BIG 7
#define ENOMEM 12
#define EEXIST 17
#define EINPROGRESS 115

#ifndef EUN_RINGBUF_BYTES
#define EUN_RINGBUF_BYTES (4 << 20) /* user space may resize before load */
#endif

/* Who did it: filled from the current task for every event. */
struct eun_task {
	eun_ts ts;
	eun_cgroup_id cgroup_id;
	eun_cap_set cap_effective;
	eun_pid pid;
	eun_pid tid;
	eun_pid ppid;
	eun_uid uid;
	eun_gid gid;
	eun_nsid mntns;
	eun_nsid pidns;
	__u32 flags;            /* enum eun_event_flags */
	eun_comm comm;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EUN_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EUN_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tracker_stats SEC(".maps");

/* keeps enum eun_stat in every object's BTF: user space names the counters from it */
const enum eun_stat __eun_stat_enum = EUN_STAT_MAX;

static __always_inline void stat_inc(enum eun_stat which)
{
	__u32 key = which;
	__u64 *count = bpf_map_lookup_elem(&tracker_stats, &key);

	if (count)
		*count += 1; /* per-CPU slot: no atomics needed */
}

/*
 * Wakeups.  By default the kernel wakes a waiting reader for every record
 * committed after the reader caught up: an irq_work on the producer's CPU
 * and a context switch for the reader, per record at low rates.  With
 * targ_wakeup_bytes set, records are committed without a wakeup
 * (BPF_RB_NO_WAKEUP) and the reader drains on its own clock; only once that
 * many bytes wait unread is it woken (BPF_RB_FORCE_WAKEUP), so a burst is
 * read before the ring fills.
 */
const volatile __u64 targ_wakeup_bytes = 0;

static __always_inline __u64 wakeup_flag(void)
{
	if (!targ_wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= targ_wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Copy a finished record into the ring; a full ring is counted, not hidden. */
static __always_inline void submit_record(void *data, __u64 size)
{
	if (bpf_ringbuf_output(&events, data, size, wakeup_flag()))
		stat_inc(EUN_STAT_LOST);
	else
		stat_inc(EUN_STAT_SUBMITTED);
}

static __always_inline void *reserve_record(__u64 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec)
		stat_inc(EUN_STAT_LOST);
	return rec;
}

static __always_inline void commit_record(void *rec)
{
	bpf_ringbuf_submit(rec, wakeup_flag());
	stat_inc(EUN_STAT_SUBMITTED);
}

/*
 * De-duplication of streamed events: true when key is already in map (an
 * LRU hash of "already reported" keys), else it is remembered.  A repeat is
 * counted as EUN_STAT_REPEATED.  Look up first: an LRU update takes a free
 * node (evicting when there is none) even when the key exists; -EEXIST means
 * another CPU remembered it first.
 */
static __always_inline bool seen_before(void *map, const void *key)
{
	__u8 one = 1;

	if (bpf_map_lookup_elem(map, key) ||
	    bpf_map_update_elem(map, key, &one, BPF_NOEXIST) == -EEXIST) {
		stat_inc(EUN_STAT_REPEATED);
		return true;
	}
	return false;
}

/*
 * +1 for key in a per-CPU hash of __u64 counters (no atomics: user space
 * sums the CPUs).  A failed insert with BPF_NOEXIST means another CPU added
 * the key meanwhile — this CPU's slot exists then and the lookup finds it —
 * or the map is full, counted as EUN_STAT_MAP_FULL.
 */
static __always_inline void count_key(void *map, const void *key)
{
	__u64 *count = bpf_map_lookup_elem(map, key), one = 1;

	if (count) {
		*count += 1;
		return;
	}
	if (bpf_map_update_elem(map, key, &one, BPF_NOEXIST)) {
		count = bpf_map_lookup_elem(map, key);
		if (count)
			*count += 1;
		else
			stat_inc(EUN_STAT_MAP_FULL);
	}
}

static __always_inline void fill_task(struct eun_task *t, struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	t->ts = bpf_ktime_get_ns();
	t->cgroup_id = bpf_get_current_cgroup_id();
	t->pid = pid_tgid >> 32;
	t->tid = (__u32)pid_tgid;
	t->uid = (__u32)uid_gid;
	t->gid = uid_gid >> 32;
	/* real_parent: the process that forked us, not a ptrace tracer */
	t->ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* kernel_cap_t is one u64 since 6.3 and u32[2] before: the same 8 bytes */
	BPF_CORE_READ_INTO(&t->cap_effective, task, cred, cap_effective);
	t->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	t->pidns = BPF_CORE_READ(task, nsproxy, pid_ns_for_children, ns.inum);
	t->flags = 0;
	bpf_get_current_comm(t->comm, sizeof(t->comm));
}

#include "eunomia/filter.h"

/*
 * Declare every event struct a tracker emits.  clang writes BTF only for
 * types that something global refers to; records built in a ring-buffer
 * reservation would otherwise leave user space without their layout.
 */
#define EUN_EVENT(name) const struct name *const __eun_event_##name = (void *)0

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#endif
