// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * signal: processes acting on other processes — signals, ptrace requests,
 * connections to unix sockets.
 *
 * Signals: the signal_generate raw tracepoint fires in __send_signal_locked()
 * once per target, in the sender's context, for every signal the kernel
 * generates: kill(2) and friends, and the kernel's own (SIGCHLD of an
 * exiting child, SIGPIPE, SIGSEGV, a timer's SIGALRM).  A kill(2) that fails
 * (ESRCH, EPERM) or only probes (signal 0) never gets there: the syscall
 * tracepoints of kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo and
 * pidfd_send_signal remember each call, so signal_generate can name the call
 * that caused it, and the call's exit reports it when it generated nothing.
 * One kill() thus gives one event per process it reached, or one event with
 * the errno.
 *
 * An event passes the container filter when the sender's container or the
 * target's is monitored: a signal sent into a monitored container from the
 * host matters.
 */
#include "eunomia/common.h"
#include "eunomia/syscall_nr.h"
#include "eunomia/dispatch.h"
#include "target.h"

/* What the kernel did with a generated signal (enum trace_signal_result),
 * or a syscall's -errno when none was generated; SIG_RESULT_NONE: the call
 * succeeded without generating a signal (signal 0: only a permission probe). */
typedef __s32 eun_sig_result;
#define SIG_RESULT_NONE 0x100

#define SI_USER 0
#define SI_KERNEL 0x80

/* Who sent it: a syscall of process.*, the kernel on behalf of process.*
 * (SIGCHLD, SIGPIPE, SIGSEGV…), or the kernel from interrupt context. */
enum signal_origin {
	SIGNAL_FROM_KERNEL = 0,
	SIGNAL_FROM_INTERRUPT = 1,
	SIGNAL_FROM_KILL = 2,
	SIGNAL_FROM_TKILL = 3,
	SIGNAL_FROM_TGKILL = 4,
	SIGNAL_FROM_RT_SIGQUEUEINFO = 5,
	SIGNAL_FROM_RT_TGSIGQUEUEINFO = 6,
	SIGNAL_FROM_PIDFD_SEND_SIGNAL = 7,
};

struct event_signal {
	enum eun_event_type type;
	eun_sig_result result;
	struct eun_task task;          /* the sender */
	struct eun_target target;      /* pid 0: the call reached no process */
	eun_signal sig;                /* name */
	__u32 signo;                   /* number */
	__s32 code;                    /* si_code */
	__s32 requested_pid;           /* the pid argument, caller's namespace */
	enum signal_origin origin;
	sig_bool group;                /* sent to the whole process */
	sig_bool has_requested_pid;
	__u8 pad[2];
};

EUN_EVENT(event_signal);

/* a kill-family call in flight, by thread */
struct signal_call {
	__s32 requested_pid;
	__u32 sig;
	__u32 origin;          /* enum signal_origin */
	__u32 generated;       /* signal_generate hits during the call */
	__u8 has_pid;
	__u8 pad[7];
};

/* LRU: an entry left by a thread that never returned is reclaimed */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct signal_call);
} signal_calls SEC(".maps");

static __always_inline int signal_call_enter(enum signal_origin origin, long sig, long pid, bool has_pid)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct signal_call call = {
		.requested_pid = pid, .sig = sig, .origin = origin, .has_pid = has_pid,
	};

	/* every caller: a host process signalling into a monitored container
	 * is decided by the target, at signal_generate */
	bpf_map_update_elem(&signal_calls, &tid, &call, BPF_ANY);
	return 0;
}

/* The call's own event, when it reached no process (or failed for some). */
static __always_inline int signal_call_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct signal_call *call = bpf_map_lookup_elem(&signal_calls, &tid);
	struct event_signal *e;

	if (!call)
		return 0;
	if ((call->generated && ret >= 0) || should_discard())
		goto done;
	e = reserve_record(sizeof(*e));
	if (!e)
		goto done;
	e->type = EUN_EV_SIGNAL;
	e->result = ret < 0 ? ret : SIG_RESULT_NONE;
	fill_task(&e->task, (struct task_struct *)bpf_get_current_task());
	clear_target(&e->target);
	e->sig = e->signo = call->sig;
	e->code = SI_USER;
	e->requested_pid = call->requested_pid;
	e->has_requested_pid = call->has_pid;
	e->origin = call->origin;
	e->group = 0;
	commit_record(e);
done:
	bpf_map_delete_elem(&signal_calls, &tid);
	return 0;
}

/*
 * Repeated signals the kernel generates, or a process sends itself, are
 * reported once per (sender, target, signal, code, origin, result): a traced
 * process's SIGCHLD to its tracer at every ptrace stop, a JVM's SIGSEGV, Go's
 * SIGURG preemption (tgkill of its own threads) would otherwise stream
 * hundreds a second.  Signals one process sends another are all reported.
 */
struct signal_seen_key {
	eun_pid sender;            /* 0: from an interrupt */
	eun_pid target;
	__s32 sig;
	__s32 code;
	__s32 result;
	__u32 origin;
	__u64 target_start;        /* a reused pid is another process */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct signal_seen_key);
	__type(value, __u8);
} signal_seen SEC(".maps");

static __always_inline bool signal_seen_before(struct signal_seen_key *key)
{
	if (key->origin >= SIGNAL_FROM_KILL && key->sender != key->target)
		return false;
	return seen_before(&signal_seen, key);
}

/* si_code; SEND_SIG_NOINFO (0) and SEND_SIG_PRIV (1) are not pointers */
static __always_inline __s32 signal_code(struct kernel_siginfo *info)
{
	if ((unsigned long)info == 0)
		return SI_USER;
	if ((unsigned long)info == 1)
		return SI_KERNEL;
	return BPF_CORE_READ(info, si_code);
}

SEC("raw_tp/signal_generate")
int BPF_PROG(handle_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();
	struct signal_call *call = NULL;
	bool irq = in_interrupt_context(current, ctx, task, sig);
	struct signal_seen_key seen = {
		.sender = irq ? 0 : pid_tgid >> 32, .target = BPF_CORE_READ(task, tgid),
		.sig = sig, .code = signal_code(info), .result = result,
		.origin = irq ? SIGNAL_FROM_INTERRUPT : SIGNAL_FROM_KERNEL,
		.target_start = BPF_CORE_READ(task, group_leader, start_time),
	};
	struct event_signal *e;

	if (!irq) {
		call = bpf_map_lookup_elem(&signal_calls, &tid);
		if (call && call->sig == (__u32)sig) {
			call->generated += 1;
			seen.origin = call->origin;
		} else {
			call = NULL;
		}
	}
	/* from an interrupt there is no sending process: the target decides */
	if (both_discarded(irq || cgroup_discarded(bpf_get_current_cgroup_id()), task_cgroup_id(task)))
		return 0;
	if (signal_seen_before(&seen))
		return 0;
	e = reserve_record(sizeof(*e));
	if (!e)
		return 0;
	e->type = EUN_EV_SIGNAL;
	e->result = result;
	if (irq)
		fill_task_of(&e->task, task); /* the event belongs to the target */
	else
		fill_task(&e->task, current);
	fill_target(&e->target, task);
	e->sig = e->signo = sig;
	e->code = seen.code;
	e->group = group != 0;
	e->origin = seen.origin;
	e->requested_pid = call ? call->requested_pid : 0;
	e->has_requested_pid = call ? call->has_pid : 0;
	commit_record(e);
	return 0;
}

#define ARG(regs, n) ((long)EUN_ARG(regs, n))

EUN_SYSCALL_ENTER(kill)
{
	signal_call_enter(SIGNAL_FROM_KILL, ARG(regs, 1), ARG(regs, 0), true);
}

EUN_SYSCALL_ENTER(tkill)
{
	signal_call_enter(SIGNAL_FROM_TKILL, ARG(regs, 1), ARG(regs, 0), true);
}

EUN_SYSCALL_ENTER(tgkill)
{
	signal_call_enter(SIGNAL_FROM_TGKILL, ARG(regs, 2), ARG(regs, 1), true);
}

EUN_SYSCALL_ENTER(rt_sigqueueinfo)
{
	signal_call_enter(SIGNAL_FROM_RT_SIGQUEUEINFO, ARG(regs, 1), ARG(regs, 0), true);
}

EUN_SYSCALL_ENTER(rt_tgsigqueueinfo)
{
	signal_call_enter(SIGNAL_FROM_RT_TGSIGQUEUEINFO, ARG(regs, 2), ARG(regs, 1), true);
}

EUN_SYSCALL_ENTER(pidfd_send_signal)
{
	signal_call_enter(SIGNAL_FROM_PIDFD_SEND_SIGNAL, ARG(regs, 1), 0, false);
}

EUN_SYSCALL_EXIT(kill)
{
	signal_call_exit(ret);
}

EUN_SYSCALL_EXIT(tkill)
{
	signal_call_exit(ret);
}

EUN_SYSCALL_EXIT(tgkill)
{
	signal_call_exit(ret);
}

EUN_SYSCALL_EXIT(rt_sigqueueinfo)
{
	signal_call_exit(ret);
}

EUN_SYSCALL_EXIT(rt_tgsigqueueinfo)
{
	signal_call_exit(ret);
}

EUN_SYSCALL_EXIT(pidfd_send_signal)
{
	signal_call_exit(ret);
}

#include "ptrace.h"
#include "unix_connect.h"
