/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Attempts, streamed: a workload trying to load a kernel module
 * (init_module, finit_module) or to mount or unmount (mount, umount2).
 *
 * They are seen at sys_enter, through the dispatcher: a kernel built
 * without module support has no syscalls:* tracepoints for
 * init_module/finit_module (the calls fail with ENOSYS before anything else
 * runs), so entry is the one place that sees them everywhere.  At entry the
 * outcome is not known yet: these events carry what was asked, not a
 * result.  The runtime's own mounts (runc setting a container up) are not
 * attempts of the workload and are left out.
 */
#ifndef EUNOMIA_SYSCALL_ATTEMPTS_H
#define EUNOMIA_SYSCALL_ATTEMPTS_H

#include "eunomia/tail.h"

#define ATTEMPT_STR_BYTES 256      /* a module's parameters, a mount's source */
#define MOUNT_TARGET_BYTES 1024
#define MOUNT_FSTYPE_BYTES 64
#define MODULE_TAIL_BYTES (2 * EUN_PATH_BYTES)
#define MOUNT_TAIL_BYTES 2048

struct event_module {
	enum eun_event_type type;
	eun_syscall module_call;   /* init_module or finit_module */
	struct eun_task task;
	eun_path_ref file;         /* finit_module: the module file behind the descriptor */
	eun_str_ref params;        /* the module parameters as passed */
	char tail[MODULE_TAIL_BYTES];
};

struct event_mount {
	enum eun_event_type type;
	eun_syscall mount_call;    /* mount or umount2 */
	struct eun_task task;
	__u64 flags;               /* MS_* (mount), MNT_* (umount2), as passed */
	eun_str_ref source;
	eun_str_ref target;
	eun_str_ref fstype;
	char tail[MOUNT_TAIL_BYTES];
};

EUN_EVENT(event_module);
EUN_EVENT(event_mount);

/* both are larger than the 512-byte BPF stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_module);
} module_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_mount);
} mount_scratch SEC(".maps");

static __always_inline void str_ref(char *tail, __u32 size, __u32 *pos, struct eun_tail_ref *ref, __u32 *flags,
				    const char *str, __u32 max_bytes)
{
	long n;

	ref->off = *pos;
	ref->len = 0;
	if (!str) {
		ref->off = EUN_REF_ABSENT;
		return;
	}
	n = tail_put_user_str(tail, size, pos, flags, str, max_bytes);
	if (n > 0)
		ref->len = n - 1;
}

static __always_inline void report_module(struct pt_regs *regs, long nr, bool from_fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 zero = 0, pos = 0;
	struct event_module *e;
	struct file *file;
	struct fs_struct *fs;

	if (runtime_task(task))
		return;
	e = bpf_map_lookup_elem(&module_scratch, &zero);
	if (!e)
		return;
	e->type = EUN_EV_MODULE;
	e->module_call = nr;
	fill_task(&e->task, task);
	/* init_module(image, len, params); finit_module(fd, params, flags) */
	str_ref(e->tail, MODULE_TAIL_BYTES, &pos, &e->params, &e->task.flags,
		(const char *)(from_fd ? EUN_ARG(regs, 1) : EUN_ARG(regs, 2)),
		ATTEMPT_STR_BYTES);
	e->file.off = EUN_REF_ABSENT;
	e->file.len = 0;
	if (from_fd && (file = eun_fd_file(EUN_ARG(regs, 0)))) {
		fs = BPF_CORE_READ(task, fs);
		tail_put_path(e->tail, &pos, &e->file, &e->task.flags,
			      BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt),
			      BPF_CORE_READ(fs, root.dentry), BPF_CORE_READ(fs, root.mnt));
	}
	submit_record(e, offsetof(struct event_module, tail) + (pos & (MODULE_TAIL_BYTES - 1)));
}

static __always_inline void report_mount(struct pt_regs *regs, long nr, bool mount)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 zero = 0, pos = 0;
	struct event_mount *e;

	if (runtime_task(task))
		return;
	e = bpf_map_lookup_elem(&mount_scratch, &zero);
	if (!e)
		return;
	e->type = EUN_EV_MOUNT;
	e->mount_call = nr;
	fill_task(&e->task, task);
	/* mount(source, target, fstype, flags, data); umount2(target, flags) */
	str_ref(e->tail, MOUNT_TAIL_BYTES, &pos, &e->source, &e->task.flags,
		mount ? (const char *)EUN_ARG(regs, 0) : NULL, ATTEMPT_STR_BYTES);
	str_ref(e->tail, MOUNT_TAIL_BYTES, &pos, &e->target, &e->task.flags,
		(const char *)(mount ? EUN_ARG(regs, 1) : EUN_ARG(regs, 0)),
		MOUNT_TARGET_BYTES);
	str_ref(e->tail, MOUNT_TAIL_BYTES, &pos, &e->fstype, &e->task.flags,
		mount ? (const char *)EUN_ARG(regs, 2) : NULL, MOUNT_FSTYPE_BYTES);
	e->flags = mount ? EUN_ARG(regs, 3) : EUN_ARG(regs, 1);
	submit_record(e, offsetof(struct event_mount, tail) + (pos & (MOUNT_TAIL_BYTES - 1)));
}

/* the dispatcher passes the calls of monitored tasks only */
EUN_SYSCALL_ENTER(init_module) { report_module(regs, nr, false); }
EUN_SYSCALL_ENTER(finit_module) { report_module(regs, nr, true); }
EUN_SYSCALL_ENTER(mount) { report_mount(regs, nr, true); }
EUN_SYSCALL_ENTER(umount2) { report_mount(regs, nr, false); }

#endif
