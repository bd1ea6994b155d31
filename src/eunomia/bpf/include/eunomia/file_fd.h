/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * File descriptors and syscall registers, seen from a syscall-exit hook.
 *
 * raw_tp/sys_exit receives the task's user pt_regs.  The syscall number is
 * kept apart from the return-value register (x86-64 orig_ax, arm64
 * syscallno), and the argument registers still hold the arguments at exit
 * (x86-64 preserves rdi, rsi, rdx, r10, r8; arm64 overwrites x0 with the
 * result but keeps the first argument in orig_x0, which libbpf's
 * PT_REGS_PARM1_CORE_SYSCALL reads).
 */
#ifndef EUNOMIA_FILE_FD_H
#define EUNOMIA_FILE_FD_H

#include "eunomia/fd.h"
#include "eunomia/syscall_nr.h"

#define EUN_AT_FDCWD (-100)


#endif
