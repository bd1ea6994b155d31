// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * exec: process lifecycle — fork, exec (successful and failed), exit.
 *
 * Successful execs come from the sched_process_exec raw tracepoint, which
 * fires after the new image is in place: argv is read from the new mm's
 * arg_start..arg_end and the executable from mm->exe_file (for a script,
 * the interpreter the kernel actually ran).  A failed execve never reaches
 * that point, so the entry of execve/execveat (a syscall handler, see
 * eunomia/dispatch.h) remembers the user pointers and their exit reads them
 * only when the call failed — the caller's memory is still intact then.
 */
#include "eunomia/common.h"
#include "eunomia/tail.h"
#include "eunomia/dispatch.h"

/* argv, then room for two paths (executable and cwd) */
#define EXEC_TAIL_BYTES (EXEC_ARGS_BYTES + 2 * EUN_PATH_BYTES)
#define EXEC_ARGS_BYTES 4096  /* argv bytes kept; more is cut and flagged */
#define EXEC_ARG_STR_BYTES 512 /* the filename of a failed execve */
#define EXEC_MAX_ARGS 64       /* arguments read from a failed call's argv */

struct event_exec {
	enum eun_event_type type;
	eun_errno result;          /* 0, or why execve failed */
	struct eun_task task;
	eun_tty tty;               /* controlling terminal, 0 for none */
	eun_exe_flags exe_flags;   /* upper layer, memfd (successful execs) */
	eun_login_uid loginuid;    /* who logged in, kept across su and sudo */
	__u32 pad;
	eun_path_ref executable;   /* resolved binary (empty when failed) */
	eun_path_ref cwd;
	eun_str_ref filename;      /* as passed to execve (failed execs) */
	eun_argv_ref args;
	char tail[EXEC_TAIL_BYTES];
};

struct event_fork {
	enum eun_event_type type;
	eun_pid child_pid;
	struct eun_task task;
};

struct event_exit {
	enum eun_event_type type;
	eun_wait_status status;
	struct eun_task task;
	eun_duration duration;     /* since the process (thread group) started */
};

EUN_EVENT(event_exec);
EUN_EVENT(event_fork);
EUN_EVENT(event_exit);

struct execve_args {
	const char *filename;
	const char *const *argv;
};

/* in-flight execve calls of monitored tasks, by tid */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct execve_args);
} execs_in_flight SEC(".maps");

/* the exec event is too large for the 512-byte BPF stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_exec);
} exec_scratch SEC(".maps");

/*
 * The controlling terminal as tty_nr (fs/proc/array.c): the driver's major,
 * and minor_start + index as minor, in the kernel's new_encode_dev() form.
 */
static __always_inline eun_tty task_tty(struct task_struct *task)
{
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	__u32 major, minor;

	if (!tty)
		return 0;
	major = BPF_CORE_READ(tty, driver, major);
	minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define MNT_INTERNAL 0x4000 /* a kernel-internal mount (kern_mount), in no namespace */

/* Overlayfs embeds the VFS inode in its own: the upper dentry follows it. */
struct ovl_inode___eun {
	struct inode vfs_inode;
	struct dentry *__upperdentry;
} __attribute__((preserve_access_index));

/*
 * Is the executable on an overlay's upper layer, i.e. written or copied up
 * in the container rather than shipped in a lower (image) layer?  Only when
 * the kernel has overlayfs (its types in BTF); else never.
 */
static __always_inline bool exe_on_upper_layer(struct file *exe)
{
	struct inode *inode = BPF_CORE_READ(exe, f_inode);
	struct ovl_inode___eun *oi;

	if (!bpf_core_type_exists(struct ovl_inode___eun))
		return false;
	if (BPF_CORE_READ(inode, i_sb, s_magic) != OVERLAYFS_SUPER_MAGIC)
		return false;
	oi = container_of(inode, struct ovl_inode___eun, vfs_inode);
	return BPF_CORE_READ(oi, __upperdentry) != NULL;
}

/*
 * memfd_create() files live on the kernel's internal shmem (or hugetlbfs)
 * mount and are named "memfd:<name>" (mm/memfd.c).  The mount check keeps a
 * file merely called that on a real filesystem from passing for one.
 */
static __always_inline bool exe_from_memfd(struct file *exe)
{
	static const char prefix[] = "memfd:";
	char name[sizeof(prefix)] = {};

	if (!(BPF_CORE_READ(exe, f_path.mnt, mnt_flags) & MNT_INTERNAL))
		return false;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
	for (int i = 0; i < sizeof(prefix) - 1; i++)
		if (name[i] != prefix[i])
			return false;
	return true;
}

static __always_inline struct event_exec *exec_event_begin(struct task_struct *task)
{
	__u32 zero = 0;
	struct event_exec *e = bpf_map_lookup_elem(&exec_scratch, &zero);

	if (!e)
		return NULL;
	e->type = EUN_EV_EXEC;
	e->result = 0;
	fill_task(&e->task, task);
	e->tty = task_tty(task);
	e->exe_flags = 0;
	e->pad = 0;
	/* set by pam_loginuid at login and inherited; a kernel without audit has none */
	e->loginuid = bpf_core_field_exists(task->loginuid) ? BPF_CORE_READ(task, loginuid.val) : (__u32)-1;
	e->executable.off = e->filename.off = e->args.off = EUN_REF_ABSENT;
	e->executable.len = e->filename.len = e->args.len = 0;
	return e;
}

static __always_inline void put_cwd(struct event_exec *e, __u32 *pos, struct task_struct *task)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);

	tail_put_path(e->tail, pos, &e->cwd, &e->task.flags,
		      BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt),
		      BPF_CORE_READ(fs, root.dentry), BPF_CORE_READ(fs, root.mnt));
}

static __always_inline void exec_event_submit(struct event_exec *e, __u32 pos)
{
	__u64 size = offsetof(struct event_exec, tail) + pos;

	if (size > sizeof(*e))
		size = sizeof(*e);

	submit_record(e, size);
}

static __always_inline int trace_exec(struct task_struct *task)
{
	struct event_exec *e;
	struct file *exe;
	struct fs_struct *fs;
	__u32 pos = 0;

	if (should_discard())
		return 0;
	e = exec_event_begin(task);
	if (!e)
		return 0;

	/* argv first: at offset 0 its size needs no further bound */
	tail_put_user_blob(e->tail, EXEC_TAIL_BYTES, &pos, &e->args, &e->task.flags,
			   BPF_CORE_READ(task, mm, arg_start), BPF_CORE_READ(task, mm, arg_end),
			   EXEC_ARGS_BYTES);
	exe = BPF_CORE_READ(task, mm, exe_file);
	if (exe_on_upper_layer(exe))
		e->exe_flags |= EUN_EXE_UPPER_LAYER;
	if (exe_from_memfd(exe))
		e->exe_flags |= EUN_EXE_MEMFD;
	fs = BPF_CORE_READ(task, fs);
	tail_put_path(e->tail, &pos, &e->executable, &e->task.flags,
		      BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt),
		      BPF_CORE_READ(fs, root.dentry), BPF_CORE_READ(fs, root.mnt));
	put_cwd(e, &pos, task);
	exec_event_submit(e, pos);
	return 0;
}

static __always_inline int remember_execve(const char *filename, const char *const *argv)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct execve_args args = { .filename = filename, .argv = argv };

	if (should_discard())
		return 0;
	if (bpf_map_update_elem(&execs_in_flight, &tid, &args, BPF_ANY))
		stat_inc(EUN_STAT_MAP_FULL);
	return 0;
}

/* Only a failed execve returns to the caller's image: report it. */
static __always_inline int trace_execve_return(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct execve_args *call = bpf_map_lookup_elem(&execs_in_flight, &tid);
	struct task_struct *task;
	struct event_exec *e;
	__u32 pos = 0;

	if (!call)
		return 0;
	if (ret >= 0)
		goto done;
	task = (struct task_struct *)bpf_get_current_task();
	e = exec_event_begin(task);
	if (!e)
		goto done;
	e->result = ret;

	tail_put_user_argv(e->tail, &pos, &e->args, &e->task.flags, call->argv, EXEC_MAX_ARGS);
	e->filename.off = pos;
	long n = tail_put_user_str(e->tail, EXEC_TAIL_BYTES, &pos, &e->task.flags,
				   call->filename, EXEC_ARG_STR_BYTES);
	if (n > 0)
		e->filename.len = n - 1;
	put_cwd(e, &pos, task);
	exec_event_submit(e, pos);
done:
	bpf_map_delete_elem(&execs_in_flight, &tid);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	return trace_exec(task);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct event_fork *e;

	/* a new thread shares its process; only new processes are events */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	if (should_discard())
		return 0;
	e = reserve_record(sizeof(*e));
	if (!e)
		return 0;
	e->type = EUN_EV_FORK;
	fill_task(&e->task, parent);
	e->child_pid = BPF_CORE_READ(child, tgid);
	commit_record(e);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	struct event_exit *e;

	/*
	 * do_exit() decrements signal->live before this tracepoint: zero means
	 * the last thread of the process is leaving, and its exit_code is the
	 * process's (exit_group() hands the group code to every thread).
	 */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (should_discard())
		return 0;
	e = reserve_record(sizeof(*e));
	if (!e)
		return 0;
	e->type = EUN_EV_EXIT;
	fill_task(&e->task, task);
	e->status = BPF_CORE_READ(task, exit_code);
	e->duration = e->task.ts - BPF_CORE_READ(task, group_leader, start_time);
	commit_record(e);
	return 0;
}

/* execve(filename, argv, envp), execveat(dirfd, filename, argv, envp, flags) */
EUN_SYSCALL_ENTER(execve)
{
	remember_execve((const char *)EUN_ARG(regs, 0), (const char *const *)EUN_ARG(regs, 1));
}

EUN_SYSCALL_ENTER(execveat)
{
	remember_execve((const char *)EUN_ARG(regs, 1), (const char *const *)EUN_ARG(regs, 2));
}

/* execve and execveat */
EUN_SYSCALL_EXIT(execve) { trace_execve_return(ret); }
