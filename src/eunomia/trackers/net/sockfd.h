/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Sockets as file descriptors, for the net tracker: packet and raw sockets
 * created (what sniffers, ARP spoofers and scanners open), and a TCP or UDP
 * socket duplicated onto descriptor 0, 1 or 2 (a reverse shell's stdin/stdout).
 *
 * Both are syscall pairs: the entry remembers the arguments by thread, the
 * exit reports with the result.  Ordinary TCP/UDP/unix sockets are not
 * events here (they show when they connect, accept or bind), nor is a dup()
 * of anything but an AF_INET/AF_INET6 TCP or UDP socket onto a standard
 * descriptor.
 */
#ifndef EUNOMIA_NET_SOCKFD_H
#define EUNOMIA_NET_SOCKFD_H

#define AF_PACKET 17
#define SOCK_RAW 3
#define SOCK_TYPE_MASK 0xf  /* the rest are SOCK_NONBLOCK, SOCK_CLOEXEC */
#define STDERR_FD 2

struct event_socket {
	enum eun_event_type type;
	eun_errno result;          /* the new descriptor, or why socket() failed */
	struct eun_task task;
	eun_sock_family family;
	eun_sock_type sock_type;
	__u16 pad;
	__u32 protocol;            /* as passed: ETH_P_* in network order for AF_PACKET */
};

struct event_dup {
	enum eun_event_type type;
	eun_errno result;          /* the new descriptor: 0, 1 or 2 */
	struct eun_task task;
	__s32 oldfd;
	enum net_transport transport;
	__u16 sport;               /* the socket's local end … */
	__u16 dport;               /* … and its peer */
	eun_ip_addr saddr;
	eun_ip_addr daddr;
};

EUN_EVENT(event_socket);
EUN_EVENT(event_dup);

struct socket_args {
	__u32 family;
	__u32 sock_type;
	__u32 protocol;
};

/* socket() calls in flight that will make a packet or raw socket, by tid */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct socket_args);
} sockets_in_flight SEC(".maps");

enum dup_call { DUP_CALL_DUP = 1, DUP_CALL_DUP2, DUP_CALL_DUP3 };

struct dup_args {
	__s32 oldfd;
	__u32 call;                /* enum dup_call: the exit of the same syscall ends it */
};

/* dup/dup2/dup3 calls in flight of an IP socket, by tid */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct dup_args);
} dups_in_flight SEC(".maps");

/* AF_PACKET of any type, and raw IP sockets; netlink's raw sockets are
 * how every `ip` and libc talks to the kernel: not notable */
static __always_inline bool socket_is_notable(__u32 family, __u32 sock_type)
{
	return family == AF_PACKET || ((sock_type & SOCK_TYPE_MASK) == SOCK_RAW && family_is_inet(family));
}

EUN_SYSCALL_ENTER(socket)
{
	struct socket_args args = {
		.family = EUN_ARG(regs, 0), .sock_type = EUN_ARG(regs, 1), .protocol = EUN_ARG(regs, 2),
	};
	__u32 tid = current_tid();

	if (!socket_is_notable(args.family, args.sock_type) || should_discard())
		return;
	if (bpf_map_update_elem(&sockets_in_flight, &tid, &args, BPF_ANY))
		stat_inc(EUN_STAT_MAP_FULL);
}

EUN_SYSCALL_EXIT(socket)
{
	__u32 tid = current_tid();
	struct socket_args *args = bpf_map_lookup_elem(&sockets_in_flight, &tid);
	struct event_socket *e;

	if (!args)
		return;
	e = reserve_record(sizeof(*e));
	if (e) {
		e->type = EUN_EV_SOCKET;
		e->result = ret;
		fill_task(&e->task, (struct task_struct *)bpf_get_current_task());
		e->pad = 0;
		e->family = args->family;
		e->sock_type = args->sock_type & SOCK_TYPE_MASK;
		e->protocol = args->protocol;
		commit_record(e);
	}
	bpf_map_delete_elem(&sockets_in_flight, &tid);
}

/* An IP socket being copied onto a standard descriptor (newfd < 0: dup(),
 * whose new descriptor is known only at the exit). */
static __always_inline int dup_begin(enum dup_call call, long oldfd, long newfd)
{
	struct sock *sk;
	__u32 tid = current_tid();
	struct dup_args args = { .oldfd = oldfd, .call = call };

	if (newfd > STDERR_FD)
		return 0;
	/* TCP and UDP: a connection's end (ping keeps its raw ICMP socket on 0) */
	sk = sock_of_fd(oldfd);
	if (!sock_is_inet_tcp_udp(sk) || should_discard())
		return 0;
	if (bpf_map_update_elem(&dups_in_flight, &tid, &args, BPF_ANY))
		stat_inc(EUN_STAT_MAP_FULL);
	return 0;
}

static __always_inline int dup_end(enum dup_call call, long ret)
{
	__u32 tid = current_tid();
	struct dup_args *args = bpf_map_lookup_elem(&dups_in_flight, &tid);
	struct net_ends ends = {};
	struct event_dup *e;
	struct sock *sk;

	if (!args)
		return 0;
	if (args->call != call)  /* another call's leftover (its exit hook missing): not this one */
		goto done;
	if (ret < 0 || ret > STDERR_FD)
		goto done;
	sk = sock_of_fd(ret);
	if (!sk)
		goto done;
	e = reserve_record(sizeof(*e));
	if (!e)
		goto done;
	__builtin_memset(e, 0, sizeof(*e));
	e->type = EUN_EV_DUP;
	e->result = ret;
	fill_task(&e->task, (struct task_struct *)bpf_get_current_task());
	e->oldfd = args->oldfd;
	sock_ends(sk, &ends);
	e->transport = ends.protocol == IPPROTO_UDP ? NET_TRANSPORT_UDP : NET_TRANSPORT_TCP;
	copy_ip(e->saddr, ends.local);
	copy_ip(e->daddr, ends.remote);
	e->sport = ends.lport;
	e->dport = ends.rport;
	commit_record(e);
done:
	bpf_map_delete_elem(&dups_in_flight, &tid);
	return 0;
}

EUN_SYSCALL_ENTER(dup)
{
	dup_begin(DUP_CALL_DUP, EUN_ARG(regs, 0), -1);
}

EUN_SYSCALL_ENTER(dup2)
{
	dup_begin(DUP_CALL_DUP2, EUN_ARG(regs, 0), EUN_ARG(regs, 1));
}

EUN_SYSCALL_ENTER(dup3)
{
	dup_begin(DUP_CALL_DUP3, EUN_ARG(regs, 0), EUN_ARG(regs, 1));
}

EUN_SYSCALL_EXIT(dup)
{
	dup_end(DUP_CALL_DUP, ret);
}

EUN_SYSCALL_EXIT(dup2)
{
	dup_end(DUP_CALL_DUP2, ret);
}

EUN_SYSCALL_EXIT(dup3)
{
	dup_end(DUP_CALL_DUP3, ret);
}

#endif
