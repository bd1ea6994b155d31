"""The loader's error vocabulary.  The library raises; only the CLI prints."""

from __future__ import annotations

import errno as _errno
import os


# libbpf's own error codes (enum libbpf_errno), beyond the errno range
LIBBPF_ERRORS = {
    4000: "something wrong in libelf", 4001: "BPF object format invalid", 4002: "'version' section incorrect or lost",
    4003: "endian mismatch", 4004: "internal error in libbpf", 4005: "relocation failed", 4006: "load program failed",
    4007: "kernel verifier blocks program loading", 4008: "program too big", 4009: "incorrect kernel version",
    4010: "kernel doesn't support this program type", 4011: "wrong pid in netlink message",
    4012: "invalid netlink sequence", 4013: "netlink message parse error",
}


class BpfError(Exception):
    """A libbpf or bpf(2) operation failed.

    ``obj``/``program``/``map`` name what failed, ``errno`` is the positive
    errno value when the kernel gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        obj: str | None = None,
        program: str | None = None,
        map: str | None = None,
    ) -> None:
        self.errno = abs(errno) if errno else None
        self.obj = obj
        self.program = program
        self.map = map
        super().__init__(message)

    def __str__(self) -> str:
        where = ", ".join(
            f"{kind} {name!r}"
            for kind, name in (("object", self.obj), ("program", self.program), ("map", self.map))
            if name
        )
        text = self.args[0]
        if where:
            text = f"{text} ({where})"
        if self.errno in LIBBPF_ERRORS:
            text = f"{text}: {LIBBPF_ERRORS[self.errno]}"
        elif self.errno:
            code = _errno.errorcode.get(self.errno, str(self.errno))
            text = f"{text}: {code} {os.strerror(self.errno)}"
        return text


class VerifierError(BpfError):
    """The kernel's verifier rejected a program; ``log`` holds its log."""

    def __init__(self, message: str, log: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.log = log


class NotSupportedError(BpfError):
    """The running kernel lacks a feature (``feature`` names it)."""

    def __init__(self, feature: str, message: str | None = None, **kwargs: object) -> None:
        super().__init__(message or f"{feature} is not supported by this kernel", **kwargs)  # type: ignore[arg-type]
        self.feature = feature


class BpfPermissionError(BpfError):
    """Loading or attaching needs privileges the process lacks (CAP_BPF, CAP_PERFMON)."""


def error_from_errno(message: str, err: int, **kwargs: object) -> BpfError:
    """Pick the most specific error class for a negative or positive errno."""
    err = abs(err)
    if err in (_errno.EPERM, _errno.EACCES) and kwargs.get("program") is None:
        return BpfPermissionError(message, errno=err, **kwargs)  # type: ignore[arg-type]
    if err in (_errno.EOPNOTSUPP, _errno.ENOTSUP, _errno.ENOSYS):
        return NotSupportedError(message, message, errno=err, **kwargs)  # type: ignore[arg-type]
    return BpfError(message, errno=err, **kwargs)  # type: ignore[arg-type]
