"""ctypes binding of the system libbpf (libbpf.so.1, >= 1.1).

Every foreign signature lives here and nowhere else.  The library is opened
on first use, so importing eunomia never needs libbpf (unit tests, --help).
libbpf 1.x reports errors as NULL/negative return values with errno set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char_p,
    c_int,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any

from .errors import NotSupportedError

log = logging.getLogger("eunomia.libbpf")

LIBBPF_NAME = "libbpf.so.1"
MIN_VERSION = (1, 1)

# enum libbpf_print_level
LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG = 0, 1, 2

# opaque handles
obj_p = c_void_p
prog_p = c_void_p
map_p = c_void_p
link_p = c_void_p
btf_p = c_void_p


class BpfUprobeOpts(ctypes.Structure):
    """struct bpf_uprobe_opts (libbpf 1.1 layout; sz makes it forward-compatible)."""

    _fields_ = [
        ("sz", c_size_t),
        ("ref_ctr_offset", c_size_t),
        ("bpf_cookie", c_uint64),
        ("retprobe", c_bool),
        ("func_name", c_char_p),
    ]


class BpfMapBatchOpts(ctypes.Structure):
    """struct bpf_map_batch_opts."""

    _fields_ = [("sz", c_size_t), ("elem_flags", c_uint64), ("flags", c_uint64)]


PRINT_FN = CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)

_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    # version
    "libbpf_major_version": (c_uint32, []),
    "libbpf_minor_version": (c_uint32, []),
    "libbpf_set_print": (c_void_p, [PRINT_FN]),
    "libbpf_num_possible_cpus": (c_int, []),
    "libbpf_probe_bpf_prog_type": (c_int, [c_int, c_void_p]),
    "libbpf_probe_bpf_map_type": (c_int, [c_int, c_void_p]),
    "libbpf_probe_bpf_helper": (c_int, [c_int, c_int, c_void_p]),
    # objects
    "bpf_object__open_file": (obj_p, [c_char_p, c_void_p]),
    "bpf_object__load": (c_int, [obj_p]),
    "bpf_object__close": (None, [obj_p]),
    "bpf_object__name": (c_char_p, [obj_p]),
    "bpf_object__btf": (btf_p, [obj_p]),
    "bpf_object__next_program": (prog_p, [obj_p, prog_p]),
    "bpf_object__next_map": (map_p, [obj_p, map_p]),
    # programs
    "bpf_program__name": (c_char_p, [prog_p]),
    "bpf_program__section_name": (c_char_p, [prog_p]),
    "bpf_program__autoload": (c_bool, [prog_p]),
    "bpf_program__set_autoload": (c_int, [prog_p, c_bool]),
    "bpf_program__fd": (c_int, [prog_p]),
    "bpf_program__attach": (link_p, [prog_p]),
    "bpf_program__attach_tracepoint": (link_p, [prog_p, c_char_p, c_char_p]),
    "bpf_program__attach_raw_tracepoint": (link_p, [prog_p, c_char_p]),
    "bpf_program__attach_uprobe_opts": (link_p, [prog_p, c_int, c_char_p, c_size_t, POINTER(BpfUprobeOpts)]),
    "bpf_program__attach_perf_event": (link_p, [prog_p, c_int]),
    "bpf_link__destroy": (c_int, [link_p]),
    "bpf_link__fd": (c_int, [link_p]),
    # maps
    "bpf_map__name": (c_char_p, [map_p]),
    "bpf_map__fd": (c_int, [map_p]),
    "bpf_map__type": (c_int, [map_p]),
    "bpf_map__key_size": (c_uint32, [map_p]),
    "bpf_map__value_size": (c_uint32, [map_p]),
    "bpf_map__max_entries": (c_uint32, [map_p]),
    "bpf_map__set_max_entries": (c_int, [map_p, c_uint32]),
    "bpf_map__reuse_fd": (c_int, [map_p, c_int]),
    "bpf_map__initial_value": (c_void_p, [map_p, POINTER(c_size_t)]),
    "bpf_map__btf_key_type_id": (c_uint32, [map_p]),
    "bpf_map__btf_value_type_id": (c_uint32, [map_p]),
    # raw map syscalls (by fd)
    "bpf_map_lookup_elem": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_update_elem": (c_int, [c_int, c_void_p, c_void_p, c_uint64]),
    "bpf_map_delete_elem": (c_int, [c_int, c_void_p]),
    "bpf_map_get_next_key": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_lookup_batch": (
        c_int,
        [c_int, c_void_p, c_void_p, c_void_p, c_void_p, POINTER(c_uint32), POINTER(BpfMapBatchOpts)],
    ),
    # btf
    "btf__raw_data": (c_void_p, [btf_p, POINTER(c_uint32)]),
    # stats
    "bpf_enable_stats": (c_int, [c_int]),
}


class _Lib:
    """The loaded library with typed functions as attributes."""

    def __init__(self, cdll: ctypes.CDLL) -> None:
        self._cdll = cdll
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(cdll, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)

    def __getattr__(self, name: str) -> Any:  # for type checkers: attributes set above
        raise AttributeError(name)


_lib: _Lib | None = None
_lock = threading.Lock()
_libc = ctypes.CDLL(None, use_errno=True)
_libc.vsnprintf.argtypes = [c_char_p, c_size_t, c_char_p, c_void_p]
_libc.vsnprintf.restype = c_int

# Messages libbpf prints while a thread loads an object are also captured
# here, so a failed load can carry the verifier's log.
_capture = threading.local()


def _format(fmt: bytes, va_list: int) -> str:
    # va_list is an array type on x86-64 and a by-reference struct on arm64:
    # either way the callback receives a pointer that vsnprintf accepts.
    buf = ctypes.create_string_buffer(4096)
    _libc.vsnprintf(buf, len(buf), fmt, va_list)
    return buf.value.decode(errors="replace")


@PRINT_FN
def _print(level: int, fmt: bytes, va_list: int) -> int:
    try:
        text = _format(fmt, va_list)
    except Exception:  # never let an exception cross into C
        return 0
    sink = getattr(_capture, "lines", None)
    if sink is not None:
        sink.append(text)
    pylevel = {LIBBPF_WARN: logging.WARNING, LIBBPF_INFO: logging.INFO}.get(level, logging.DEBUG)
    if getattr(_capture, "quiet", False):
        pylevel = logging.DEBUG
    if log.isEnabledFor(pylevel):
        log.log(pylevel, "%s", text.rstrip("\n"))
    return 0


class captured_messages:
    """Context manager collecting libbpf's messages printed in this thread.

    With quiet=True they are logged at DEBUG only: for failures the caller
    expects (feature probes) or reports itself (a load error's message).
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def __enter__(self) -> list[str]:
        self.lines: list[str] = []
        _capture.lines = self.lines
        _capture.quiet = self.quiet
        return self.lines

    def __exit__(self, *exc: object) -> None:
        _capture.lines = None
        _capture.quiet = False


def lib() -> _Lib:
    """Open libbpf on first use and route its log into Python logging."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            path = ctypes.util.find_library("bpf") or LIBBPF_NAME
            try:
                cdll = ctypes.CDLL(LIBBPF_NAME, use_errno=True)
            except OSError:
                try:
                    cdll = ctypes.CDLL(path, use_errno=True)
                except OSError as exc:
                    raise NotSupportedError(
                        "libbpf", f"cannot load {LIBBPF_NAME} ({exc}); install libbpf1 (apt-get install libbpf1)"
                    ) from exc
            loaded = _Lib(cdll)
            version = (loaded.libbpf_major_version(), loaded.libbpf_minor_version())
            if version < MIN_VERSION:
                raise NotSupportedError(
                    "libbpf",
                    f"libbpf {version[0]}.{version[1]} is too old; eunomia needs >= "
                    f"{MIN_VERSION[0]}.{MIN_VERSION[1]}",
                )
            loaded.libbpf_set_print(_print)
            _lib = loaded
    return _lib


def errno() -> int:
    return ctypes.get_errno()


def version() -> str:
    l = lib()
    return f"{l.libbpf_major_version()}.{l.libbpf_minor_version()}"


def num_possible_cpus() -> int:
    n = lib().libbpf_num_possible_cpus()
    return n if n > 0 else 1


c_uint32_p = POINTER(c_uint32)
__all__ = ["lib", "errno", "captured_messages", "BpfUprobeOpts", "BpfMapBatchOpts", "c_uint", "c_uint32_p"]
