/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Meaningful typedefs shared by every tracker.
 *
 * User space reads event layouts from the object's BTF, and the typedef a
 * field is declared with tells the generic decoder how to present it: an
 * eun_errno becomes "ENOENT", an eun_ts a wall-clock time, an eun_path a
 * reassembled absolute path.  Declare fields with these, not bare integers.
 */
#ifndef EUNOMIA_TYPES_H
#define EUNOMIA_TYPES_H

typedef __u64 eun_ts;         /* bpf_ktime_get_ns(): CLOCK_MONOTONIC ns */
typedef __u64 eun_duration;   /* nanoseconds */
typedef __u64 eun_cgroup_id;  /* cgroup v2 id (kernfs node id) */
typedef __u32 eun_pid;        /* pid/tgid in the initial pid namespace */
typedef __u32 eun_uid;
typedef __u32 eun_gid;
typedef __u32 eun_nsid;       /* namespace inode number */
typedef __s32 eun_errno;      /* 0 or a negative errno */
typedef __u32 eun_signal;
typedef __u32 eun_cap;
typedef __u32 eun_syscall;
typedef __u32 eun_wait_status; /* exit status as wait(2) reports it */
typedef __u64 eun_cap_set;    /* capability bits (bit N: capability N), as CapEff in /proc/<pid>/status */
typedef __u32 eun_tty;        /* controlling terminal as tty_nr in /proc/<pid>/stat; 0: none */
typedef __u32 eun_login_uid;  /* the audit login uid (/proc/<pid>/loginuid); 4294967295: not set */
typedef __u32 eun_exe_flags;  /* enum eun_exe_flag bits: where the executable came from */
typedef __u32 eun_sock_family; /* AF_* */
typedef __u16 eun_sock_type;   /* SOCK_STREAM, SOCK_DGRAM, … (the type bits only); 0: unknown */
typedef char eun_comm[16];    /* TASK_COMM_LEN */

/*
 * Variable-length data travels in a tail after the fixed fields.  A field of
 * type eun_tail_ref names a slice of that tail: {offset, length}.  How the
 * bytes are read depends on the typedef of the reference:
 *   eun_path_ref  path components, leaf first, each NUL-terminated
 *   eun_str_ref   one string (no NUL inside)
 *   eun_argv_ref  NUL-separated argv, as in /proc/<pid>/cmdline
 */
struct eun_tail_ref {
	__u16 off;   /* EUN_REF_ABSENT: the value does not exist */
	__u16 len;
};
#define EUN_REF_ABSENT 0xffff
typedef struct eun_tail_ref eun_path_ref;
typedef struct eun_tail_ref eun_str_ref;
typedef struct eun_tail_ref eun_argv_ref;

/* Every event record starts with its type; enumerator EUN_EV_<X> is decoded
 * with the layout of `struct event_<x>` found in the same object's BTF. */
enum eun_event_type {
	EUN_EV_NONE = 0,
	EUN_EV_EXEC = 1,
	EUN_EV_EXIT = 2,
	EUN_EV_FORK = 3,
	EUN_EV_CGROUP_MKDIR = 4,
	EUN_EV_CGROUP_RMDIR = 5,
	EUN_EV_FILE = 6,         /* struct event_file; its `op` names the kind */
	EUN_EV_NET = 7,          /* struct event_net */
	EUN_EV_SIGNAL = 8,       /* struct event_signal */
	EUN_EV_PTRACE = 9,       /* struct event_ptrace */
	EUN_EV_UNIX = 10,        /* struct event_unix */
	EUN_EV_CAPABILITY = 11,  /* struct event_capability */
	EUN_EV_SOCKET = 12,      /* struct event_socket: packet and raw sockets */
	EUN_EV_DUP = 13,         /* struct event_dup: a socket duplicated onto stdin/out/err */
	EUN_EV_MODULE = 14,      /* struct event_module: a kernel module load attempted */
	EUN_EV_MOUNT = 15,       /* struct event_mount: a mount or unmount attempted */
};

/* Flags every event may carry (struct eun_task.flags). */
enum eun_event_flags {
	EUN_F_TRUNCATED = 1,     /* a tail field was cut at its bound */
	EUN_F_PATH_PARTIAL = 2,  /* a path walk stopped before the root */
};

/* What an exec event tells of the executable (struct event_exec.exe_flags). */
enum eun_exe_flag {
	EUN_EXE_UPPER_LAYER = 1, /* on an overlayfs upper layer: written in the container, not its image */
	EUN_EXE_MEMFD = 2,       /* a memfd_create() file: the program exists only in memory */
};

/* Indexes of the per-CPU tracker_stats counters. */
enum eun_stat {
	EUN_STAT_SUBMITTED = 0,   /* records written to the ring buffer */
	EUN_STAT_FILTERED = 1,    /* events discarded by the container filter */
	EUN_STAT_LOST = 2,        /* the ring buffer was full: event lost */
	EUN_STAT_MAP_FULL = 3,    /* a map update failed or evicted an entry */
	EUN_STAT_REPEATED = 4,    /* repeats not streamed, only counted in a map */
	EUN_STAT_MAX = 5,
};

/* Verdicts of the container filter, per cgroup id. */
enum eun_verdict {
	EUN_VERDICT_DROP = 1,
	EUN_VERDICT_KEEP = 2,
};

#endif
