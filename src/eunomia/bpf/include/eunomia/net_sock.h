/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Sockets for the net tracker: addresses and ports of a struct sock, the
 * socket behind a file descriptor, and a user-space sockaddr.
 *
 * Every address travels as 16 bytes in network order; an IPv4 address is
 * written IPv4-mapped (::ffff:a.b.c.d), as the kernel itself stores the
 * IPv4 peer of a dual-stack AF_INET6 socket.  User space shows a mapped
 * address as plain IPv4, so both cases read the same.
 */
#ifndef EUNOMIA_NET_SOCK_H
#define EUNOMIA_NET_SOCK_H

#include <bpf/bpf_endian.h>
#include "eunomia/fd.h"

/* uapi values vmlinux.h carries no enum for */
#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define MSG_ERRQUEUE 0x2000

typedef __u32 eun_ip_addr[4]; /* IPv6 or IPv4-mapped, network order */

/* Both ends of a socket, ports in host order. */
struct net_ends {
	eun_ip_addr local;
	eun_ip_addr remote;
	__u16 lport;
	__u16 rport;
	__u16 family;
	__u16 protocol;
};

static __always_inline void ip_set_v4(__u32 *out, __be32 v4)
{
	out[0] = 0;
	out[1] = 0;
	out[2] = bpf_htonl(0xffff);
	out[3] = v4;
}

static __always_inline __u16 sk_protocol_of(const struct sock *sk)
{
	/* a bitfield before 5.6, a u16 since: the probed read handles both */
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

/* The same through a direct load: sk as a BTF-typed pointer (fd.h's
 * bpf_rdonly_cast), no helper call — for hooks on every send and receive. */
static __always_inline __u16 sk_protocol_direct(const struct sock *sk)
{
	struct sock *s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));

	return BPF_CORE_READ_BITFIELD(s, sk_protocol);
}

static __always_inline __u16 sk_family_of(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_family);
}

static __always_inline bool family_is_inet(__u16 family)
{
	return family == AF_INET || family == AF_INET6;
}

/* Addresses and ports from struct sock_common (CO-RE). */
static __always_inline void sock_ends(const struct sock *sk, struct net_ends *e)
{
	e->family = sk_family_of(sk);
	e->protocol = sk_protocol_of(sk);
	/* inet_sport, not skc_num: the port is released (skc_num = 0) just
	 * before the →CLOSE transition, inet_sport keeps it */
	e->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->local, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->remote, sk, __sk_common.skc_v6_daddr);
		return;
	}
	ip_set_v4(e->local, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
	ip_set_v4(e->remote, BPF_CORE_READ(sk, __sk_common.skc_daddr));
}

/* A socket has a peer once connected (TCP established, UDP connect()). */
static __always_inline bool sock_connected(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_dport) != 0;
}

/* The struct sock behind fd in the current task, or NULL when fd is no socket. */
static __always_inline struct sock *sock_of_fd(long fd)
{
	struct socket *sock = eun_fd_socket(fd);

	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* An AF_INET/AF_INET6 TCP socket (not MPTCP, not unix, not raw). */
static __always_inline bool sock_is_inet_tcp(const struct sock *sk)
{
	return sk && family_is_inet(sk_family_of(sk)) && sk_protocol_of(sk) == IPPROTO_TCP;
}

/* An AF_INET/AF_INET6 TCP or UDP socket (the ones bind/listen events are about). */
static __always_inline bool sock_is_inet_tcp_udp(const struct sock *sk)
{
	__u16 protocol;

	if (!sk || !family_is_inet(sk_family_of(sk)))
		return false;
	protocol = sk_protocol_of(sk);
	return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP;
}

/*
 * A sockaddr in user memory → address and port (host order); returns the
 * family, 0 when unreadable or not AF_INET/AF_INET6.  struct sockaddr_in6:
 * family at 0, port at 2, address at 8; sockaddr_in: address at 4.
 */
static __always_inline __u16 read_user_sockaddr(const void *uaddr, __u32 *addr, __u16 *port)
{
	struct {
		__u16 family;
		__be16 port;
		__be32 v4_or_flowinfo;
		__u32 v6[4];
	} sa = {};

	if (!uaddr || bpf_probe_read_user(&sa, 8, uaddr))
		return 0;
	*port = bpf_ntohs(sa.port);
	if (sa.family == AF_INET) {
		ip_set_v4(addr, sa.v4_or_flowinfo);
		return AF_INET;
	}
	if (sa.family != AF_INET6 || bpf_probe_read_user(&sa.v6, sizeof(sa.v6), (const char *)uaddr + 8))
		return 0;
	addr[0] = sa.v6[0];
	addr[1] = sa.v6[1];
	addr[2] = sa.v6[2];
	addr[3] = sa.v6[3];
	return AF_INET6;
}

/* Only the family of a user sockaddr (0 when unreadable). */
static __always_inline __u16 user_sockaddr_family(const void *uaddr)
{
	__u16 family = 0;

	if (uaddr)
		bpf_probe_read_user(&family, sizeof(family), uaddr);
	return family;
}

#endif
