"""Presentation of the file tracker's raw fields, by their C typedef.

Open flags are decoded with the values of the running architecture: most
O_* bits are the asm-generic ones, but x86-64 and arm64 disagree on
O_DIRECTORY, O_NOFOLLOW, O_DIRECT and O_LARGEFILE.
"""

from __future__ import annotations

import platform

ABSENT = 0xFFFFFFFF  # FILE_ABSENT in file.bpf.c: not given / left unchanged

# asm-generic/fcntl.h (x86-64 uses these unchanged)
GENERIC: dict[str, int] = {
    "O_CREAT": 0o100, "O_EXCL": 0o200, "O_NOCTTY": 0o400, "O_TRUNC": 0o1000,
    "O_APPEND": 0o2000, "O_NONBLOCK": 0o4000, "O_DSYNC": 0o10000, "FASYNC": 0o20000,
    "O_DIRECT": 0o40000, "O_LARGEFILE": 0o100000, "O_DIRECTORY": 0o200000,
    "O_NOFOLLOW": 0o400000, "O_NOATIME": 0o1000000, "O_CLOEXEC": 0o2000000,
    "__O_SYNC": 0o4000000, "O_PATH": 0o10000000, "__O_TMPFILE": 0o20000000,
}
# arch/arm64/include/uapi/asm/fcntl.h
ARM64 = {**GENERIC, "O_DIRECTORY": 0o40000, "O_NOFOLLOW": 0o100000,
         "O_DIRECT": 0o200000, "O_LARGEFILE": 0o400000}
BY_MACHINE = {"x86_64": GENERIC, "aarch64": ARM64, "arm64": ARM64}

O_ACCMODE, O_WRONLY, O_RDWR = 0o3, 0o1, 0o2

# flag → name, in the order names are listed
NAMED = (("O_CREAT", "create"), ("O_EXCL", "exclusive"), ("O_NOCTTY", "noctty"),
         ("O_TRUNC", "truncate"), ("O_APPEND", "append"), ("O_NONBLOCK", "nonblock"),
         ("FASYNC", "async"), ("O_DIRECT", "direct"), ("O_NOFOLLOW", "nofollow"),
         ("O_NOATIME", "noatime"), ("O_CLOEXEC", "cloexec"))


def _access(flags: int, table: dict[str, int]) -> list[str]:
    """The access mode; an O_PATH descriptor has none (read/write ignored)."""
    if flags & table["O_PATH"]:
        return []
    mode = flags & O_ACCMODE
    if mode == O_WRONLY:
        return ["write"]
    if mode == O_RDWR:
        return ["read", "write"]
    return ["read"] if mode == 0 else []  # 3: "no access", ioctl only


def open_flags(flags: int, machine: str | None = None) -> list[str]:
    """open(2) flags as names: ["write", "create", "truncate"].

    O_LARGEFILE is left out: on 64-bit kernels every open has it (the
    kernel forces it), so it says nothing.  Bits without a name appear as
    an octal string ("0o40000000") rather than vanish.
    """
    table = BY_MACHINE.get(machine or platform.machine(), GENERIC)
    names = _access(flags, table)
    known = O_ACCMODE | table["O_LARGEFILE"]
    for flag, name in NAMED:
        known |= table[flag]
        if flags & table[flag]:
            names.append(name)
    sync = table["__O_SYNC"] | table["O_DSYNC"]
    known |= sync
    if flags & sync == sync:
        names.append("sync")        # O_SYNC includes O_DSYNC
    elif flags & table["O_DSYNC"]:
        names.append("dsync")
    tmpfile = table["__O_TMPFILE"] | table["O_DIRECTORY"]
    known |= tmpfile | table["O_PATH"]
    if flags & tmpfile == tmpfile:
        names.append("tmpfile")     # O_TMPFILE includes O_DIRECTORY
    elif flags & table["O_DIRECTORY"]:
        names.append("directory")
    if flags & table["O_PATH"]:
        names.append("path")
    unknown = flags & ~known
    if unknown:
        names.append(f"0o{unknown:o}")
    return names


def file_mode(mode: int) -> str | None:
    """Permission bits as chmod writes them ("0644", "4755"); None when absent."""
    if mode == ABSENT:
        return None
    return f"{mode & 0o7777:04o}"


def owner_id(value: int) -> int | None:
    """A uid/gid given to chown; -1 (left unchanged) is None."""
    return None if value == ABSENT else value


def device(dev: int) -> str:
    """A kernel dev_t (MINORBITS = 20) as "major:minor", as /proc/self/mountinfo shows it."""
    return f"{dev >> 20}:{dev & 0xFFFFF}"


_FLAG_NAMES: dict[int, list[str]] = {}


def open_flags_cached(flags: int) -> list[str]:
    """open_flags() of this machine, computed once per distinct value (a
    workload opens with few); a fresh list each time, as callers may change it."""
    names = _FLAG_NAMES.get(flags)
    if names is None:
        if len(_FLAG_NAMES) >= 4096:
            _FLAG_NAMES.clear()
        names = _FLAG_NAMES[flags] = open_flags(flags)
    return list(names)
