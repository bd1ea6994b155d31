/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Syscall handlers, reached through the one syscall dispatcher.
 *
 * Every program attached to sys_enter or sys_exit runs for every syscall
 * of every task on the machine, and each one attached is another probe the
 * tracepoint calls.  So no tracker attaches there: one dispatcher
 * (trackers/syscall/dispatch.bpf.c) does, with a tp_btf/sys_enter and a
 * tp_btf/sys_exit program, and tail-calls the handlers trackers declare
 * with EUN_SYSCALL_ENTER()/EUN_SYSCALL_EXIT() below.
 *
 * The handlers sit in two program arrays shared by every object
 * (sys_enter_handlers, sys_exit_handlers), one row of EUN_SYSCALL_NR_MAX
 * slots per tracker: slot row * EUN_SYSCALL_NR_MAX + nr.  A tail call
 * does not return, so a handler ends by going on to the next row that
 * handles the same number: two trackers may handle one syscall (connect:
 * net and signal).  User space knows which rows those are and says so
 * before load — the dispatcher's route names the first row, each object's
 * targ_{enter,exit}_next_rows the next after its own — so the common case
 * is one tail call per handler.  Should that slot be empty (a handler
 * switched off), the rows after it are tried in turn.
 *
 * Handlers get what the tp_btf programs get — the task's user pt_regs
 * (BTF-typed: its registers are plain loads) and the syscall number at
 * entry, the return value at exit — and read the arguments with
 * EUN_ARG().  User space inserts each handler at the numbers its tracker
 * declares for it; the dispatcher passes only calls of monitored tasks to
 * handlers declared for monitored tasks, and skips 32-bit (ia32) calls,
 * whose numbers name other syscalls.
 */
#ifndef EUNOMIA_DISPATCH_H
#define EUNOMIA_DISPATCH_H

#define EUN_SYSCALL_NR_MAX 512   /* x86-64 and arm64 numbers are below 470 */
#define EUN_CHAIN_LEVELS 8       /* trackers with syscall handlers, at most */

/* how many rows are in use; per number, the next row after this object's
 * with a handler for it (0: none — a next row is never row 0) */
const volatile __u32 targ_chain_levels = 0;
const volatile __u8 targ_enter_next_rows[EUN_SYSCALL_NR_MAX] = {};
const volatile __u8 targ_exit_next_rows[EUN_SYSCALL_NR_MAX] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, EUN_SYSCALL_NR_MAX * EUN_CHAIN_LEVELS);
	__type(key, __u32);
	__type(value, __u32);
} sys_enter_handlers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, EUN_SYSCALL_NR_MAX * EUN_CHAIN_LEVELS);
	__type(key, __u32);
	__type(value, __u32);
} sys_exit_handlers SEC(".maps");

/* The i-th syscall argument (0-5) from the user registers the call left. */
#if defined(__TARGET_ARCH_x86)
#define EUN_ARG(regs, i) ((unsigned long)((i) == 0 ? (regs)->di : (i) == 1 ? (regs)->si : \
					  (i) == 2 ? (regs)->dx : (i) == 3 ? (regs)->r10 : \
					  (i) == 4 ? (regs)->r8 : (regs)->r9))
/* the number, kept apart from rax (the result at exit) */
#define EUN_NR(regs) ((long)(regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
/* x0 holds the result at exit; orig_x0 keeps the first argument */
#define EUN_ARG(regs, i) ((unsigned long)((i) == 0 ? (regs)->orig_x0 : (regs)->regs[(i)]))
#define EUN_NR(regs) ((long)(regs)->syscallno)
#else
#error "eunomia/dispatch.h: syscall registers unknown for this architecture"
#endif

/* The handler of this number in row `first` (a tail call: it does not
 * return), else in the first row after it that has one. */
static __always_inline void eun_tail_rows(void *ctx, void *handlers, long nr, __u32 first)
{
	__u32 level;

	if ((unsigned long)nr >= EUN_SYSCALL_NR_MAX)
		return;
	for (level = first; level < EUN_CHAIN_LEVELS; level++) {
		if (level >= targ_chain_levels)
			return;
		bpf_tail_call(ctx, handlers, level * EUN_SYSCALL_NR_MAX + nr);
	}
}

/* Go on to the next row's handler of this number, if there is one. */
static __always_inline void eun_chain(void *ctx, void *handlers, const volatile __u8 *next_rows, long nr)
{
	__u32 next;

	if ((unsigned long)nr >= EUN_SYSCALL_NR_MAX)
		return;
	next = next_rows[nr];
	if (next)
		eun_tail_rows(ctx, handlers, nr, next);
}

/*
 * EUN_SYSCALL_ENTER(connect) { ... } defines the program enter__connect,
 * whose body sees `regs` and `nr` (and `ctx`); EUN_SYSCALL_EXIT(connect)
 * defines exit__connect, whose body sees `regs` and `ret`.  The tracker's
 * Python module says which numbers each one handles.
 */
#define EUN_SYSCALL_ENTER(name)							\
	static __always_inline void enter_##name##_body(void *ctx, struct pt_regs *regs, long nr); \
	SEC("tp_btf/sys_enter")							\
	int BPF_PROG(enter__##name, struct pt_regs *regs, long nr)		\
	{									\
		enter_##name##_body(ctx, regs, nr);				\
		eun_chain(ctx, &sys_enter_handlers, targ_enter_next_rows, nr); \
		return 0;							\
	}									\
	static __always_inline void enter_##name##_body(void *ctx, struct pt_regs *regs, long nr)

#define EUN_SYSCALL_EXIT(name)							\
	static __always_inline void exit_##name##_body(void *ctx, struct pt_regs *regs, long ret); \
	SEC("tp_btf/sys_exit")							\
	int BPF_PROG(exit__##name, struct pt_regs *regs, long ret)		\
	{									\
		exit_##name##_body(ctx, regs, ret);				\
		eun_chain(ctx, &sys_exit_handlers, targ_exit_next_rows, EUN_NR(regs)); \
		return 0;							\
	}									\
	static __always_inline void exit_##name##_body(void *ctx, struct pt_regs *regs, long ret)

#endif
