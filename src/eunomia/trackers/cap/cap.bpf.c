// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cap: capability checks — which capabilities each container's processes
 * use, and which they were refused.
 *
 * The capability:cap_capable tracepoint (Linux 6.13+) fires at the end of
 * the commoncap LSM's cap_capable(), for every check: TP_PROTO(cred,
 * target_ns, capable_ns, cap, ret), ret 0 when granted and -EPERM when
 * denied.  It does not expose cap_capable()'s `opts`, whose CAP_OPT_NOAUDIT
 * marks checks that are only probes (the caller tunes its behaviour on the
 * answer, nothing fails): the kernel stack tells instead.  When user space
 * gives the address ranges of the functions that probe (targ_probe_ranges:
 * security_vm_enough_memory_mm(), ns_capable_noaudit(),
 * has_ns_capability_noaudit(), … from /proc/kallsyms), a check whose first
 * PROBE_STACK_DEPTH frames pass through one of them is a probe.  The check
 * is attributed to the current task.
 *
 * Two facts tell what a check means for the workload:
 *  - the syscall the task was executing (none for a page fault): every
 *    writable private mmap, brk, mprotect, fork (dup_mmap), execve and stack
 *    growth asks for CAP_SYS_ADMIN through security_vm_enough_memory_mm() —
 *    the overcommit heuristic cap_vm_enough_memory(), whose answer only
 *    shifts a reserve and never makes the call fail;
 *  - whose credentials were checked: the task's own (cred == real_cred), or
 *    borrowed ones.  overlayfs does its copy-up, its changes to upper files
 *    and its lookups in the layers with the credentials of whoever mounted
 *    it (override_creds()), so a container writing a file of its image is
 *    checked for CAP_SYS_ADMIN (trusted.* xattrs), CAP_DAC_OVERRIDE,
 *    CAP_FOWNER … with the mounter's credentials, not its own;
 *    has_capability(other_task, …) checks another task's.
 *
 * Checks repeat (a chown of 50 files is at least 50 CAP_CHOWN checks), so
 * they are aggregated in the kernel: cap_counts counts every check by (container
 * cgroup, capability, granted, process name, syscall, credentials), read by
 * user space at the end; only the first check of a (cgroup, process and
 * exec, capability, granted, credentials) is streamed as an event,
 * remembered in the LRU cap_seen.
 */
#include "eunomia/common.h"

#define PF_IO_WORKER 0x00000010   /* linux/sched.h: an io_uring worker */
#define PF_KTHREAD 0x00200000     /* linux/sched.h: a kernel thread */
#define NO_SYSCALL (-1)
#define PROBE_RANGES 6          /* functions that only probe: [start, end) pairs */
#define PROBE_STACK_DEPTH 6     /* cap_capable, the LSM hook, its caller … */

/* [start, end) address pairs; all zero: probes are not told apart */
const volatile __u64 targ_probe_ranges[2 * PROBE_RANGES] = {};

typedef __u8 cap_bool;         /* presented as true/false */
typedef __s32 cap_syscall;     /* a syscall's name; NO_SYSCALL: null */
typedef __u8 cap_credentials;  /* 0 "own", 1 "borrowed" */

struct event_capability {
	enum eun_event_type type;
	eun_errno result;              /* 0 granted, -EPERM denied */
	struct eun_task task;
	eun_cap cap;                   /* name */
	__u32 cap_number;
	cap_bool granted;
	cap_credentials credentials;
	cap_bool probe;                /* asked by a function that only probes */
	__u8 pad;
	cap_syscall syscall;           /* being executed, or NO_SYSCALL */
};

EUN_EVENT(event_capability);

struct cap_count_key {
	eun_cgroup_id cgroup_id;
	__u32 cap;
	__u32 granted;
	eun_comm comm;
	__s32 syscall;                 /* NO_SYSCALL outside a syscall */
	__u16 borrowed;                /* not the task's own credentials */
	__u16 probe;                   /* asked by a function that only probes */
};

/* per-CPU values: no atomic increments; user space sums the CPUs */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct cap_count_key);
	__type(value, __u64);
} cap_counts SEC(".maps");

/* the exec generation too: after an exec (runc's init becoming the
 * container's entrypoint) the same pid is another program; and whose
 * credentials, so that a borrowed check does not hide the task's own */
struct cap_seen_key {
	eun_cgroup_id cgroup_id;
	eun_pid pid;
	__u32 check;                   /* cap << 3 | probe << 2 | borrowed << 1 | granted */
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

/* True the first time this process (since its last exec) makes this check
 * with this outcome and these credentials. */
static __always_inline bool first_check(struct task_struct *task, const struct cap_count_key *count)
{
	struct cap_seen_key key = {
		.cgroup_id = count->cgroup_id,
		.pid = bpf_get_current_pid_tgid() >> 32,
		.check = count->cap << 3 | count->probe << 2 | count->borrowed << 1 | count->granted,
		.exec_id = task->self_exec_id,
	};

	return !seen_before(&cap_seen, &key);
}

/*
 * The syscall the task is executing, or NO_SYSCALL (a page fault, an
 * interrupt, an io_uring worker, a kernel thread).  task_pt_regs() is the
 * user context saved at kernel entry: a syscall entry keeps the number there
 * (x86-64 orig_ax, arm64 syscallno) and every other entry from user mode —
 * an exception, an interrupt — stores -1 in the same slot, which is what
 * syscall_get_nr() reports.  Kernel threads and io_uring workers have no
 * user context (their regs are zeroed: 0 would read as a syscall).
 */
static __always_inline int current_syscall(struct task_struct *task)
{
	struct pt_regs *regs;
	long nr;

	if (task->flags & (PF_KTHREAD | PF_IO_WORKER))
		return NO_SYSCALL;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return NO_SYSCALL;
#if defined(__TARGET_ARCH_x86)
	nr = regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	nr = regs->syscallno;
#else
#error "cap.bpf.c: syscall number register unknown for this architecture"
#endif
	return nr < 0 ? NO_SYSCALL : nr;
}

/* Did a function that only probes ask (see targ_probe_ranges)? */
static __always_inline bool asked_by_probe(void *ctx)
{
	__u64 ips[PROBE_STACK_DEPTH] = {};
	long size;

	if (!targ_probe_ranges[0])
		return false;
	size = bpf_get_stack(ctx, ips, sizeof(ips), 0);
	if (size <= 0)
		return false;
	for (int i = 0; i < PROBE_STACK_DEPTH; i++) {
		for (int j = 0; j < PROBE_RANGES; j++) {
			if (ips[i] >= targ_probe_ranges[2 * j] && ips[i] < targ_probe_ranges[2 * j + 1])
				return true;
		}
	}
	return false;
}

SEC("raw_tp/cap_capable")
int BPF_PROG(handle_cap_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	struct cap_count_key key = { .cap = cap, .granted = ret == 0 };
	struct event_capability *e;
	struct task_struct *task;

	key.cgroup_id = bpf_get_current_cgroup_id();
	if (filter_by_container && cgroup_discarded(key.cgroup_id)) {
		stat_inc(EUN_STAT_FILTERED);
		return 0;
	}
	task = bpf_get_current_task_btf();
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.syscall = current_syscall(task);
	key.borrowed = cred != task->real_cred;
	key.probe = asked_by_probe(ctx);
	count_key(&cap_counts, &key);
	if (!first_check(task, &key))
		return 0;
	e = reserve_record(sizeof(*e));
	if (!e)
		return 0;
	e->type = EUN_EV_CAPABILITY;
	e->result = ret;
	fill_task(&e->task, task);
	e->cap = e->cap_number = cap;
	e->granted = key.granted;
	e->credentials = key.borrowed;
	e->probe = key.probe;
	e->syscall = key.syscall;
	commit_record(e);
	return 0;
}
