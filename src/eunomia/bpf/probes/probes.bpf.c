// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Feature probes: one trivial program per kind of hook.  User space loads
 * and attaches each alone (autoload off for the rest); success means the
 * kernel really offers that hook, not merely that the headers know it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx) { return 0; }

SEC("raw_tp/sys_enter")
int probe_raw_tracepoint(void *ctx) { return 0; }

SEC("kprobe/vfs_read")
int probe_kprobe(void *ctx) { return 0; }

SEC("fentry/vfs_read")
int BPF_PROG(probe_fentry) { return 0; }

SEC("tp_btf/sched_switch")
int BPF_PROG(probe_tp_btf) { return 0; }

SEC("lsm/file_open")
int BPF_PROG(probe_lsm) { return 0; }

SEC("uprobe")
int probe_uprobe(void *ctx) { return 0; }

SEC("perf_event")
int probe_perf_event(void *ctx) { return 0; }
