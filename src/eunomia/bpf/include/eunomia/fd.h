/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The current task's file descriptors: what a descriptor refers to, and
 * the inode type bits to tell regular files from sockets.
 */
#ifndef EUNOMIA_FD_H
#define EUNOMIA_FD_H

/* inode type bits (uapi linux/stat.h) */
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000

/* kfunc (Linux 6.2+): a kernel address as a read-only, BTF-typed pointer;
 * the verifier turns the call into a register move */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * The struct file behind descriptor fd of the current task (NULL when not
 * open): current->files->fdt->fd[fd], bounded by fdt->max_fds as fget()
 * does.  Task, files and fdtable are read with direct (BTF-typed,
 * fault-safe) loads rather than one bpf_probe_read_kernel() call each, and
 * the file comes back BTF-typed too (bpf_rdonly_cast), so callers read
 * file->f_inode->… with direct loads: this runs for every read and write
 * of a monitored container.  Only the array slot needs a helper (a variable
 * index into a BTF pointer is not allowed).
 */
static __always_inline struct file *eun_fd_file(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	struct file **fds;
	struct file *file = NULL;

	if (fd < 0 || (unsigned long)fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	return bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
}

/* The socket behind descriptor fd of the current task, or NULL. */
static __always_inline struct socket *eun_fd_socket(long fd)
{
	struct file *file = eun_fd_file(fd);

	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

#endif
