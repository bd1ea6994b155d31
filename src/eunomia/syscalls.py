"""Syscall names and numbers of the running architecture, from libseccomp.

libseccomp's table is the one container runtimes use to turn a seccomp
profile's names into numbers, so names resolved here mean the same thing
in a generated profile.  Numbers are for the native ABI (x86-64 or arm64);
32-bit compat syscalls on x86-64 have other numbers and are not told apart.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

SCMP_ARCH_NATIVE = 0
LIBSECCOMP = "libseccomp.so.2"


class UnknownSyscallError(LookupError):
    """A number or name libseccomp does not know for this architecture."""


class LibseccompMissing(RuntimeError):
    pass


@functools.cache
def _lib() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBSECCOMP)
    except OSError:
        path = ctypes.util.find_library("seccomp")
        if path is None:
            raise LibseccompMissing(f"{LIBSECCOMP} not found: apt-get install libseccomp2") from None
        lib = ctypes.CDLL(path)
    lib.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
    lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p  # malloc'd, freed below
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    return lib


_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]


@functools.cache
def name_of(number: int) -> str:
    """The syscall's name; UnknownSyscallError for a number not in the table."""
    ptr = _lib().seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number)
    if not ptr:
        raise UnknownSyscallError(f"syscall number {number} is unknown to libseccomp on this architecture")
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        _libc.free(ptr)


@functools.cache
def number_of(name: str) -> int:
    nr = _lib().seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, name.encode())
    if nr < 0:
        raise UnknownSyscallError(f"syscall {name!r} does not exist on this architecture")
    return nr


# syscalls added since Linux 5.1 have one number on every architecture
# (the unified table): used when the installed libseccomp is older than them
UNIFIED_NUMBERS = {"openat2": 437, "fchmodat2": 452}


def numbers_of(*names: str) -> dict[str, int]:
    """Numbers of the names that exist here (e.g. no `open` on arm64)."""
    found = {}
    for name in names:
        try:
            found[name] = number_of(name)
        except UnknownSyscallError:
            if name in UNIFIED_NUMBERS:
                found[name] = UNIFIED_NUMBERS[name]
    return found


def native_arch() -> str:
    """The SCMP_ARCH_* name of this machine, as seccomp profiles spell it."""
    token = _lib().seccomp_arch_native()
    # audit arch tokens (AUDIT_ARCH_*) of the architectures eunomia runs on
    return {0xC000003E: "SCMP_ARCH_X86_64", 0xC00000B7: "SCMP_ARCH_AARCH64"}.get(token, f"0x{token:08x}")
