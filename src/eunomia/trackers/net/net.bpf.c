// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * net: TCP connect/accept/close, bind/listen (TCP and UDP), and UDP peers
 * aggregated in the kernel.
 *
 * Who owns a TCP socket: the state changes after SYN_SENT (ESTABLISHED, or
 * CLOSE when refused) and the final CLOSE mostly run in softirq context,
 * where `current` is whatever task the CPU interrupted.  So a socket is
 * remembered in tcp_owners, keyed by its struct sock address, where the
 * context is right — the CLOSE→SYN_SENT transition runs inside connect()
 * in the connecting task, accept's syscall exit in the accepting one — and
 * later events carry that stored task.  Only remembered sockets are acted
 * on in softirq context, so the container filter decided at those two
 * points covers every later event.
 *
 * A connect's outcome: ESTABLISHED → result 0; CLOSE → sk->sk_err, which
 * tcp_reset()/tcp_write_err() set before tcp_done() moves the socket to
 * CLOSE (ECONNREFUSED, ETIMEDOUT, …).  connect() calls that fail before
 * sending a SYN (ENETUNREACH, EADDRNOTAVAIL, EACCES…) are reported from
 * the syscall's exit with the address the caller passed.
 */
#include "eunomia/common.h"
#include "eunomia/net_sock.h"
#include "eunomia/net_udp.h"
#include "eunomia/dispatch.h"

#define TCP_OWNERS_MAX 16384
#define NET_CALLS_MAX 8192
#define ECONNABORTED 103
#define EINTR 4
#define EALREADY 114
#define EISCONN 106
#define ERESTARTSYS 512

enum net_op {
	NET_OP_CONNECT,
	NET_OP_ACCEPT,
	NET_OP_CLOSE,
	NET_OP_BIND,
	NET_OP_LISTEN,
};

enum net_transport {
	NET_TRANSPORT_TCP,
	NET_TRANSPORT_UDP,
};

/* outbound: we connected (source = us); inbound: we accepted (destination = us) */
enum net_direction {
	NET_DIRECTION_OUTBOUND,
	NET_DIRECTION_INBOUND,
	NET_DIRECTION_NONE,        /* bind, listen: only the local end */
};

struct event_net {
	enum eun_event_type type;
	eun_errno result;
	struct eun_task task;
	enum net_op op;
	enum net_transport transport;
	enum net_direction direction;
	__u16 sport;
	__u16 dport;
	eun_ip_addr saddr;
	eun_ip_addr daddr;
	__u64 bytes_sent;          /* close: payload bytes, retransmissions not counted */
	__u64 bytes_received;
	eun_duration duration;     /* close: since connect() or accept() */
};

EUN_EVENT(event_net);

struct tcp_owner {
	struct eun_task task;      /* who connected or accepted */
	eun_ts start;
	__u32 inbound;             /* accepted, not connected */
	__u32 established;         /* connect already reported */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCP_OWNERS_MAX);
	__type(key, __u64);        /* struct sock * */
	__type(value, struct tcp_owner);
} tcp_owners SEC(".maps");

/* A syscall in flight, by thread id (a thread is in one syscall at a time). */
enum net_call_kind {
	CALL_CONNECT = 1,
	CALL_BIND,
	CALL_LISTEN,
	CALL_SEND,                 /* sendto/sendmsg with a destination address */
	CALL_RECVFROM,
	CALL_RECVMSG,
};

struct net_call {
	__u64 uaddr;               /* user sockaddr; recvmsg: user msghdr */
	__u64 sk;                  /* connect: the socket that went SYN_SENT */
	__u32 kind;
	__s32 fd;
	__u32 reached;             /* connect: a SYN was sent in this call */
	__u32 pending;             /* recv: datagram bytes, accounted at exit */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NET_CALLS_MAX);
	__type(key, __u32);
	__type(value, struct net_call);
} net_calls SEC(".maps");

static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

static __always_inline void call_begin(enum net_call_kind kind, long fd, const void *uaddr)
{
	struct net_call call = { .kind = kind, .fd = fd, .uaddr = (__u64)uaddr };
	__u32 tid = current_tid();

	if (bpf_map_update_elem(&net_calls, &tid, &call, BPF_ANY))
		stat_inc(EUN_STAT_MAP_FULL);
}

/* The thread's call of this kind, if any. */
static __always_inline struct net_call *call_of(enum net_call_kind kind)
{
	__u32 tid = current_tid();
	struct net_call *call = bpf_map_lookup_elem(&net_calls, &tid);

	return call && call->kind == kind ? call : NULL;
}

static __always_inline void call_end(void)
{
	__u32 tid = current_tid();

	bpf_map_delete_elem(&net_calls, &tid);
}

static __always_inline enum net_transport transport_of(__u16 protocol)
{
	return protocol == IPPROTO_UDP ? NET_TRANSPORT_UDP : NET_TRANSPORT_TCP;
}

static __always_inline void copy_ip(__u32 *dst, const __u32 *src)
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

/* source = the client end, destination = the server end */
static __always_inline void put_ends(struct event_net *e, const struct net_ends *ends, bool inbound)
{
	if (inbound) {
		copy_ip(e->saddr, ends->remote);
		copy_ip(e->daddr, ends->local);
		e->sport = ends->rport;
		e->dport = ends->lport;
	} else {
		copy_ip(e->saddr, ends->local);
		copy_ip(e->daddr, ends->remote);
		e->sport = ends->lport;
		e->dport = ends->rport;
	}
}

static __always_inline void event_init(struct event_net *e, enum net_op op, long result)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->type = EUN_EV_NET;
	e->op = op;
	e->result = result;
	e->transport = NET_TRANSPORT_TCP;
	e->direction = NET_DIRECTION_NONE;
}

/*
 * Which cgroup holds a local address: the source address of every TCP
 * connect and the local address of every accepted connection, written by
 * the task's own cgroup before any filtering (a container filtered out is
 * still a peer worth naming).  User space names the container behind a
 * peer address with it when the runtime has not said yet which container
 * holds the address: Docker's "start" event, which carries a container's
 * addresses, comes after the container's first process runs, and a client
 * that connects at once would otherwise stay unnamed.  The connect's SYN_SENT
 * runs before the server can accept, so the entry is there in time.
 */
struct address_key {
	eun_ip_addr ip;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct address_key);
	__type(value, eun_cgroup_id);
} address_owners SEC(".maps");

static __always_inline bool ip_is_loopback(const __u32 *ip)
{
	/* IPv4-mapped 127.0.0.0/8, or ::1 */
	if (ip[0] == 0 && ip[1] == 0 && ip[2] == bpf_htonl(0xffff))
		return (bpf_ntohl(ip[3]) >> 24) == 127;
	return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] == bpf_htonl(1);
}

/* the host's network namespace (its inode number): set by user space, which runs in it */
const volatile __u32 targ_host_netns = 0;

static __always_inline void address_remember(const struct sock *sk)
{
	eun_cgroup_id cgid = bpf_get_current_cgroup_id();
	struct net_ends ends = {};
	struct address_key key = {};

	/* a task in the host's namespace (a host process, a --network host
	 * container) uses the host's addresses: they name no container */
	if (BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) == targ_host_netns)
		return;
	sock_ends(sk, &ends);
	copy_ip(key.ip, ends.local);
	if (ip_is_loopback(key.ip) || !(key.ip[0] | key.ip[1] | key.ip[2] | key.ip[3]))
		return;
	bpf_map_update_elem(&address_owners, &key, &cgid, BPF_ANY);
}

/* ---- TCP: the owner of a socket, and events in any context ---------------- */

static __always_inline void owner_remember(const struct sock *sk, bool inbound)
{
	__u64 key = (__u64)sk;
	struct tcp_owner owner = { .inbound = inbound, .established = inbound };

	fill_task(&owner.task, (struct task_struct *)bpf_get_current_task());
	owner.start = owner.task.ts;
	if (bpf_map_update_elem(&tcp_owners, &key, &owner, BPF_ANY))
		stat_inc(EUN_STAT_MAP_FULL);
}

/*
 * bytes_received counts sequence space (rcv_nxt advances), which includes
 * the peer's FIN; tcp_fin() marks its arrival with SOCK_DONE (cleared only
 * by a reconnect).  bytes_sent is data only; retransmissions are taken out.
 */
static __always_inline __u64 fin_received(const struct sock *sk)
{
	unsigned long flags = BPF_CORE_READ(sk, __sk_common.skc_flags);

	return (flags >> bpf_core_enum_value(enum sock_flags, SOCK_DONE)) & 1;
}

/* An event of a remembered socket, attributed to its owner. */
static __always_inline void owner_emit(const struct sock *sk, const struct tcp_owner *owner,
				       enum net_op op, long result)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct net_ends ends = {};
	struct event_net e;

	event_init(&e, op, result);
	__builtin_memcpy(&e.task, &owner->task, sizeof(e.task));
	e.task.ts = bpf_ktime_get_ns();
	e.direction = owner->inbound ? NET_DIRECTION_INBOUND : NET_DIRECTION_OUTBOUND;
	sock_ends(sk, &ends);
	put_ends(&e, &ends, owner->inbound);
	if (op == NET_OP_CLOSE) {
		e.bytes_sent = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
		e.bytes_received = BPF_CORE_READ(tp, bytes_received) - fin_received(sk);
		e.duration = e.task.ts - owner->start;
	}
	submit_record(&e, sizeof(e));
}

/* CLOSE→SYN_SENT: inside connect() (or a fast-open sendmsg), in the caller's context. */
static __always_inline void tcp_syn_sent(const struct sock *sk)
{
	struct net_call *call = call_of(CALL_CONNECT);

	address_remember(sk);
	if (call) {
		call->reached = 1;
		call->sk = (__u64)sk;
	} else if (cgroup_discarded(bpf_get_current_cgroup_id())) {
		/* no connect() call of a kept task: io_uring, TCP fast open, or a
		 * task the filter discarded (counted at sys_enter_connect) */
		return;
	}
	owner_remember(sk, false);
}

static __always_inline void tcp_established(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct tcp_owner *owner = bpf_map_lookup_elem(&tcp_owners, &key);

	if (!owner || owner->established)
		return;
	owner_emit(sk, owner, NET_OP_CONNECT, 0);
	owner->established = 1;
}

/* →CLOSE: a refused/failed connect, or the end of a connection. */
static __always_inline void tcp_closed(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct tcp_owner *owner = bpf_map_lookup_elem(&tcp_owners, &key);
	struct net_call *call;
	int err;

	if (!owner)
		return;
	err = BPF_CORE_READ(sk, sk_err);
	if (!owner->established) {
		call = call_of(CALL_CONNECT);
		if (!err && call && call->sk == key) {
			/* failed inside connect() before any reply: its exit reports the errno */
			call->reached = 0;
			goto forget;
		}
		/* no error recorded: the caller closed or disconnected it while connecting */
		owner_emit(sk, owner, NET_OP_CONNECT, -(err ? err : ECONNABORTED));
		goto forget;
	}
	owner_emit(sk, owner, NET_OP_CLOSE, -err);
forget:
	bpf_map_delete_elem(&tcp_owners, &key);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, int oldstate, int newstate)
{
	if (sk_protocol_of(sk) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT && oldstate == TCP_CLOSE)
		tcp_syn_sent(sk);
	else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT)
		tcp_established(sk);
	else if (newstate == TCP_CLOSE)
		tcp_closed(sk);
	return 0;
}

/*
 * Backstop: every TCP socket is destroyed after →CLOSE.  A socket remembered
 * at accept() just as it went to CLOSE on another CPU is reported and
 * forgotten here instead of staying in tcp_owners.
 */
SEC("raw_tp/tcp_destroy_sock")
int BPF_PROG(handle_destroy_sock, struct sock *sk)
{
	tcp_closed(sk);
	return 0;
}

/* ---- connect ------------------------------------------------------------- */

EUN_SYSCALL_ENTER(connect)
{
	const void *uaddr = (const void *)EUN_ARG(regs, 1);

	if (!family_is_inet(user_sockaddr_family(uaddr)) || !sock_is_inet_tcp(sock_of_fd(EUN_ARG(regs, 0))))
		return;
	if (should_discard())
		return;
	call_begin(CALL_CONNECT, EUN_ARG(regs, 0), uaddr);
}

/* Errors that are no outcome of a connection attempt */
static __always_inline bool connect_retry_errno(long ret)
{
	return ret == -EINPROGRESS || ret == -EALREADY || ret == -EISCONN || ret == -EINTR ||
	       ret == -ERESTARTSYS;
}

EUN_SYSCALL_EXIT(connect)
{
	struct net_call *call = call_of(CALL_CONNECT);
	struct net_ends ends = {};
	struct event_net e;
	struct sock *sk;

	if (!call)
		return;
	if (ret >= 0 || call->reached || connect_retry_errno(ret))
		goto done;
	event_init(&e, NET_OP_CONNECT, ret);
	fill_task(&e.task, (struct task_struct *)bpf_get_current_task());
	e.direction = NET_DIRECTION_OUTBOUND;
	sk = sock_of_fd(call->fd);
	if (sk)
		sock_ends(sk, &ends);
	put_ends(&e, &ends, false);
	read_user_sockaddr((const void *)call->uaddr, e.daddr, &e.dport);
	submit_record(&e, sizeof(e));
done:
	call_end();
}

/* ---- accept -------------------------------------------------------------- */

static __always_inline int accept_return(long ret)
{
	struct sock *sk;
	struct net_ends ends = {};
	struct event_net e;

	if (ret < 0)
		return 0;
	sk = sock_of_fd(ret);
	if (!sock_is_inet_tcp(sk))
		return 0;
	address_remember(sk);
	if (should_discard())
		return 0;
	event_init(&e, NET_OP_ACCEPT, 0);
	fill_task(&e.task, (struct task_struct *)bpf_get_current_task());
	e.direction = NET_DIRECTION_INBOUND;
	sock_ends(sk, &ends);
	put_ends(&e, &ends, true);
	submit_record(&e, sizeof(e));
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_CLOSE)
		owner_remember(sk, true);
	return 0;
}

EUN_SYSCALL_EXIT(accept)
{
	accept_return(ret);
}

EUN_SYSCALL_EXIT(accept4)
{
	accept_return(ret);
}

/* ---- bind, listen -------------------------------------------------------- */

EUN_SYSCALL_ENTER(bind)
{
	const void *uaddr = (const void *)EUN_ARG(regs, 1);

	if (!family_is_inet(user_sockaddr_family(uaddr)) || !sock_is_inet_tcp_udp(sock_of_fd(EUN_ARG(regs, 0))))
		return;
	if (should_discard())
		return;
	call_begin(CALL_BIND, EUN_ARG(regs, 0), uaddr);
}

EUN_SYSCALL_EXIT(bind)
{
	struct net_call *call = call_of(CALL_BIND);
	struct event_net e;
	struct sock *sk;

	if (!call)
		return;
	event_init(&e, NET_OP_BIND, ret);
	fill_task(&e.task, (struct task_struct *)bpf_get_current_task());
	read_user_sockaddr((const void *)call->uaddr, e.saddr, &e.sport);
	sk = sock_of_fd(call->fd);
	if (sk) {
		e.transport = transport_of(sk_protocol_of(sk));
		if (ret == 0) /* port 0 asks the kernel to choose: report its choice */
			e.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	submit_record(&e, sizeof(e));
	call_end();
}

EUN_SYSCALL_ENTER(listen)
{
	if (!sock_is_inet_tcp_udp(sock_of_fd(EUN_ARG(regs, 0))) || should_discard())
		return;
	call_begin(CALL_LISTEN, EUN_ARG(regs, 0), NULL);
}

EUN_SYSCALL_EXIT(listen)
{
	struct net_call *call = call_of(CALL_LISTEN);
	struct net_ends ends = {};
	struct event_net e;
	struct sock *sk;

	if (!call)
		return;
	event_init(&e, NET_OP_LISTEN, ret);
	fill_task(&e.task, (struct task_struct *)bpf_get_current_task());
	sk = sock_of_fd(call->fd);
	if (sk) {
		sock_ends(sk, &ends);
		e.transport = transport_of(ends.protocol);
	}
	put_ends(&e, &ends, false);
	__builtin_memset(e.daddr, 0, sizeof(e.daddr));
	e.dport = 0;
	submit_record(&e, sizeof(e));
	call_end();
}

/* ---- UDP peers --------------------------------------------------------------
 * sock_send_length/sock_recv_length fire in process context inside every
 * send/receive (sock_sendmsg/sock_recvmsg: write, send*, read, recv*, and
 * their io_uring forms).  A connected socket names its peer; an unconnected
 * one gets it from the call: sendto's/sendmsg's destination (read while the
 * call runs), recvfrom's/recvmsg's source (written to user memory only
 * when the call returns, so received bytes wait for the syscall's exit).
 * Peers of sendmmsg/recvmmsg/read on unconnected sockets stay unknown
 * (address all zero, port 0); their bytes are still counted.
 */

EUN_SYSCALL_ENTER(sendto)
{
	eun_cgroup_id cgroup_id;

	if (!EUN_ARG(regs, 4) || dispatched_discard(&cgroup_id))
		return;
	call_begin(CALL_SEND, EUN_ARG(regs, 0), (const void *)EUN_ARG(regs, 4));
}

EUN_SYSCALL_ENTER(sendmsg)
{
	struct user_msghdr *msg = (struct user_msghdr *)EUN_ARG(regs, 1);
	eun_cgroup_id cgroup_id;
	void *name = NULL;

	if (dispatched_discard(&cgroup_id))
		return;
	if (bpf_probe_read_user(&name, sizeof(name), &msg->msg_name) || !name)
		return;
	call_begin(CALL_SEND, EUN_ARG(regs, 0), name);
}

static __always_inline void send_return(void)
{
	__u32 tid = current_tid();

	/* a lookup is lock-free; only delete what exists */
	if (bpf_map_lookup_elem(&net_calls, &tid))
		bpf_map_delete_elem(&net_calls, &tid);
}

EUN_SYSCALL_EXIT(sendto)
{
	send_return();
}

EUN_SYSCALL_EXIT(sendmsg)
{
	send_return();
}

EUN_SYSCALL_ENTER(recvfrom)
{
	eun_cgroup_id cgroup_id;

	if (!EUN_ARG(regs, 4) || dispatched_discard(&cgroup_id))
		return;
	call_begin(CALL_RECVFROM, EUN_ARG(regs, 0), (const void *)EUN_ARG(regs, 4));
}

EUN_SYSCALL_ENTER(recvmsg)
{
	eun_cgroup_id cgroup_id;

	if (dispatched_discard(&cgroup_id))
		return;
	call_begin(CALL_RECVMSG, EUN_ARG(regs, 0), (const void *)EUN_ARG(regs, 1));
}

/* recvfrom/recvmsg returned: the source address is in user memory now. */
static __always_inline void recv_return(void)
{
	__u32 tid = current_tid();
	struct net_call *call = bpf_map_lookup_elem(&net_calls, &tid);
	const void *uaddr;
	eun_ip_addr peer = {};
	eun_cgroup_id cgroup_id;
	__u16 port = 0;

	if (!call)
		return;
	if (call->pending && (call->kind == CALL_RECVFROM || call->kind == CALL_RECVMSG)) {
		uaddr = (const void *)call->uaddr;
		if (call->kind == CALL_RECVMSG &&
		    bpf_probe_read_user(&uaddr, sizeof(uaddr), &((struct user_msghdr *)uaddr)->msg_name))
			uaddr = NULL;
		read_user_sockaddr(uaddr, peer, &port);
		if (!dispatched_discard(&cgroup_id))
			udp_account(cgroup_id, peer, port, UDP_DIR_RECEIVED, call->pending);
	}
	bpf_map_delete_elem(&net_calls, &tid);
}

EUN_SYSCALL_EXIT(recvfrom)
{
	recv_return();
}

EUN_SYSCALL_EXIT(recvmsg)
{
	recv_return();
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(handle_send_length, struct sock *sk, int ret, int flags)
{
	struct net_ends ends = {};
	struct net_call *call;
	eun_cgroup_id cgroup_id;

	/* every send on the machine passes here: the cached filter first, then
	 * the protocol through a direct (BTF-typed) load */
	if (ret <= 0 || should_discard_cached(&cgroup_id) || sk_protocol_direct(sk) != IPPROTO_UDP)
		return 0;
	if (sock_connected(sk)) {
		sock_ends(sk, &ends);
	} else {
		call = call_of(CALL_SEND);
		if (call)
			read_user_sockaddr((const void *)call->uaddr, ends.remote, &ends.rport);
	}
	udp_account(cgroup_id, ends.remote, ends.rport, UDP_DIR_SENT, ret);
	return 0;
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(handle_recv_length, struct sock *sk, int ret, int flags)
{
	struct net_ends ends = {};
	struct net_call *call;
	eun_cgroup_id cgroup_id;
	__u32 tid;

	/* a peek reads the datagram again later; the error queue holds no data */
	if (ret <= 0 || (flags & (MSG_PEEK | MSG_ERRQUEUE)) || should_discard_cached(&cgroup_id) ||
	    sk_protocol_direct(sk) != IPPROTO_UDP)
		return 0;
	if (!sock_connected(sk)) {
		tid = current_tid();
		call = bpf_map_lookup_elem(&net_calls, &tid);
		if (call && (call->kind == CALL_RECVFROM || call->kind == CALL_RECVMSG)) {
			call->pending += ret;
			return 0;
		}
	} else {
		sock_ends(sk, &ends);
	}
	udp_account(cgroup_id, ends.remote, ends.rport, UDP_DIR_RECEIVED, ret);
	return 0;
}

#include "sockfd.h"
