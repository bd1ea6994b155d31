/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Writers for the variable-length tail of an event.
 *
 * An event ends in `char tail[N]` (N a power of two); each variable field is
 * an eun_*_ref {off, len} into it.  Writers append at *pos and never pass
 * the bound: what does not fit is cut and EUN_F_TRUNCATED is set, so user
 * space can say so instead of showing a silently shortened value.
 */
#ifndef EUNOMIA_TAIL_H
#define EUNOMIA_TAIL_H

#define EUN_NAME_BYTES 256   /* NAME_MAX + NUL: one path component */
#define EUN_PATH_DEPTH 40    /* components walked before giving up */

static __always_inline struct mount *real_mount(struct vfsmount *mnt)
{
	return container_of(mnt, struct mount, mnt);
}

#define EUN_PATH_BYTES 4096   /* PATH_MAX: room a path may take in a tail */

/*
 * Pieces gathered in a loop (path components, argv strings) are assembled
 * here first: a buffer of constant size lets a bpf_loop callback prove its
 * writes in bounds whatever tail they end up in.
 */
struct tail_scratch {
	char buf[EUN_PATH_BYTES + EUN_NAME_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tail_scratch);
} tail_scratch SEC(".maps");

static __always_inline struct tail_scratch *scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tail_scratch, &zero);
}

/* Append len bytes of the scratch buffer; the tail must have
 * EUN_PATH_BYTES of room at *pos (the verifier checks). */
static __always_inline void tail_put_scratch(char *tail, __u32 *pos, struct eun_tail_ref *ref,
					     __u32 *flags, struct tail_scratch *scratch, __u32 len)
{
	ref->off = *pos;
	ref->len = 0;
	if (len > EUN_PATH_BYTES - 1) {
		len = EUN_PATH_BYTES - 1; /* a walk that filled the buffer: keep it, cut */
		*flags |= EUN_F_TRUNCATED;
	}
	len &= EUN_PATH_BYTES - 1;
	if (!len || bpf_probe_read_kernel(tail + *pos, len, scratch->buf))
		return;
	ref->len = len;
	*pos += len;
}

struct path_walk {
	struct dentry *dentry;
	struct vfsmount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct tail_scratch *out;
	__u32 len;
	__u32 flags;
};

/* One step of the walk; returns 1 to stop. */
static long path_walk_step(__u32 i, struct path_walk *w)
{
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->mnt;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;
	if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *mnt = real_mount(vfsmnt);
		struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);

		/* top of this mount tree without meeting the task's root: the file
		 * is outside it (another mount namespace, /proc/<pid>/root/...) */
		if (parent == mnt) {
			w->flags |= EUN_F_PATH_PARTIAL;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = (struct vfsmount *)((void *)parent +
				bpf_core_field_offset(struct mount, mnt));
		return 0;
	}

	struct dentry *up = BPF_CORE_READ(dentry, d_parent);
	__u32 at = w->len;
	long n;

	if (at > EUN_PATH_BYTES - EUN_NAME_BYTES) {
		w->flags |= EUN_F_TRUNCATED;
		return 1;
	}
	n = bpf_probe_read_kernel_str(&w->out->buf[at], EUN_NAME_BYTES,
				      BPF_CORE_READ(dentry, d_name.name));
	if (n <= 0) {
		w->flags |= EUN_F_PATH_PARTIAL;
		return 1;
	}
	w->len = at + (n & (2 * EUN_NAME_BYTES - 1));
	/* the root of a detached tree (a memfd, an unlinked pseudo file): its
	 * name is all there is, as /proc/<pid>/exe shows "/memfd:x (deleted)" */
	if (up == dentry) {
		w->flags |= EUN_F_PATH_PARTIAL;
		return 1;
	}
	w->dentry = up;
	if (i == EUN_PATH_DEPTH - 1)
		w->flags |= EUN_F_PATH_PARTIAL; /* deeper than we walk */
	return 0;
}

/*
 * Append the path of (dentry, mnt) as the task sees it: walk towards the
 * task's root (fs->root), crossing from a mount's root dentry to where it is
 * mounted in its parent, as the kernel's d_path() does.  Components are
 * written leaf first, NUL-terminated; user space reverses and joins them.
 * The tail must have EUN_PATH_BYTES of room at *pos (the verifier checks).
 */
static __always_inline void tail_put_path(char *tail, __u32 *pos,
					  struct eun_tail_ref *ref, __u32 *flags,
					  struct dentry *dentry, struct vfsmount *vfsmnt,
					  struct dentry *root_dentry, struct vfsmount *root_mnt)
{
	struct path_walk w = {
		.dentry = dentry, .mnt = vfsmnt,
		.root_dentry = root_dentry, .root_mnt = root_mnt,
	};

	ref->off = *pos;
	ref->len = 0;
	w.out = scratch_get();
	if (!dentry || !vfsmnt) {
		ref->off = EUN_REF_ABSENT;
		return;
	}
	if (!w.out)
		return;
	bpf_loop(EUN_PATH_DEPTH, path_walk_step, &w, 0);
	*flags |= w.flags;
	tail_put_scratch(tail, pos, ref, flags, w.out, w.len);
}

struct argv_read {
	const char *const *argv;
	struct tail_scratch *out;
	__u32 len;
	__u32 flags;
};

static long argv_read_step(__u32 i, struct argv_read *r)
{
	const char *arg = NULL;
	__u32 at = r->len;
	long n;

	/* advance our own cursor: using the loop index would keep every
	 * iteration's state distinct to the verifier, defeating pruning */
	if (bpf_probe_read_user(&arg, sizeof(arg), &r->argv[i]) || !arg)
		return 1;
	if (at > EUN_PATH_BYTES - EUN_NAME_BYTES) {
		r->flags |= EUN_F_TRUNCATED;
		return 1;
	}
	n = bpf_probe_read_user_str(&r->out->buf[at], EUN_NAME_BYTES, arg);
	if (n <= 0)
		return 1;
	/* n == EUN_NAME_BYTES: this argument may be cut.  Computed without a
	 * branch: splitting on n's exact value multiplies the states the
	 * verifier must explore (it tracks len precisely) */
	r->flags |= (n / EUN_NAME_BYTES) & EUN_F_TRUNCATED;
	r->len = at + (n & (2 * EUN_NAME_BYTES - 1));
	return 0;
}

/* Append a user argv array (NULL-terminated) as NUL-separated strings, as
 * /proc/<pid>/cmdline has them; at most max_args arguments. */
static __always_inline void tail_put_user_argv(char *tail, __u32 *pos,
					       struct eun_tail_ref *ref, __u32 *flags,
					       const char *const *argv, __u32 max_args)
{
	struct argv_read r = { .argv = argv };

	ref->off = *pos;
	ref->len = 0;
	r.out = scratch_get();
	if (!r.out || !argv)
		return;
	bpf_loop(max_args, argv_read_step, &r, 0);
	*flags |= r.flags;
	tail_put_scratch(tail, pos, ref, flags, r.out, r.len);
}

/* Append user memory [start, end) as one blob, cut at max_bytes - 1
 * (max_bytes a power of two, so the mask proves the bound to the verifier). */
static __always_inline void tail_put_user_blob(char *tail, __u32 tail_size, __u32 *pos,
					       struct eun_tail_ref *ref, __u32 *flags,
					       unsigned long start, unsigned long end,
					       __u32 max_bytes)
{
	__u32 at = *pos;
	unsigned long len = end > start ? end - start : 0;

	ref->off = at;
	ref->len = 0;
	if (len > max_bytes - 1) {
		len = max_bytes - 1;
		*flags |= EUN_F_TRUNCATED;
	}
	len &= max_bytes - 1;
	if (at > tail_size - max_bytes || len == 0)
		return;
	if (bpf_probe_read_user(tail + at, len, (void *)start))
		return;
	ref->len = len;
	*pos = at + len;
}

/* Append one user string (NUL included in the tail, not in ref->len). */
static __always_inline long tail_put_user_str(char *tail, __u32 tail_size, __u32 *pos,
					      __u32 *flags, const char *str, __u32 max_bytes)
{
	__u32 at = *pos;
	long n;

	if (at > tail_size - max_bytes) {
		*flags |= EUN_F_TRUNCATED;
		return -1;
	}
	n = bpf_probe_read_user_str(tail + at, max_bytes, str);
	if (n <= 0)
		return n;
	if (n == max_bytes)
		*flags |= EUN_F_TRUNCATED; /* may have been cut */
	*pos = at + (n & (2 * max_bytes - 1));
	return n;
}

#endif
