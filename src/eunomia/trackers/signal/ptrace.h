/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * ptrace requests, from the syscall tracepoints.
 *
 * The pid argument is in the caller's pid namespace; the kernel resolves it
 * against the caller's tracees (current->ptraced), and so do we: at entry
 * for requests on an existing tracee (at exit PTRACE_DETACH has taken it off
 * the list), at exit for PTRACE_ATTACH/SEIZE (on the list only once
 * attached).  PTRACE_TRACEME names the parent, which becomes the tracer.
 * Every caller is followed: a host debugger attaching to a container's
 * process passes the filter through its target.
 *
 * A debugger or strace makes several requests per syscall of its tracee:
 * repeated identical requests (same tracer, target, request and result)
 * are reported once, remembered in an LRU of recent ones.
 */
#ifndef EUNOMIA_SIGNAL_PTRACE_H
#define EUNOMIA_SIGNAL_PTRACE_H

#define PTRACE_TRACEME 0
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define PTRACE_SCAN_MAX 64   /* tracees looked at for a pid */

typedef __s64 eun_ptrace_request;

struct event_ptrace {
	enum eun_event_type type;
	eun_errno result;
	struct eun_task task;          /* the tracer */
	struct eun_target target;      /* the tracee; pid 0: not resolved */
	eun_ptrace_request request;
	__s64 requested_pid;           /* the pid argument, caller's namespace */
};

EUN_EVENT(event_ptrace);

struct ptrace_call {
	eun_ptrace_request request;
	__s64 pid;
	struct eun_target target;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ptrace_call);
} ptrace_calls SEC(".maps");

/* e.g. PTRACE_PEEKDATA on the same tracee, again and again; the tracer's
 * start time tells a reused pid from the process that made the request */
struct ptrace_seen_key {
	eun_pid tracer;
	__s32 result;
	__s64 pid;
	__s64 request;
	__u64 tracer_start;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct ptrace_seen_key);
	__type(value, __u8);
} ptrace_seen SEC(".maps");

struct tracee_scan {
	void *head;
	void *node;
	__u32 level;
	__s32 want;
	struct task_struct *found;
};

static long tracee_scan_step(__u32 i, struct tracee_scan *s)
{
	struct list_head *node = s->node;
	struct list_head *next = BPF_CORE_READ(node, next);
	struct task_struct *t;

	if (!next || (void *)next == s->head)
		return 1;
	s->node = next;
	t = (void *)next - bpf_core_field_offset(struct task_struct, ptrace_entry);
	if (task_nr_at(t, s->level) != s->want)
		return 0;
	s->found = t;
	return 1;
}

/* The tracee of `current` whose id in current's pid namespace is pid. */
static __always_inline struct task_struct *find_tracee(struct task_struct *current, __s64 pid)
{
	struct tracee_scan s = {
		.head = (void *)current + bpf_core_field_offset(struct task_struct, ptraced),
		.level = BPF_CORE_READ(current, thread_pid, level),
		.want = pid,
	};

	if (pid <= 0)
		return NULL;
	s.node = s.head;
	bpf_loop(PTRACE_SCAN_MAX, tracee_scan_step, &s, 0);
	return s.found;
}

EUN_SYSCALL_ENTER(ptrace)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();
	struct ptrace_call call = { .request = ARG(regs, 0), .pid = ARG(regs, 1) };

	if (call.request != PTRACE_TRACEME && call.request != PTRACE_ATTACH && call.request != PTRACE_SEIZE)
		fill_target(&call.target, find_tracee(current, call.pid));
	bpf_map_update_elem(&ptrace_calls, &tid, &call, BPF_ANY);
}

/* True when the same request was reported before (and remember it). */
static __always_inline bool ptrace_seen_before(struct ptrace_call *call, long ret)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();
	struct ptrace_seen_key key = {
		.tracer = bpf_get_current_pid_tgid() >> 32,
		.result = ret < 0 ? ret : 0,
		.pid = call->pid,
		.request = call->request,
		.tracer_start = BPF_CORE_READ(current, group_leader, start_time),
	};

	/* taking a process under control is always worth an event */
	if (call->request == PTRACE_TRACEME || call->request == PTRACE_ATTACH || call->request == PTRACE_SEIZE)
		return false;
	return seen_before(&ptrace_seen, &key);
}

EUN_SYSCALL_EXIT(ptrace)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();
	struct ptrace_call *call = bpf_map_lookup_elem(&ptrace_calls, &tid);
	struct event_ptrace *e;

	if (!call)
		return;
	if (ret == 0 && call->request == PTRACE_TRACEME)
		fill_target(&call->target, BPF_CORE_READ(current, parent));
	else if (ret == 0 && (call->request == PTRACE_ATTACH || call->request == PTRACE_SEIZE))
		fill_target(&call->target, find_tracee(current, call->pid));
	if (both_discarded(cgroup_discarded(bpf_get_current_cgroup_id()), call->target.cgroup_id))
		goto done;
	if (ptrace_seen_before(call, ret))
		goto done;
	e = reserve_record(sizeof(*e));
	if (!e)
		goto done;
	e->type = EUN_EV_PTRACE;
	e->result = ret;
	fill_task(&e->task, current);
	e->target = call->target;
	e->request = call->request;
	e->requested_pid = call->pid;
	commit_record(e);
done:
	bpf_map_delete_elem(&ptrace_calls, &tid);
}

#endif
