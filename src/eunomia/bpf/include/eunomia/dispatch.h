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
 * (sys_enter_handlers, sys_exit_handlers), one slot per handler program,
 * numbered by user space from 1.  The dispatcher's table names the slot
 * of a number's first handler, and it jumps there through a switch of
 * tail calls with constant slots: the JIT turns those into direct jumps.
 * A tail call with a variable index is an indirect jump, which costs tens
 * of ns on a kernel with retpolines (x86 without eIBRS), on every call.
 * A tail call does not return, so a handler ends by going on to the next
 * handler of the same number (each object's targ_{enter,exit}_next_slots):
 * two trackers may handle one syscall (connect: net and signal).  That
 * chain is rare, and takes the indirect jump.
 *
 * Handlers get what the tp_btf programs get — the task's user pt_regs
 * (BTF-typed: its registers are plain loads) and the syscall number at
 * entry, the return value at exit — and read the arguments with
 * EUN_ARG().  User space puts each handler in its slot and routes to it
 * the numbers its tracker declares for it; the dispatcher passes only
 * calls of monitored tasks to handlers declared for monitored tasks, and
 * skips 32-bit (ia32) calls, whose numbers name other syscalls.
 */
#ifndef EUNOMIA_DISPATCH_H
#define EUNOMIA_DISPATCH_H

#define EUN_SYSCALL_NR_MAX 512   /* x86-64 and arm64 numbers are below 470 */
#define EUN_HANDLER_SLOTS 64     /* handler programs per direction, slot 0 unused */

/* per number, the slot of the next handler after this object's (0: none) */
const volatile __u8 targ_enter_next_slots[EUN_SYSCALL_NR_MAX] = {};
const volatile __u8 targ_exit_next_slots[EUN_SYSCALL_NR_MAX] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, EUN_HANDLER_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sys_enter_handlers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, EUN_HANDLER_SLOTS);
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

/*
 * A tail call into `map` at a slot known when compiling.  Written as
 * assembly so that the compiler cannot merge the switch's calls into one
 * call with a variable slot (it would, the calls differing only in it);
 * the verifier then sees each call's constant key and the JIT patches a
 * direct jump.  It does not return unless the slot is empty.
 */
#define EUN_TAIL_CALL_STATIC(ctx, map, slot)					\
	asm volatile("r1 = %[c]\n"						\
		     "r2 = %[m] ll\n"						\
		     "r3 = %[s]\n"						\
		     "call 12\n"						\
		     :: [c] "r"(ctx), [m] "i"(&map), [s] "i"(slot)		\
		     : "r0", "r1", "r2", "r3", "r4", "r5")

#define EUN_SLOT_CASE(ctx, map, n) case n: EUN_TAIL_CALL_STATIC(ctx, map, n); break;
#define EUN_SLOT_CASES8(ctx, map, n)						\
	EUN_SLOT_CASE(ctx, map, n + 0) EUN_SLOT_CASE(ctx, map, n + 1)		\
	EUN_SLOT_CASE(ctx, map, n + 2) EUN_SLOT_CASE(ctx, map, n + 3)		\
	EUN_SLOT_CASE(ctx, map, n + 4) EUN_SLOT_CASE(ctx, map, n + 5)		\
	EUN_SLOT_CASE(ctx, map, n + 6) EUN_SLOT_CASE(ctx, map, n + 7)

/* Jump to the handler in `slot` (1 .. EUN_HANDLER_SLOTS - 1) of `map`. */
#define EUN_TAIL_SLOT(ctx, map, slot)						\
	do {									\
		switch (slot) {							\
		EUN_SLOT_CASE(ctx, map, 1) EUN_SLOT_CASE(ctx, map, 2)		\
		EUN_SLOT_CASE(ctx, map, 3) EUN_SLOT_CASE(ctx, map, 4)		\
		EUN_SLOT_CASE(ctx, map, 5) EUN_SLOT_CASE(ctx, map, 6)		\
		EUN_SLOT_CASE(ctx, map, 7)					\
		EUN_SLOT_CASES8(ctx, map, 8) EUN_SLOT_CASES8(ctx, map, 16)	\
		EUN_SLOT_CASES8(ctx, map, 24) EUN_SLOT_CASES8(ctx, map, 32)	\
		EUN_SLOT_CASES8(ctx, map, 40) EUN_SLOT_CASES8(ctx, map, 48)	\
		EUN_SLOT_CASES8(ctx, map, 56)					\
		}								\
	} while (0)

/* Go on to the next handler of this number, if there is one (rare: an
 * indirect jump is fine here). */
static __always_inline void eun_chain(void *ctx, void *handlers, const volatile __u8 *next_slots, long nr)
{
	__u32 next;

	if ((unsigned long)nr >= EUN_SYSCALL_NR_MAX)
		return;
	next = next_slots[nr];
	if (next)
		bpf_tail_call(ctx, handlers, next);
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
		eun_chain(ctx, &sys_enter_handlers, targ_enter_next_slots, nr); \
		return 0;							\
	}									\
	static __always_inline void enter_##name##_body(void *ctx, struct pt_regs *regs, long nr)

#define EUN_SYSCALL_EXIT(name)							\
	static __always_inline void exit_##name##_body(void *ctx, struct pt_regs *regs, long ret); \
	SEC("tp_btf/sys_exit")							\
	int BPF_PROG(exit__##name, struct pt_regs *regs, long ret)		\
	{									\
		exit_##name##_body(ctx, regs, ret);				\
		eun_chain(ctx, &sys_exit_handlers, targ_exit_next_slots, EUN_NR(regs)); \
		return 0;							\
	}									\
	static __always_inline void exit_##name##_body(void *ctx, struct pt_regs *regs, long ret)

#endif
