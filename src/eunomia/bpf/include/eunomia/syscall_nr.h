/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The syscall number in a task's user pt_regs.
 *
 * The number is kept apart from the return-value register: x86-64 orig_ax
 * (rax is overwritten with the result), arm64 syscallno (x0 is).  Hooks
 * that get the regs as an untyped raw_tp argument (sys_exit) read it with
 * CO-RE; hooks holding a BTF-typed regs pointer load the field directly.
 */
#ifndef EUNOMIA_SYSCALL_NR_H
#define EUNOMIA_SYSCALL_NR_H

#if defined(__TARGET_ARCH_x86)
#define EUN_SYSCALL_NR(regs) ((long)BPF_CORE_READ((regs), orig_ax))
#elif defined(__TARGET_ARCH_arm64)
#define EUN_SYSCALL_NR(regs) ((long)BPF_CORE_READ((regs), syscallno))
#else
#error "eunomia/syscall_nr.h: syscall number register unknown for this architecture"
#endif

/* x86-64: set while a 32-bit (ia32) syscall runs, whose numbers mean other
 * syscalls; cleared on the way back to user space, after sys_exit */
#define EUN_TS_COMPAT 0x0002

static __always_inline bool eun_compat_task(struct task_struct *task)
{
#if defined(__TARGET_ARCH_x86)
	return task->thread_info.status & EUN_TS_COMPAT;
#else
	return false; /* arm64 AArch32 tasks are not told apart */
#endif
}

static __always_inline bool eun_compat_syscall(void)
{
	return eun_compat_task(bpf_get_current_task_btf());
}

#endif
