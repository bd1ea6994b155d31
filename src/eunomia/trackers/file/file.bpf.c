// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * file: what containers do to files — opens, unlinks, renames, chmod/chown,
 * mkdir, links, truncates — as events, and the bytes they read and write,
 * counted per (container, file) in a kernel map, never streamed: the
 * read/write/pread64/pwrite64/readv/writev/preadv(2)/pwritev(2) family and
 * the copies sendfile/splice/copy_file_range, on regular files only.
 *
 * Everything is seen at syscall exit, in handlers the syscall dispatcher
 * (eunomia/dispatch.h) tail-calls for the watched numbers of monitored
 * tasks only: one per kind of call (reads, writes, the copies, the file
 * operations).  At exit the result is known and the arguments are still in
 * the task's registers (and the caller's memory still holds the path
 * strings), so no per-call state has to be kept between entry and exit.
 * Which numbers each handler gets is said in user space (libseccomp's
 * table for this architecture), which also makes the legacy calls (open,
 * creat, rename, …) simply absent where the architecture lacks them; the
 * file operations' handler tells them apart by the knobs targ_nr_*.
 *
 * Paths: a successful open (and the fd-based fchmod/fchown/ftruncate) is
 * named by the file the descriptor now refers to, walked to the task's root
 * — absolute, symlinks resolved.  Otherwise the path string as passed is
 * sent with, when it is relative, the directory it is relative to (the cwd
 * or the dirfd's file); user space joins them.
 */
#include "eunomia/common.h"
#include "eunomia/tail.h"
#include "eunomia/file_fd.h"
#include "eunomia/dispatch.h"

#define FILE_NAME_BYTES 4096   /* PATH_MAX: a path string as passed */

/* also send the name as passed when the descriptor named the file (rules on
 * Falco's fd.nameraw: a `../../etc/passwd`); off, a successful open costs no
 * read of the caller's string */
const volatile bool targ_given_names = false;
#define FILE_TAIL_BYTES (4 * 4096) /* two strings, two directories */
#define FILE_NR_NONE 0xffffffff /* knob default: this syscall does not exist */
#define FILE_ABSENT 0xffffffff  /* mode/uid/gid not given or not changed */
#define FILE_BYTES_ENTRIES 65536   /* (cgroup, file) pairs; every opened regular file takes one */

/* -ERESTARTSYS … -ERESTART_RESTARTBLOCK: the call is restarted, not failed */
#define ERESTART_FIRST 512
#define ERESTART_LAST 516

/* fcntl.h values shared by x86-64 and arm64 (asm-generic) */
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_TMPFILE_BIT 020000000 /* __O_TMPFILE */
#define AT_REMOVEDIR 0x200

typedef __u32 eun_file_flags;  /* O_* flags as passed: a list of names */
typedef __u32 eun_file_mode;   /* permission bits: "0644"; FILE_ABSENT: null */
typedef __u32 eun_file_id;     /* uid/gid for chown; FILE_ABSENT (-1): unchanged */
typedef __u32 eun_file_dev;    /* kernel dev_t (major << 20 | minor) */

enum file_op {
	FILE_OP_OPEN,
	FILE_OP_UNLINK,
	FILE_OP_RMDIR,
	FILE_OP_RENAME,
	FILE_OP_CHMOD,
	FILE_OP_CHOWN,
	FILE_OP_MKDIR,
	FILE_OP_SYMLINK,
	FILE_OP_LINK,
	FILE_OP_TRUNCATE,
};

struct event_file {
	enum eun_event_type type;
	enum file_op op;
	struct eun_task task;
	eun_errno result;          /* open: the new fd; else 0; or -errno */
	eun_file_flags flags;      /* open */
	eun_file_mode mode;        /* open (O_CREAT/O_TMPFILE), chmod, mkdir */
	eun_file_id uid;           /* chown */
	eun_file_id gid;
	eun_file_dev device;       /* the file behind an fd (opened, fchmod, …) */
	__u64 inode;
	__s64 size;                /* truncate */
	eun_path_ref path;         /* resolved from the fd: absolute */
	eun_str_ref name;          /* the path as passed */
	eun_path_ref dir;          /* what a relative name is relative to */
	eun_str_ref target_name;   /* rename/link: the other path; symlink: its text */
	eun_path_ref target_dir;
	char tail[FILE_TAIL_BYTES];
};

EUN_EVENT(event_file);

/* the file operations' numbers, set from user space; FILE_NR_NONE when absent here */
#define FILE_NR(name) const volatile __u32 targ_nr_##name = FILE_NR_NONE
FILE_NR(open); FILE_NR(creat); FILE_NR(openat); FILE_NR(openat2);
FILE_NR(unlink); FILE_NR(unlinkat); FILE_NR(rmdir);
FILE_NR(rename); FILE_NR(renameat); FILE_NR(renameat2);
FILE_NR(chmod); FILE_NR(fchmod); FILE_NR(fchmodat); FILE_NR(fchmodat2);
FILE_NR(chown); FILE_NR(lchown); FILE_NR(fchown); FILE_NR(fchownat);
FILE_NR(mkdir); FILE_NR(mkdirat); FILE_NR(symlink); FILE_NR(symlinkat);
FILE_NR(link); FILE_NR(linkat); FILE_NR(truncate); FILE_NR(ftruncate);

struct file_bytes_key {
	eun_cgroup_id cgroup_id;
	__u64 inode;
	eun_file_dev device;
	__u32 pad;
};

struct file_bytes {
	__u64 bytes_read;
	__u64 bytes_written;
	__u64 reads;
	__u64 writes;
	__u64 opens;    /* successful opens, streamed or repeated */
};

/*
 * A process opening the same file the same way again (nginx serving a file
 * per request, a loop) is streamed once: later identical opens only count
 * in file_bytes.opens and EUN_STAT_REPEATED.  Keyed by the process (tgid
 * and its start time, so a reused pid is a new process), the file and the
 * flags and the exec generation.  An LRU map: an evicted entry means one
 * more event, never a hidden one.
 */
struct open_seen_key {
	eun_cgroup_id cgroup_id;
	__u64 process_start;
	__u64 inode;
	eun_pid tgid;
	eun_file_dev device;
	__u32 flags;
	__u32 exec_id;   /* after an exec it is another program: report again */
};

/* LRU: an evicted entry only means one more event, never a hidden one */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct open_seen_key);
	__type(value, __u8);
} opens_seen SEC(".maps");

/* bounded and never evicting: a failed insert is counted as map_full.
 * Per-CPU values: the counters are plain increments (no atomic on every
 * read and write); user space sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, FILE_BYTES_ENTRIES);
	__type(key, struct file_bytes_key);
	__type(value, struct file_bytes);
} file_bytes SEC(".maps");

/* the event is too large for the 512-byte BPF stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_file);
} file_scratch SEC(".maps");

/* ------------------------------------------------------------------ */
/* bytes read and written: every read and write of a monitored task     */

enum io_kind { IO_READ, IO_WRITE, IO_SENDFILE, IO_COPY };

static __always_inline void add_bytes(struct file_bytes *v, long ret, bool is_write)
{
	if (is_write) {
		v->bytes_written += ret;
		v->writes += 1;
	} else {
		v->bytes_read += ret;
		v->reads += 1;
	}
}

/* The counters of (cgroup, file), created on first use; NULL when the map is full. */
static __always_inline struct file_bytes *file_bytes_of(struct file_bytes_key *key)
{
	struct file_bytes *v = bpf_map_lookup_elem(&file_bytes, key), init = {};
	long err;

	if (v)
		return v;
	err = bpf_map_update_elem(&file_bytes, key, &init, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		stat_inc(EUN_STAT_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&file_bytes, key); /* this CPU's slot of the new entry */
}

/* Count bytes moved from (or to) the file behind fd, if a regular file. */
static __always_inline void count_fd(eun_cgroup_id cgroup_id, int fd, long bytes, bool is_write)
{
	struct file_bytes_key key = { .cgroup_id = cgroup_id };
	struct file *file = eun_fd_file(fd);
	struct file_bytes *v;
	struct inode *inode;

	if (!file)
		return;
	inode = file->f_inode;
	if (!inode || (inode->i_mode & S_IFMT) != S_IFREG)
		return; /* pipes, sockets, devices: not files */
	key.inode = inode->i_ino;
	key.device = inode->i_sb->s_dev;
	v = file_bytes_of(&key);
	if (v)
		add_bytes(v, bytes, is_write);
}

/*
 * A successful read/write family call: fd is the first argument.
 * sendfile(out, in, …), splice(in, …, out, …), copy_file_range(in, …, out, …)
 * move bytes from one fd to another: both ends are counted.
 */
static __always_inline void account_io(struct pt_regs *regs, long ret, enum io_kind kind)
{
	eun_cgroup_id cgroup_id;
	int in, out;

	if (ret < 0 || dispatched_discard(&cgroup_id))
		return;
	if (kind == IO_READ || kind == IO_WRITE) {
		count_fd(cgroup_id, EUN_ARG(regs, 0), ret, kind == IO_WRITE);
		return;
	}
	if (kind == IO_SENDFILE) {
		out = EUN_ARG(regs, 0);
		in = EUN_ARG(regs, 1);
	} else {
		in = EUN_ARG(regs, 0);
		out = EUN_ARG(regs, 2);
	}
	count_fd(cgroup_id, in, ret, false);
	count_fd(cgroup_id, out, ret, true);
}

/* read, pread64, readv, preadv, preadv2 */
EUN_SYSCALL_EXIT(read) { account_io(regs, ret, IO_READ); }
/* write, pwrite64, writev, pwritev, pwritev2 */
EUN_SYSCALL_EXIT(write) { account_io(regs, ret, IO_WRITE); }
/* sendfile(out, in, …) */
EUN_SYSCALL_EXIT(sendfile) { account_io(regs, ret, IO_SENDFILE); }
/* splice(in, …, out, …), copy_file_range(in, …, out, …) */
EUN_SYSCALL_EXIT(copy) { account_io(regs, ret, IO_COPY); }

/* ------------------------------------------------------------------ */
/* file operations: one event each                                      */

/* What a syscall was asked to do, from its arguments. */
struct file_call {
	enum file_op op;
	int dirfd;              /* name is relative to it (AT_FDCWD: the cwd) */
	int target_dirfd;
	bool target_is_text;    /* symlink: target_name is content, not a path */
	int fd;                 /* fd-based call: the file it acts on, else -1 */
	const char *name;
	const char *target_name;
	__u32 flags;
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__s64 size;
};

static __always_inline void call_init(struct file_call *c, enum file_op op)
{
	c->op = op;
	c->dirfd = c->target_dirfd = EUN_AT_FDCWD;
	c->target_is_text = false;
	c->fd = -1;
	c->name = c->target_name = NULL;
	c->flags = 0;
	c->mode = c->uid = c->gid = FILE_ABSENT;
	c->size = 0;
}

static __always_inline void call_open(struct file_call *c, int dirfd, const char *name,
				      __u32 flags, __u32 mode)
{
	call_init(c, FILE_OP_OPEN);
	c->dirfd = dirfd;
	c->name = name;
	c->flags = flags;
	/* the mode argument only means something when a file may be created */
	if (flags & (O_CREAT | O_TMPFILE_BIT))
		c->mode = mode & 07777;
}

static __always_inline void call_path(struct file_call *c, enum file_op op, int dirfd,
				      const char *name)
{
	call_init(c, op);
	c->dirfd = dirfd;
	c->name = name;
}

static __always_inline void call_two(struct file_call *c, enum file_op op, int dirfd,
				     const char *name, int target_dirfd, const char *target)
{
	call_path(c, op, dirfd, name);
	c->target_dirfd = target_dirfd;
	c->target_name = target;
}

static __always_inline bool decode_open(long nr, unsigned long *a, struct file_call *c)
{
	if (nr == targ_nr_openat) {
		call_open(c, a[0], (const char *)a[1], a[2], a[3]);
	} else if (nr == targ_nr_open) {
		call_open(c, EUN_AT_FDCWD, (const char *)a[0], a[1], a[2]);
	} else if (nr == targ_nr_openat2) {
		struct open_how how = {};

		bpf_probe_read_user(&how, sizeof(how.flags) + sizeof(how.mode), (void *)a[2]);
		call_open(c, a[0], (const char *)a[1], how.flags, how.mode);
	} else if (nr == targ_nr_creat) {
		/* creat(2) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode) */
		call_open(c, EUN_AT_FDCWD, (const char *)a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1]);
	} else {
		return false;
	}
	return true;
}

static __always_inline bool decode_names(long nr, unsigned long *a, struct file_call *c)
{
	if (nr == targ_nr_unlinkat) {
		call_path(c, a[2] & AT_REMOVEDIR ? FILE_OP_RMDIR : FILE_OP_UNLINK, a[0],
			  (const char *)a[1]);
	} else if (nr == targ_nr_unlink) {
		call_path(c, FILE_OP_UNLINK, EUN_AT_FDCWD, (const char *)a[0]);
	} else if (nr == targ_nr_rmdir) {
		call_path(c, FILE_OP_RMDIR, EUN_AT_FDCWD, (const char *)a[0]);
	} else if (nr == targ_nr_renameat || nr == targ_nr_renameat2) {
		call_two(c, FILE_OP_RENAME, a[0], (const char *)a[1], a[2], (const char *)a[3]);
	} else if (nr == targ_nr_rename) {
		call_two(c, FILE_OP_RENAME, EUN_AT_FDCWD, (const char *)a[0],
			 EUN_AT_FDCWD, (const char *)a[1]);
	} else if (nr == targ_nr_mkdirat) {
		call_path(c, FILE_OP_MKDIR, a[0], (const char *)a[1]);
		c->mode = a[2] & 07777;
	} else if (nr == targ_nr_mkdir) {
		call_path(c, FILE_OP_MKDIR, EUN_AT_FDCWD, (const char *)a[0]);
		c->mode = a[1] & 07777;
	} else if (nr == targ_nr_symlinkat || nr == targ_nr_symlink) {
		/* symlink(target, linkpath), symlinkat(target, newdirfd, linkpath) */
		bool at = nr == targ_nr_symlinkat;

		call_two(c, FILE_OP_SYMLINK, at ? (int)a[1] : EUN_AT_FDCWD,
			 (const char *)(at ? a[2] : a[1]), EUN_AT_FDCWD, (const char *)a[0]);
		c->target_is_text = true;
	} else if (nr == targ_nr_linkat) {
		/* the new link is the path; the existing file its target */
		call_two(c, FILE_OP_LINK, a[2], (const char *)a[3], a[0], (const char *)a[1]);
	} else if (nr == targ_nr_link) {
		call_two(c, FILE_OP_LINK, EUN_AT_FDCWD, (const char *)a[1],
			 EUN_AT_FDCWD, (const char *)a[0]);
	} else {
		return false;
	}
	return true;
}

static __always_inline bool decode_attrs(long nr, unsigned long *a, struct file_call *c)
{
	if (nr == targ_nr_fchmodat || nr == targ_nr_fchmodat2) {
		call_path(c, FILE_OP_CHMOD, a[0], (const char *)a[1]);
		c->mode = a[2] & 07777;
	} else if (nr == targ_nr_chmod) {
		call_path(c, FILE_OP_CHMOD, EUN_AT_FDCWD, (const char *)a[0]);
		c->mode = a[1] & 07777;
	} else if (nr == targ_nr_fchmod) {
		call_init(c, FILE_OP_CHMOD);
		c->fd = a[0];
		c->mode = a[1] & 07777;
	} else if (nr == targ_nr_fchownat) {
		call_path(c, FILE_OP_CHOWN, a[0], (const char *)a[1]);
		c->uid = a[2];
		c->gid = a[3];
	} else if (nr == targ_nr_chown || nr == targ_nr_lchown) {
		call_path(c, FILE_OP_CHOWN, EUN_AT_FDCWD, (const char *)a[0]);
		c->uid = a[1];
		c->gid = a[2];
	} else if (nr == targ_nr_fchown) {
		call_init(c, FILE_OP_CHOWN);
		c->fd = a[0];
		c->uid = a[1];
		c->gid = a[2];
	} else if (nr == targ_nr_truncate) {
		call_path(c, FILE_OP_TRUNCATE, EUN_AT_FDCWD, (const char *)a[0]);
		c->size = a[1];
	} else if (nr == targ_nr_ftruncate) {
		call_init(c, FILE_OP_TRUNCATE);
		c->fd = a[0];
		c->size = a[1];
	} else {
		return false;
	}
	return true;
}

/* Append the path string as passed; *relative tells whether it needs a base. */
static __always_inline void put_name(struct event_file *e, __u32 *pos, eun_str_ref *ref,
				     const char *name, bool *relative)
{
	__u32 at = *pos;
	long n;

	*relative = false;
	if (!name || at > FILE_TAIL_BYTES - FILE_NAME_BYTES)
		return;
	n = bpf_probe_read_user_str(&e->tail[at], FILE_NAME_BYTES, name);
	if (n <= 0)
		return;
	if (n >= FILE_NAME_BYTES) {
		n = FILE_NAME_BYTES;
		e->task.flags |= EUN_F_TRUNCATED; /* may have been cut */
	}
	ref->off = at;
	ref->len = n - 1;
	*relative = e->tail[at] != '/';
	*pos = at + n;
}

/* Append the path of a struct path (dentry + mount) as the task sees it. */
static __always_inline void put_fs_path(struct event_file *e, __u32 *pos, eun_path_ref *ref,
					struct fs_struct *fs, struct dentry *dentry,
					struct vfsmount *mnt)
{
	if (*pos > FILE_TAIL_BYTES - EUN_PATH_BYTES) {
		e->task.flags |= EUN_F_TRUNCATED;
		return;
	}
	tail_put_path(e->tail, pos, ref, &e->task.flags, dentry, mnt,
		      BPF_CORE_READ(fs, root.dentry), BPF_CORE_READ(fs, root.mnt));
}

/* The directory a relative name starts from: the cwd, or dirfd's file. */
static __always_inline void put_base(struct event_file *e, __u32 *pos, eun_path_ref *ref,
				     struct task_struct *task, int dirfd)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct dentry *dentry;
	struct vfsmount *mnt;

	if (dirfd == EUN_AT_FDCWD) {
		dentry = BPF_CORE_READ(fs, pwd.dentry);
		mnt = BPF_CORE_READ(fs, pwd.mnt);
	} else {
		struct file *dir = eun_fd_file(dirfd);

		if (!dir)
			return; /* a bad dirfd: the name stays relative */
		dentry = BPF_CORE_READ(dir, f_path.dentry);
		mnt = BPF_CORE_READ(dir, f_path.mnt);
	}
	put_fs_path(e, pos, ref, fs, dentry, mnt);
}

/* The file an fd refers to: its resolved path, inode and device. */
static __always_inline void put_fd_file(struct event_file *e, __u32 *pos,
					struct task_struct *task, int fd)
{
	struct file *file = eun_fd_file(fd);

	if (!file)
		return;
	e->inode = BPF_CORE_READ(file, f_inode, i_ino);
	e->device = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	put_fs_path(e, pos, &e->path, BPF_CORE_READ(task, fs),
		    BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt));
}

/* Count a successful open; true when this process opened this file with
 * these flags before (the event is then not streamed). */
static __always_inline bool open_is_repeat(eun_cgroup_id cgroup_id, int fd, __u32 flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *file = eun_fd_file(fd);
	struct file_bytes_key bkey = {};
	struct open_seen_key key = {};
	struct file_bytes *counts;
	struct inode *inode;

	if (!file || !(inode = file->f_inode))
		return false;
	bkey.cgroup_id = key.cgroup_id = cgroup_id;
	bkey.inode = key.inode = inode->i_ino;
	bkey.device = key.device = inode->i_sb->s_dev;
	if ((inode->i_mode & S_IFMT) == S_IFREG) {
		counts = file_bytes_of(&bkey);
		if (counts)
			counts->opens += 1;
	}
	key.tgid = task->tgid;
	key.process_start = task->group_leader->start_time;
	key.exec_id = task->self_exec_id;
	key.flags = flags;
	return seen_before(&opens_seen, &key);
}

static __always_inline void event_init(struct event_file *e, struct file_call *c, long ret,
				       struct task_struct *task)
{
	e->type = EUN_EV_FILE;
	e->op = c->op;
	fill_task(&e->task, task);
	e->result = ret;
	e->flags = c->flags;
	e->mode = c->mode;
	e->uid = c->uid;
	e->gid = c->gid;
	e->device = 0;
	e->inode = 0;
	e->size = c->size;
	e->path.off = e->name.off = e->dir.off = EUN_REF_ABSENT;
	e->target_name.off = e->target_dir.off = EUN_REF_ABSENT;
	e->path.len = e->name.len = e->dir.len = e->target_name.len = e->target_dir.len = 0;
}

static __always_inline int trace_file_op(struct pt_regs *regs, long ret, long nr)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file_call c;
	unsigned long a[4];
	struct event_file *e;
	__u32 zero = 0, pos = 0;
	bool relative;
	__u64 size;
	int fd;

	eun_cgroup_id cgroup_id;

	if (ret <= -ERESTART_FIRST && ret >= -ERESTART_LAST)
		return 0;
	/* reached for monitored tasks only: the dispatcher counts the others */
	if (dispatched_discard(&cgroup_id))
		return 0;
	a[0] = EUN_ARG(regs, 0);
	a[1] = EUN_ARG(regs, 1);
	a[2] = EUN_ARG(regs, 2);
	a[3] = EUN_ARG(regs, 3);
	if (!decode_open(nr, a, &c) && !decode_names(nr, a, &c) && !decode_attrs(nr, a, &c))
		return 0;
	if (c.op == FILE_OP_OPEN && ret >= 0 && open_is_repeat(cgroup_id, (int)ret, c.flags))
		return 0;
	e = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!e)
		return 0;
	event_init(e, &c, ret, task);

	/* the file behind the (new) descriptor, else the name as passed (also
	 * when another thread closed that descriptor before we looked) */
	fd = c.op == FILE_OP_OPEN && ret >= 0 ? (int)ret : c.fd;
	if (fd >= 0)
		put_fd_file(e, &pos, task, fd);
	if (e->path.off == EUN_REF_ABSENT) {
		put_name(e, &pos, &e->name, c.name, &relative);
		if (relative)
			put_base(e, &pos, &e->dir, task, c.dirfd);
	} else if (targ_given_names && c.name) {
		put_name(e, &pos, &e->name, c.name, &relative); /* as passed too: `..`, links */
	}
	if (c.target_name) {
		put_name(e, &pos, &e->target_name, c.target_name, &relative);
		if (relative && !c.target_is_text)
			put_base(e, &pos, &e->target_dir, task, c.target_dirfd);
	}
	size = offsetof(struct event_file, tail) + pos;
	if (size > sizeof(*e))
		size = sizeof(*e);
	submit_record(e, size);
	return 0;
}

/* every file operation of FILE_OPS, told apart by number */
EUN_SYSCALL_EXIT(file_op) { trace_file_op(regs, ret, EUN_NR(regs)); }
