/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * UDP peers of the net tracker, aggregated in the kernel: bytes and
 * datagrams per (container cgroup, peer address, peer port, direction).
 * Nothing is streamed; user space reads the map when tracing ends.
 */
#ifndef EUNOMIA_NET_UDP_H
#define EUNOMIA_NET_UDP_H

#include "eunomia/net_sock.h"

#define UDP_PEERS_MAX 16384

enum udp_dir {
	UDP_DIR_SENT = 0,
	UDP_DIR_RECEIVED = 1,
};

struct udp_key {
	eun_cgroup_id cgroup_id;
	eun_ip_addr peer;    /* all zero: unknown (see net.bpf.c) */
	__u16 port;          /* host order */
	__u8 dir;            /* enum udp_dir */
	__u8 pad[5];
};

struct udp_count {
	__u64 bytes;
	__u64 packets;
};

/* HASH, not LRU: a full map is counted (map_full), never evicts silently */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UDP_PEERS_MAX);
	__type(key, struct udp_key);
	__type(value, struct udp_count);
} udp_peers SEC(".maps");

static __always_inline void udp_account(eun_cgroup_id cgroup_id, const __u32 *peer, __u16 port,
					enum udp_dir dir, __u64 bytes)
{
	struct udp_key key = {
		.cgroup_id = cgroup_id,
		.peer = { peer[0], peer[1], peer[2], peer[3] },
		.port = port,
		.dir = dir,
	};
	struct udp_count first = { .bytes = bytes, .packets = 1 };
	struct udp_count *count = bpf_map_lookup_elem(&udp_peers, &key);
	long err;

	if (!count) {
		err = bpf_map_update_elem(&udp_peers, &key, &first, BPF_NOEXIST);
		if (!err)
			return;
		if (err != -EEXIST) {
			stat_inc(EUN_STAT_MAP_FULL);
			return;
		}
		/* another CPU added it meanwhile */
		count = bpf_map_lookup_elem(&udp_peers, &key);
		if (!count)
			return;
	}
	__sync_fetch_and_add(&count->bytes, bytes);
	__sync_fetch_and_add(&count->packets, 1);
}

#endif
