// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cgroup: the container filter's source of truth, in the kernel.
 *
 * Container runtimes create one cgroup per container and name it after the
 * 64-hex container id (docker /docker/<id> or docker-<id>.scope, containerd
 * cri-containerd-<id>.scope or kubepods/.../<id>, cri-o crio-<id>, podman
 * libpod-<id>) - or, for containers that `ctr run` starts with the cgroupfs
 * layout, /<namespace>/<id> with any id containerd allows (letters, digits,
 * '.', '_', '-'), recognised by its parent's name being one of the
 * containerd namespaces user space found.  When such a cgroup is created on
 * the v2 hierarchy this
 * program gives it a verdict at once, so the container is filtered from its
 * first exec without waiting for user space; user space gets the event to
 * look up the container's name and image.  Nested cgroups inherit the
 * verdict of their parent.  Monitors (conmon) are not containers.
 */
#include "eunomia/common.h"

#define CGROUP_TAIL_BYTES 1024
#define CGROUP_NAME_BYTES 128   /* container-named cgroups are ≤ ~90 chars */
#define CONTAINER_ID_LEN 64

/* every new container cgroup gets EUN_VERDICT_KEEP (no -c given) */
const volatile bool filter_all_containers = false;

/* a 64-hex id, or a containerd id of at most 64 characters padded with zeros */
struct container_id {
	char hex[CONTAINER_ID_LEN];
};

/* containers chosen with -c, by full id; user space adds ids of named
 * containers as soon as the runtime creates them */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct container_id);
	__type(value, __u8);
} selected_containers SEC(".maps");

struct event_cgroup_mkdir {
	enum eun_event_type type;
	__u32 level;
	eun_ts ts;
	eun_cgroup_id id;
	eun_cgroup_id parent_id;
	__u32 verdict;             /* enum eun_verdict, 0 = host */
	__u32 flags;
	eun_str_ref path;          /* relative to the v2 mount */
	char tail[CGROUP_TAIL_BYTES];
};

struct event_cgroup_rmdir {
	enum eun_event_type type;
	__u32 level;
	eun_ts ts;
	eun_cgroup_id id;
};

/* containerd namespaces (their names, padded with zeros): a cgroup
 * /<namespace>/<id> is a container named <id> */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct container_id);
	__type(value, __u8);
} containerd_namespaces SEC(".maps");

EUN_EVENT(event_cgroup_mkdir);
EUN_EVENT(event_cgroup_rmdir);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_cgroup_mkdir);
} mkdir_scratch SEC(".maps");

static __always_inline bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static __always_inline bool has_prefix(const char *s, const char *prefix, int len)
{
	for (int i = 0; i < len; i++)
		if (s[i] != prefix[i])
			return false;
	return true;
}

struct id_scan {
	char name[CGROUP_NAME_BYTES];
	int run;   /* hex digits seen in a row */
	int end;   /* index just past a run of exactly 64, or -1 */
};

static long scan_char(__u32 i, struct id_scan *scan)
{
	char c = scan->name[i & (CGROUP_NAME_BYTES - 1)];

	if (is_hex(c)) {
		scan->run++;
		return 0;
	}
	if (scan->run == CONTAINER_ID_LEN) {
		scan->end = i;
		return 1;
	}
	scan->run = 0;
	return c == 0; /* stop at the end of the name */
}

/*
 * Find a run of exactly 64 hex digits in a cgroup's name and copy it out.
 * bpf_loop keeps the scan to one verification of scan_char, where an
 * unrolled loop would make the verifier walk every run length.
 */
static __always_inline bool container_id_of(struct id_scan *scan, struct container_id *id)
{
	if (has_prefix(scan->name, "crio-conmon-", 12) ||
	    has_prefix(scan->name, "libpod-conmon-", 14))
		return false;
	scan->run = 0;
	scan->end = -1;
	bpf_loop(CGROUP_NAME_BYTES, scan_char, scan, 0);
	if (scan->end < CONTAINER_ID_LEN)
		return false;
	for (int i = 0; i < CONTAINER_ID_LEN; i++)
		id->hex[i] = scan->name[(scan->end - CONTAINER_ID_LEN + i) & (CGROUP_NAME_BYTES - 1)];
	return true;
}

/*
 * /<namespace>/<id> (level 2) under a known containerd namespace: the id is
 * the cgroup's name.  scan->name was zeroed before the name was read into it,
 * so the bytes past the name are zeros, as in the keys user space writes.
 */
static __always_inline bool containerd_id_of(struct id_scan *scan, struct cgroup *cgrp,
					     struct cgroup *parent, struct container_id *id)
{
	struct container_id ns = {};

	if (!parent || BPF_CORE_READ(cgrp, level) != 2 || scan->name[0] == 0 ||
	    scan->name[CONTAINER_ID_LEN] != 0)
		return false;
	bpf_probe_read_kernel_str(ns.hex, sizeof(ns.hex), BPF_CORE_READ(parent, kn, name));
	if (!bpf_map_lookup_elem(&containerd_namespaces, &ns))
		return false;
	__builtin_memcpy(id->hex, scan->name, CONTAINER_ID_LEN);
	return true;
}

static __always_inline __u8 verdict_for(struct cgroup *cgrp, struct cgroup *parent, eun_cgroup_id parent_id)
{
	struct id_scan scan = {};
	struct container_id id;
	__u8 *inherited;

	bpf_probe_read_kernel_str(scan.name, sizeof(scan.name), BPF_CORE_READ(cgrp, kn, name));
	if (container_id_of(&scan, &id) || containerd_id_of(&scan, cgrp, parent, &id)) {
		if (filter_all_containers || bpf_map_lookup_elem(&selected_containers, &id))
			return EUN_VERDICT_KEEP;
		return EUN_VERDICT_DROP;
	}
	inherited = bpf_map_lookup_elem(&container_verdicts, &parent_id);
	return inherited ? *inherited : 0;
}

SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(handle_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	struct event_cgroup_mkdir *e;
	struct cgroup *parent;
	__u32 zero = 0;
	__u8 verdict;
	long n;

	/* hierarchy 0 is the unified (v2) one; v1 hierarchies are not keys */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	e = bpf_map_lookup_elem(&mkdir_scratch, &zero);
	if (!e)
		return 0;
	/* cgroup.self is the first member: the parent css is the parent cgroup */
	parent = (struct cgroup *)BPF_CORE_READ(cgrp, self.parent);
	e->type = EUN_EV_CGROUP_MKDIR;
	e->ts = bpf_ktime_get_ns();
	e->id = BPF_CORE_READ(cgrp, kn, id);
	e->parent_id = parent ? BPF_CORE_READ(parent, kn, id) : 0;
	e->level = BPF_CORE_READ(cgrp, level);
	e->flags = 0;

	verdict = verdict_for(cgrp, parent, e->parent_id);
	e->verdict = verdict;
	if (verdict) {
		if (bpf_map_update_elem(&container_verdicts, &e->id, &verdict, BPF_ANY))
			stat_inc(EUN_STAT_MAP_FULL);
		filter_generation_bump();
	}

	e->path.off = 0;
	n = bpf_probe_read_kernel_str(e->tail, CGROUP_TAIL_BYTES, path);
	if (n < 0)
		n = 0;
	if (n == CGROUP_TAIL_BYTES)
		e->flags |= EUN_F_TRUNCATED;
	e->path.len = n > 0 ? n - 1 : 0;
	submit_record(e, offsetof(struct event_cgroup_mkdir, tail) + (n & (CGROUP_TAIL_BYTES - 1)));
	return 0;
}

SEC("raw_tp/cgroup_rmdir")
int BPF_PROG(handle_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	struct event_cgroup_rmdir *e;
	eun_cgroup_id id;

	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	/* an empty cgroup can hold no task: its verdict is no longer needed */
	if (bpf_map_delete_elem(&container_verdicts, &id) == 0)
		filter_generation_bump();
	e = reserve_record(sizeof(*e));
	if (!e)
		return 0;
	e->type = EUN_EV_CGROUP_RMDIR;
	e->level = BPF_CORE_READ(cgrp, level);
	e->ts = bpf_ktime_get_ns();
	e->id = id;
	commit_record(e);
	return 0;
}

/* A task changing cgroup (runc moving its init into the container) makes
 * every cached filter answer suspect. */
SEC("raw_tp/cgroup_attach_task")
int BPF_PROG(handle_cgroup_attach_task, struct cgroup *dst)
{
	if (BPF_CORE_READ(dst, root, hierarchy_id) == 0)
		filter_generation_bump();
	return 0;
}
