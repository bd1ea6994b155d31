// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * syscall: how often each container makes each syscall — counted in the
 * kernel, not streamed (only module load and mount attempts are, see
 * attempts.h) — split into what the container's own programs
 * call (the workload) and what the container runtime calls once the
 * container's seccomp filter is in force; with targ_failures, also the calls
 * that returned -EPERM.
 *
 * raw_tp/sys_enter runs for every syscall of every task on the machine, so
 * both exits must be cheap:
 *  - not monitored: should_discard_cached() answers from a per-CPU cache of
 *    the last task, without a cgroup or hash lookup;
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
#include "eunomia/syscall_nr.h"
#include "attempts.h"

#define SYSCALL_NR_MAX 512     /* x86-64 and arm64 numbers are below 470 */
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

/* count the calls of monitored containers that returned -EPERM */
const volatile bool targ_failures = false;

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

SEC("raw_tp/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long nr)
{
	struct task_struct *task;
	eun_cgroup_id cgroup_id;
	struct slot_counts *counts;
	__u32 slot;

	if (should_discard_cached(&cgroup_id) || nr < 0)
		return 0;
	/* a 32-bit (ia32) call's number names another syscall: not counted */
	if (eun_compat_syscall())
		return 0;
	task = bpf_get_current_task_btf();
	if (runtime_task(task)) {
		count_runtime(task, cgroup_id, nr);
		return 0;
	}
	report_attempt(regs, nr, task);
	slot = slot_of(cgroup_id);
	if (slot < SLOT_MAX && nr < SYSCALL_NR_MAX) {
		counts = bpf_map_lookup_elem(&slot_counts, &slot);
		if (counts) {
			counts->n[nr & (SYSCALL_NR_MAX - 1)] += 1;
			return 0;
		}
	}
	count_in(&syscall_counts, cgroup_id, nr);
	return 0;
}

/*
 * targ_failures: calls that returned -EPERM, what a seccomp profile's
 * SCMP_ACT_ERRNO (errno 1) makes a call return — and what a call refused
 * for want of a capability returns.  At sys_exit the raw tracepoint gets
 * (regs, ret); the number is read from the regs.  A call the filter
 * rejected still passes here with its original number.  The runtime's
 * calls before the filter are left out: no seccomp filter made them fail.
 * With the knob off the verifier drops everything after the first test.
 */
static __always_inline void count_eperm(struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	eun_cgroup_id cgroup_id;
	long nr;

	if (ret != -EPERM || should_discard_cached(&cgroup_id))
		return;
	task = bpf_get_current_task_btf();
	if (runtime_task(task) && !seccomp_filtered(task))
		return;
	nr = EUN_SYSCALL_NR(regs);
	if (nr >= 0)
		count_in(&eperm_counts, cgroup_id, nr);
}

/* ctx: (regs, ret), read only once the knob said yes — off, the program is
 * `return 0` and nothing else (BPF_PROG would load both arguments first) */
SEC("raw_tp/sys_exit")
int handle_eperm(struct bpf_raw_tracepoint_args *ctx)
{
	if (!targ_failures)
		return 0;
	count_eperm((struct pt_regs *)ctx->args[0], (long)ctx->args[1]);
	return 0;
}
