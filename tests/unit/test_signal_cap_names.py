"""Names of the signal and cap trackers' raw numbers (no kernel needed)."""

from __future__ import annotations

import pytest

from eunomia import trackers
from eunomia.trackers.cap.names import CAPABILITIES, cap_name, cap_number
from eunomia.pipeline.formats import sock_type
from eunomia.trackers.net.addresses import socket_family
from eunomia.trackers.signal.names import ptrace_request_name, si_code_name, signal_result, unix_address


@pytest.mark.parametrize(("value", "expected"), [
    (0, "delivered"), (1, "ignored"), (2, "already_pending"), (3, "overflow_fail"), (4, "lose_info"),
    (-3, "ESRCH"), (-1, "EPERM"), (-22, "EINVAL"),
    (0x100, 0),          # signal 0: the call succeeded, nothing was generated
    (9, "result_9"),     # a verdict a newer kernel may add stays visible
])
def test_signal_result(value, expected):
    assert signal_result(value) == expected


@pytest.mark.parametrize(("signo", "code", "expected"), [
    (15, 0, "SI_USER"), (9, 0x80, "SI_KERNEL"), (10, -6, "SI_TKILL"), (10, -1, "SI_QUEUE"),
    (17, 1, "CLD_EXITED"), (17, 2, "CLD_KILLED"), (11, 1, "SEGV_MAPERR"), (7, 2, "BUS_ADRERR"),
    (8, 14, "FPE_FLTUNK"), (31, 1, "SYS_SECCOMP"), (5, 2, "TRAP_TRACE"), (29, 1, "POLL_IN"),
    (15, 3, "3"),        # a positive code on a signal that has none
])
def test_si_code_name(signo, code, expected):
    assert si_code_name(signo, code) == expected


@pytest.mark.parametrize(("number", "machine", "expected"), [
    (0, "x86_64", "PTRACE_TRACEME"), (16, "x86_64", "PTRACE_ATTACH"), (2, "aarch64", "PTRACE_PEEKDATA"),
    (0x4206, "x86_64", "PTRACE_SEIZE"), (12, "x86_64", "PTRACE_GETREGS"), (12, "aarch64", "PTRACE_0xc"),
    (33, "aarch64", "PTRACE_PEEKMTETAGS"), (0x9999, "x86_64", "PTRACE_0x9999"),
])
def test_ptrace_request_name(number, machine, expected):
    assert ptrace_request_name(number, machine) == expected


def addr(sun_path: bytes, addrlen: int | None = None) -> bytes:
    """A record's eun_unix_addr: the address length, then sun_path (112 bytes)."""
    length = 2 + len(sun_path) if addrlen is None else addrlen
    return (length.to_bytes(2, "little") + sun_path).ljust(112, b"\0")


@pytest.mark.parametrize(("raw", "expected"), [
    (addr(b"/tmp/sock\0"), "/tmp/sock"),
    (addr(b"/tmp/sock"), "/tmp/sock"),                      # no terminator counted in addrlen
    (addr(b"/run/x.sock\0junk", addrlen=2 + 16), "/run/x.sock"),  # a path ends at its NUL
    (addr(b"\0eun-abstract"), "@eun-abstract"),
    (addr(b"\0a\0b"), "@a@b"),                              # NULs inside an abstract name
    (addr(b"", addrlen=2), None),                           # unnamed
    (addr(b"/tmp/\xff\0"), "/tmp/\\xff"),                   # hostile bytes stay visible
    (addr(b"/" + b"x" * 107, addrlen=110), "/" + "x" * 107),  # sun_path full, no NUL
])
def test_unix_address(raw, expected):
    assert unix_address(raw) == expected


def test_sock_type():
    assert [sock_type(v) for v in (0, 1, 2, 3, 5, 42)] == [None, "stream", "dgram", "raw", "seqpacket", "42"]


def test_socket_family():
    assert [socket_family(v) for v in (2, 10, 17, 99)] == ["AF_INET", "AF_INET6", "AF_PACKET", "AF_99"]


def test_capability_table_follows_linux_numbering():
    assert len(CAPABILITIES) == 41          # CAP_LAST_CAP = 40 (CAP_CHECKPOINT_RESTORE)
    assert (cap_name(0), cap_name(21), cap_name(31), cap_name(40)) == \
        ("CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SETFCAP", "CAP_CHECKPOINT_RESTORE")
    assert cap_name(41) == "CAP_41"
    assert cap_number("CAP_NET_RAW") == 13 and cap_number("sys_ptrace") == 19


def test_formatters_are_registered_for_every_tracker():
    merged = trackers.formatters()
    assert merged["eun_cap"](0) == "CAP_CHOWN"
    assert merged["eun_sig_result"](0) == "delivered"
    assert merged["eun_ptrace_request"](16) == "PTRACE_ATTACH"
    assert merged["cap_bool"](1) is True and merged["sig_bool"](0) is False
