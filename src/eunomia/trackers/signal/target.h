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
 * allows for KASAN's doubled task stacks.  Two cases run interrupt work on a
 * task stack all the same: ksoftirqd, and an interrupt that stopped user
 * code (both below).
 */
#define EUN_TASK_STACK_SPAN (32 << 10)

#define PF_KTHREAD 0x00200000
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "target.h: the comm constants below are little-endian"
#endif
#define KSOFTIRQD_HEAD 0x71726974666f736bULL /* "ksoftirq", then "d/" and the CPU */

/*
 * Softirqs the kernel could not finish on an interrupt's exit are run by the
 * per-CPU kernel thread ksoftirqd, on its own task stack: the stack test
 * sees task context there, and `current` is ksoftirqd.  Under load an
 * expiring timer's signal (SIGALRM) is sent from there.  It is interrupt
 * work all the same.
 */
static __always_inline bool in_ksoftirqd(struct task_struct *current)
{
	__u64 head = 0;

	if (!(BPF_CORE_READ(current, flags) & PF_KTHREAD))
		return false;
	BPF_CORE_READ_INTO(&head, current, comm);
	return head == KSOFTIRQD_HEAD;
}

#define SIGCHLD 17

/*
 * An interrupt that arrives while the CPU runs user code does not switch to
 * the irq stack on x86-64: its handler runs on the interrupted task's own
 * stack, whose entry frame then holds orig_ax -1.  So does the frame of any
 * entry from user mode but a syscall (a page fault, a breakpoint), and the
 * kernel's work on the way back to user mode runs in task context above
 * such a frame: a process dying of a signal tells its parent (SIGCHLD),
 * kills its other threads, faults on its own signal frame.  Those signals
 * go to the task's own process or are SIGCHLD; an interrupt's signal to
 * another process is neither (a timer's SIGALRM, a POSIX timer, SIGIO).  An
 * interrupt's signal to the very process it stopped is taken for the
 * kernel's: the process is the same either way.
 */
static __always_inline bool entered_by_interrupt(struct task_struct *current, struct task_struct *target, int sig)
{
	struct pt_regs *regs;

	if (sig == SIGCHLD || BPF_CORE_READ(current, flags) & PF_KTHREAD)
		return false;
	if (BPF_CORE_READ(target, tgid) == BPF_CORE_READ(current, tgid))
		return false;
	/* the helper takes a BTF-typed task: current, as bpf_get_current_task_btf() gives it */
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return regs && EUN_SYSCALL_NR(regs) == -1;
}

static __always_inline bool in_interrupt_context(struct task_struct *current, void *raw_tp_ctx,
						 struct task_struct *target, int sig)
{
	__u64 sp = 0;
	__u64 base = (__u64)BPF_CORE_READ(current, stack);

	/* copied through a helper, the pointer becomes a plain number */
	if (bpf_probe_read_kernel(&sp, sizeof(sp), &raw_tp_ctx) || !base)
		return false;
	if (sp - base >= EUN_TASK_STACK_SPAN)
		return true;  /* on an irq stack: an interrupt that stopped kernel code */
	return in_ksoftirqd(current) || entered_by_interrupt(current, target, sig);
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
