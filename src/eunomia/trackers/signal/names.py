"""Names for the raw numbers of signal, ptrace and unix-connect records.

Pure functions, no kernel access: each presents one field the way the
kernel's own headers name it (linux/signal.h, asm-generic/siginfo.h,
linux/ptrace.h, linux/net.h).
"""

from __future__ import annotations

import errno
import platform
import signal as _signal

# enum trace_signal_result (include/trace/events/signal.h): what
# __send_signal_locked() did with a generated signal
SIGNAL_RESULTS = {0: "delivered", 1: "ignored", 2: "already_pending", 3: "overflow_fail", 4: "lose_info"}
# signal.bpf.c SIG_RESULT_NONE: the call succeeded without generating a
# signal (signal 0 only checks that the target exists and may be signalled)
SIG_RESULT_NONE = 0x100


def signal_result(value: int) -> int | str:
    """A signal event's `result`: the delivery verdict, or the errno name of
    a call that reached no process, or 0 for a successful signal-0 probe."""
    if value < 0:
        return errno.errorcode.get(-value, f"E{-value}")
    if value == SIG_RESULT_NONE:
        return 0
    return SIGNAL_RESULTS.get(value, f"result_{value}")


# si_code values any signal may carry (asm-generic/siginfo.h)
_GENERIC_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
                  -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD", -60: "SI_ASYNCNL"}

# positive si_code values: their meaning depends on the signal
_PER_SIGNAL_CODES: dict[int, tuple[str, ...]] = {
    int(_signal.SIGILL): ("ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC",
                          "ILL_PRVREG", "ILL_COPROC", "ILL_BADSTK", "ILL_BADIADDR"),
    # 9-13 are ia64's decimal codes; FPE_FLTUNK is 14
    int(_signal.SIGFPE): ("FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF", "FPE_FLTUND",
                          "FPE_FLTRES", "FPE_FLTINV", "FPE_FLTSUB", "9", "10", "11", "12", "13",
                          "FPE_FLTUNK", "FPE_CONDTRAP"),
    int(_signal.SIGSEGV): ("SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR", "SEGV_ACCADI",
                           "SEGV_ADIDERR", "SEGV_ADIPERR", "SEGV_MTEAERR", "SEGV_MTESERR", "SEGV_CPERR"),
    int(_signal.SIGBUS): ("BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO"),
    int(_signal.SIGTRAP): ("TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT", "TRAP_UNK", "TRAP_PERF"),
    int(_signal.SIGCHLD): ("CLD_EXITED", "CLD_KILLED", "CLD_DUMPED", "CLD_TRAPPED", "CLD_STOPPED",
                           "CLD_CONTINUED"),
    int(_signal.SIGIO): ("POLL_IN", "POLL_OUT", "POLL_MSG", "POLL_ERR", "POLL_PRI", "POLL_HUP"),
    int(_signal.SIGSYS): ("SYS_SECCOMP", "SYS_USER_DISPATCH"),
}


def si_code_name(signo: int, code: int) -> str:
    """The siginfo code of a generated signal, e.g. SI_USER, CLD_EXITED."""
    if code in _GENERIC_CODES:
        return _GENERIC_CODES[code]
    names = _PER_SIGNAL_CODES.get(signo, ())
    if 0 < code <= len(names):
        return names[code - 1]
    return str(code)


# linux/ptrace.h, the same on every architecture
_PTRACE_GENERIC = {
    0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR",
    4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT",
    8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP", 16: "PTRACE_ATTACH", 17: "PTRACE_DETACH",
    24: "PTRACE_SYSCALL", 0x4200: "PTRACE_SETOPTIONS", 0x4201: "PTRACE_GETEVENTMSG",
    0x4202: "PTRACE_GETSIGINFO", 0x4203: "PTRACE_SETSIGINFO", 0x4204: "PTRACE_GETREGSET",
    0x4205: "PTRACE_SETREGSET", 0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT",
    0x4208: "PTRACE_LISTEN", 0x4209: "PTRACE_PEEKSIGINFO", 0x420A: "PTRACE_GETSIGMASK",
    0x420B: "PTRACE_SETSIGMASK", 0x420C: "PTRACE_SECCOMP_GET_FILTER",
    0x420D: "PTRACE_SECCOMP_GET_METADATA", 0x420E: "PTRACE_GET_SYSCALL_INFO",
    0x420F: "PTRACE_GET_RSEQ_CONFIGURATION", 0x4210: "PTRACE_SET_SYSCALL_USER_DISPATCH_CONFIG",
    0x4211: "PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG", 0x4212: "PTRACE_SET_SYSCALL_INFO",
}

# asm/ptrace-abi.h: requests numbered per architecture
_PTRACE_ARCH = {
    "x86_64": {12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS", 14: "PTRACE_GETFPREGS", 15: "PTRACE_SETFPREGS",
               18: "PTRACE_GETFPXREGS", 19: "PTRACE_SETFPXREGS", 21: "PTRACE_OLDSETOPTIONS",
               25: "PTRACE_GET_THREAD_AREA", 26: "PTRACE_SET_THREAD_AREA", 30: "PTRACE_ARCH_PRCTL",
               31: "PTRACE_SYSEMU", 32: "PTRACE_SYSEMU_SINGLESTEP", 33: "PTRACE_SINGLEBLOCK"},
    "aarch64": {33: "PTRACE_PEEKMTETAGS", 34: "PTRACE_POKEMTETAGS"},
}


def ptrace_request_name(request: int, machine: str | None = None) -> str:
    """PTRACE_ATTACH, PTRACE_PEEKDATA, …; unknown numbers stay visible."""
    if request in _PTRACE_GENERIC:
        return _PTRACE_GENERIC[request]
    arch = _PTRACE_ARCH.get(machine or platform.machine(), {})
    return arch.get(request, f"PTRACE_{request:#x}")


AF_UNIX_PATH_OFFSET = 2  # offsetof(struct sockaddr_un, sun_path)


def unix_address(raw: bytes) -> str | None:
    """sun_path from the record's address: its first two bytes hold the
    address length the caller passed (unix_connect.h), then sun_path.

    A pathname socket's path ends at its first NUL; an abstract socket's
    name (sun_path[0] == NUL) is all addrlen bytes and may contain NULs:
    shown as "@name", each NUL as "@", as ss(8) and /proc/net/unix do.
    None when the call passed no name (an unnamed address).
    """
    length = int.from_bytes(raw[:2], "little")
    path = raw[AF_UNIX_PATH_OFFSET:max(length, AF_UNIX_PATH_OFFSET)]
    if not path:
        return None
    if path[0] == 0:
        return "@" + path[1:].replace(b"\0", b"@").decode("utf-8", "backslashreplace")
    return path.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def flag(value: int) -> bool:
    return bool(value)
