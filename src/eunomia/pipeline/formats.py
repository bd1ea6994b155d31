"""Presentation of raw event fields, chosen by the typedef they were declared
with in C (eun_errno, eun_wait_status, …): one place formats every tracker."""

from __future__ import annotations

import errno
import signal
from typing import Any, Callable


def errno_name(value: int) -> str:
    code = abs(value)
    return errno.errorcode.get(code, f"E{code}")


_RESULT_NAMES = {-code: name for code, name in errno.errorcode.items()}  # -2 → "ENOENT"


def format_result(value: int) -> int | str:
    """A syscall result: the value on success, the errno name on failure."""
    if value >= 0:
        return value
    return _RESULT_NAMES.get(value) or errno_name(value)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return f"SIGRTMIN+{number - signal.SIGRTMIN}"
        return f"SIG{number}"


def wait_status(status: int) -> dict[str, Any]:
    """Exit code (and signal) from a wait(2) status, as a shell reports them.

    Killed by signal N: exit code 128+N, plus the signal's name.
    """
    sig = status & 0x7F
    if sig == 0:
        return {"exit_code": (status >> 8) & 0xFF}
    return {"exit_code": 128 + sig, "exit_signal": signal_name(sig)}


def duration_ms(ns: int) -> float:
    """ns → ms with µs precision (the nearest µs; integer arithmetic, not round())."""
    return (ns + 500) // 1000 / 1000


_CAP_TEXT: dict[int, str] = {}  # a machine's processes have few distinct capability sets


def cap_set(bits: int) -> str:
    """Capability bits as /proc/<pid>/status shows CapEff: 16 hex digits."""
    text = _CAP_TEXT.get(bits)
    if text is None:
        if len(_CAP_TEXT) >= 1024:
            _CAP_TEXT.clear()
        text = _CAP_TEXT[bits] = f"{bits:016x}"
    return text


# where an exec event's executable came from (enum eun_exe_flag), merged into `process`
EXE_FLAGS = ((1, "executable_in_upper_layer"), (2, "executable_in_memory"))


def exe_flags(bits: int) -> dict[str, bool]:
    """Only the flags that are set: {"executable_in_upper_layer": True}."""
    return {name: True for bit, name in EXE_FLAGS if bits & bit}


# enum sock_type (linux/net.h)
_SOCK_TYPES = {1: "stream", 2: "dgram", 3: "raw", 4: "rdm", 5: "seqpacket", 6: "dccp", 10: "packet"}


def sock_type(value: int) -> str | None:
    """stream, dgram, raw, seqpacket…; None when the socket was not found (0)."""
    if value == 0:
        return None
    return _SOCK_TYPES.get(value, str(value))


# typedef → formatter of a single field's value
BY_TYPEDEF: dict[str, Callable[[Any], Any]] = {
    "eun_errno": format_result,
    "eun_signal": signal_name,
    "eun_duration": duration_ms,
    "eun_cap_set": cap_set,
    "eun_exe_flags": exe_flags,
    "eun_sock_type": sock_type,
}
