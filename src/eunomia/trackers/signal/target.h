/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The other process of a signal, ptrace or unix-connect event: the signal's
 * target, the tracee, the process listening on the socket.  Read from its
 * task_struct with CO-RE, so it works whatever namespace the actor is in.
 */
#ifndef EUNOMIA_SIGNAL_TARGET_H
#define EUNOMIA_SIGNAL_TARGET_H

typedef __u8 sig_bool;   /* presented as true/false */

struct eun_target {
	eun_pid pid;               /* tgid in the host pid namespace; 0: unknown */
	eun_pid tid;
	eun_cgroup_id cgroup_id;   /* 0: unknown */
	eun_comm comm;
};

static __always_inline eun_cgroup_id task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

static __always_inline void clear_target(struct eun_target *t)
{
	__builtin_memset(t, 0, sizeof(*t));
}

static __always_inline void fill_target(struct eun_target *t, struct task_struct *task)
{
	clear_target(t);
	if (!task)
		return;
	t->pid = BPF_CORE_READ(task, tgid);
	t->tid = BPF_CORE_READ(task, pid);
	t->cgroup_id = task_cgroup_id(task);
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
}

/* Like fill_task(), for a task that is not the current one. */
static __always_inline void fill_task_of(struct eun_task *t, struct task_struct *task)
{
	t->ts = bpf_ktime_get_ns();
	t->cgroup_id = task_cgroup_id(task);
	t->pid = BPF_CORE_READ(task, tgid);
	t->tid = BPF_CORE_READ(task, pid);
	t->uid = BPF_CORE_READ(task, cred, uid.val);
	t->gid = BPF_CORE_READ(task, cred, gid.val);
	t->ppid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_INTO(&t->cap_effective, task, cred, cap_effective);
	t->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	t->pidns = BPF_CORE_READ(task, nsproxy, pid_ns_for_children, ns.inum);
	t->flags = 0;
	__builtin_memset(t->comm, 0, sizeof(t->comm));
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
}

/* The task's id in the pid namespace at `level` (the kernel's pid_nr_ns());
 * -1 when the task is not visible there. */
static __always_inline __s32 task_nr_at(struct task_struct *task, __u32 level)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	__s32 nr = -1;

	if (!pid || BPF_CORE_READ(pid, level) < level || level > 32)
		return -1;
	bpf_probe_read_kernel(&nr, sizeof(nr), (void *)pid + bpf_core_field_offset(struct pid, numbers) +
			      level * bpf_core_type_size(struct upid) + bpf_core_field_offset(struct upid, nr));
	return nr;
}

/* The thread group leader of a struct pid of type PIDTYPE_TGID (what
 * sk_peer_pid holds), or NULL once that process is gone. */
static __always_inline struct task_struct *pid_leader(struct pid *pid)
{
	struct hlist_node *first = BPF_CORE_READ(pid, tasks[PIDTYPE_TGID].first);

	if (!first)
		return NULL;
	return (void *)first - (bpf_core_field_offset(struct task_struct, pid_links) +
				PIDTYPE_TGID * sizeof(struct hlist_node));
}

/*
 * Interrupt context (hard or soft irq, NMI): a signal generated there (a
 * timer expiring, SIGIO) was sent by no process — `current` is whoever was
 * interrupted.  The preempt count that in_task() reads is a per-CPU variable
 * the BPF program cannot address here (typed ksyms of per-CPU variables need
 * CONFIG_KALLSYMS_ALL), so ask where the tracepoint runs instead: interrupts
 * (and the softirqs they run on exit) use the per-CPU irq stacks, NMIs their
 * own, never the task's stack.  A raw tracepoint's context (its argument
 * array) lives on the stack of the traced code; the program's own stack
 * may not (x86 gives tracing programs a private per-CPU stack).  The span
 * allows for KASAN's doubled task stacks.
 */
#define EUN_TASK_STACK_SPAN (32 << 10)

static __always_inline bool in_interrupt_context(struct task_struct *current, void *raw_tp_ctx)
{
	__u64 sp = 0;
	__u64 base = (__u64)BPF_CORE_READ(current, stack);

	/* copied through a helper, the pointer becomes a plain number */
	if (bpf_probe_read_kernel(&sp, sizeof(sp), &raw_tp_ctx) || !base)
		return false;
	return sp - base >= EUN_TASK_STACK_SPAN;
}

/* Container filter for an event with two parties: it passes when either is
 * monitored.  An unknown party (cgroup id 0) is not monitored. */
static __always_inline bool both_discarded(bool actor_discarded, eun_cgroup_id other)
{
	if (!filter_by_container || !actor_discarded)
		return false;
	if (other && !cgroup_discarded(other))
		return false;
	stat_inc(EUN_STAT_FILTERED);
	return true;
}

#endif
