/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Connections to unix sockets: connect(2) with an AF_UNIX address, from the
 * syscall tracepoints (the net tracker reports TCP/UDP connects; this one
 * only looks at AF_UNIX addresses, so the two never report the same call).
 *
 * sys_enter_connect keeps the address pointer of AF_UNIX calls; the exit
 * reads the address (the caller's memory is intact then) and, on success,
 * the listening process from the socket's peer credentials (sk_peer_pid,
 * what SO_PEERCRED returns: the process that called listen()).  Passes the
 * container filter when the connecting process or that peer is monitored.
 */
#ifndef EUNOMIA_SIGNAL_UNIX_H
#define EUNOMIA_SIGNAL_UNIX_H

#define AF_UNIX 1
#define SOCKADDR_UN_BYTES 110   /* sizeof(struct sockaddr_un) */
#include "eunomia/fd.h"
#define EBADF 9
#define ENOTSOCK 88

/* connect() may one day be joined by sendto(); NONE keeps the names
 * "unix_connect", … (the decoder strips the enumerators' common prefix) */
enum unix_op {
	EUN_OP_NONE = 0,
	EUN_OP_UNIX_CONNECT = 1,
};

/* struct sockaddr_un as passed, its first two bytes (the family, AF_UNIX)
 * replaced by the address length: user space needs it for abstract names */
typedef __u64 eun_unix_addr[14];

struct event_unix {
	enum eun_event_type type;
	enum unix_op op;
	eun_errno result;
	__u32 pad;
	struct eun_task task;
	struct eun_target target;      /* the listening process; pid 0: unknown */
	eun_unix_addr addr;
	eun_sock_type sock_type;       /* 0: unknown */
	__u16 pad2[3];
};

EUN_EVENT(event_unix);

struct connect_call {
	const void *addr;
	__u32 addrlen;
	__s32 fd;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct connect_call);
} connect_calls SEC(".maps");

EUN_SYSCALL_ENTER(connect)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct connect_call call = {
		.addr = (const void *)EUN_ARG(regs, 1), .addrlen = EUN_ARG(regs, 2), .fd = EUN_ARG(regs, 0),
	};
	__u16 family = 0;

	if (call.addrlen < sizeof(family) || bpf_probe_read_user(&family, sizeof(family), call.addr) ||
	    family != AF_UNIX)
		return;
	/* every caller: a host process connecting to a container's socket is
	 * decided by the peer, known at exit */
	bpf_map_update_elem(&connect_calls, &tid, &call, BPF_ANY);
}

/* The process that listens on the other end (stream/seqpacket sockets). */
static __always_inline void fill_peer(struct eun_target *t, struct socket *sock)
{
	struct pid *pid = BPF_CORE_READ(sock, sk, sk_peer_pid);
	struct task_struct *leader;

	clear_target(t);
	if (!pid)
		return;
	leader = pid_leader(pid);
	if (leader) {
		fill_target(t, leader);
		return;
	}
	t->pid = t->tid = BPF_CORE_READ(pid, numbers[0].nr); /* exited since */
}

EUN_SYSCALL_EXIT(connect)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();
	struct connect_call *call = bpf_map_lookup_elem(&connect_calls, &tid);
	struct socket *sock = NULL;
	struct eun_target peer;
	struct event_unix *e;
	__u32 len;

	if (!call)
		return;
	clear_target(&peer);
	if (ret != -EBADF && ret != -ENOTSOCK)
		sock = eun_fd_socket(call->fd);
	if (sock && ret == 0)
		fill_peer(&peer, sock);
	if (both_discarded(cgroup_discarded(bpf_get_current_cgroup_id()), peer.cgroup_id))
		goto done;
	e = reserve_record(sizeof(*e));
	if (!e)
		goto done;
	e->type = EUN_EV_UNIX;
	e->op = EUN_OP_UNIX_CONNECT;
	e->result = ret;
	fill_task(&e->task, current);
	e->target = peer;
	e->sock_type = sock ? BPF_CORE_READ(sock, type) : 0;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	len = call->addrlen;
	if (len > SOCKADDR_UN_BYTES)
		len = SOCKADDR_UN_BYTES;
	if (bpf_probe_read_user(e->addr, len, call->addr))
		len = 0;
	*(__u16 *)e->addr = len;
	commit_record(e);
done:
	bpf_map_delete_elem(&connect_calls, &tid);
}

#endif
