"""Capability names, numbered as in linux/capability.h (0 … CAP_LAST_CAP = 40)."""

from __future__ import annotations

CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",       # 0-4
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",             # 5-9
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",              # 10-13
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",     # 14-18
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",       # 19-23
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",       # 24-28
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",                # 29-32
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",   # 33-37
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",                                       # 38-40
)


def cap_name(number: int) -> str:
    """CAP_CHOWN for 0; numbers a newer kernel added stay visible (CAP_41)."""
    if 0 <= number < len(CAPABILITIES):
        return CAPABILITIES[number]
    return f"CAP_{number}"


def cap_number(name: str) -> int:
    """The number of a capability name (with or without the CAP_ prefix)."""
    upper = name.upper()
    return CAPABILITIES.index(upper if upper.startswith("CAP_") else f"CAP_{upper}")
