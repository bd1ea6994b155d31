"""Falco's fields on Eunomia's events.

Falco sees syscalls; Eunomia emits one event per completed operation.  The
mapping: each Eunomia event type is the exit of one Falco event type
(`evt.type`, below) and `evt.dir` is `<` — but for the attempts the syscall
tracker sees at entry (module loads, mounts: `>`, no result) — and fields
read what the event and the process table say.  A field Falco knows that this side cannot give
(no data in the kernel events yet) is in UNAVAILABLE with the reason: a rule
that needs it is loaded and reported disabled, never evaluated wrongly.

Extraction that does not apply to an event (fd.name of an exec) gives None,
and a check on None is false — `!=` too — as in Falco.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass, replace
from typing import Any, Callable

from ..eventpath import value_at
from ..trackers.cap.names import CAPABILITIES
from .evttypes import _NAMES_OF, ENTRY_KINDS
from .outcomes import Decide, fd_num_decides, failed_decides, rawres_decides, res_decides, worked

Event = dict[str, Any]
_NONE: dict[str, Any] = {}  # what a missing part of an event reads as

# fields Falco has and this side cannot give yet, with why
UNAVAILABLE = {
    "proc.is_exe_writable": "the exec tracker does not read the executable's mode yet",
    "thread.cap_permitted": "events do not carry the permitted capabilities yet",
    "proc.sname": "the process table does not keep sessions yet",
    "fd.name_changed": "no sendto/sendmsg events",
    "k8s.io": "not a field of the syscall source",
}

OPEN_FLAG_NAMES = {"read": "O_RDONLY", "write": "O_WRONLY", "create": "O_CREAT", "truncate": "O_TRUNC",
                   "append": "O_APPEND", "exclusive": "O_EXCL", "cloexec": "O_CLOEXEC", "directory": "O_DIRECTORY",
                   "nofollow": "O_NOFOLLOW", "nonblock": "O_NONBLOCK", "tmpfile": "O_TMPFILE", "path": "O_PATH",
                   "sync": "O_SYNC", "dsync": "O_DSYNC", "direct": "O_DIRECT", "noatime": "O_NOATIME",
                   "noctty": "O_NOCTTY", "async": "O_ASYNC"}


@dataclass(frozen=True)
class FieldDef:
    kind: str                                   # "str", "int", "bool", "ip", or "strs" (several values)
    get: Callable[[Event, Any, str | None], Any]  # (event, context, [index]) → value, None when not there
    expr: str | None = None        # the same as a Python expression of `e`, inlined by the generated code
    kind_value: Callable[[str], Any] | None = None  # a value the event's kind alone decides (evt.dir)
    decide: Decide | None = None   # checks the kind and the outcome settle (fd.num >= 0 on a failed open)


# what the expressions of FieldDef.expr may name
EXPR_NAMESPACE: dict[str, Any] = {"_E": {}, "_NO_ARGS": (None,)}


def _expr(kind: str, expr: str) -> FieldDef:
    """A field that is one expression of the event: the getter is made from it, so both agree."""
    get = eval(f"lambda e, c, a: {expr}", dict(EXPR_NAMESPACE))  # noqa: S307 - constant text in this module
    return FieldDef(kind, get, expr)


def _at(event: Event, first: str, *rest: str) -> Any:
    """event[first][rest…], None where a level is missing (the first level inlined: the hot case)."""
    node = event.get(first)
    return value_at(node, rest) if rest and isinstance(node, dict) else (None if rest else node)


def _proc(event: Event) -> dict[str, Any]:
    return event.get("process") or {}


def _cmdline(name: str | None, args: list[str] | None) -> str | None:
    if name is None:
        return None
    rest = (args or [])[1:]
    return " ".join([name, *rest])


def _fd_name(event: Event, ctx: Any, arg: str | None) -> str | None:
    path = _at(event, "file", "path") or _at(event, "module", "file")
    if path is not None:
        return str(path)
    if event.get("type") == "unix_connect":
        return _at(event, "unix", "path")
    src, dst = event.get("source") or {}, event.get("destination") or {}
    if src.get("ip") is not None and dst.get("ip") is not None:
        return f"{src['ip']}:{src.get('port')}->{dst['ip']}:{dst.get('port')}"
    return None


def _fd_type(event: Event) -> str | None:
    kind = event.get("type")
    if kind == "open" and (event.get("file") or _NONE).get("path") is not None:
        return "file"
    if kind == "unix_connect":
        return "unix"
    network = (event.get("network") or _NONE).get("type")
    return str(network) if network in ("ipv4", "ipv6") else None


_TYPECHARS = {"file": "f", "unix": "u", "ipv4": "4", "ipv6": "6"}


def _typechar(event: Event, ctx: Any, arg: str | None) -> str | None:
    if event.get("type") == "open" and "directory" in ((event.get("file") or _NONE).get("flags") or ()):
        return "d"
    return _TYPECHARS.get(_fd_type(event) or "")


def _evt_types(event: Event, ctx: Any, arg: str | None) -> list[str] | None:
    """The Falco event types this event stands for (one operation, several syscalls)."""
    kind = event.get("type", "")
    if kind == "signal" and _at(event, "signal", "origin") in ("kernel", "interrupt"):
        return None  # no syscall sent it
    if kind in ENTRY_KINDS:  # one event type per syscall: the one that was called
        call = _at(event, kind, "syscall")
        return [str(call)] if call else _NAMES_OF.get(kind)
    return _NAMES_OF.get(kind)


def _flags(event: Event, ctx: Any, arg: str | None) -> str | None:
    flags = _at(event, "file", "flags")
    if event.get("type") != "open" or flags is None:
        return None
    names = [OPEN_FLAG_NAMES.get(f, f"O_{f.upper()}") for f in flags]
    if "O_RDONLY" in names and "O_WRONLY" in names:
        names = ["O_RDWR"] + [n for n in names if n not in ("O_RDONLY", "O_WRONLY")]
    return "|".join(names)


def _rawres(event: Event, ctx: Any, arg: str | None) -> int | None:
    result = event.get("result")
    if isinstance(result, int):
        return result
    if event.get("type") == "signal" and worked(event):
        return 0
    if isinstance(result, str):
        import errno
        return -getattr(errno, result, 1)
    return None


def _res(event: Event, ctx: Any, arg: str | None) -> str | None:
    result = event.get("result")
    if result is None:
        return None
    return "SUCCESS" if worked(event) else str(result)


def _ancestors(event: Event, ctx: Any) -> list[Any]:
    return ctx.ancestors(_proc(event).get("pid")) if ctx is not None else []


def _aname(event: Event, ctx: Any, arg: str | None) -> Any:
    chain = _ancestors(event, ctx)
    if arg is None:
        return [p.name for p in chain]
    n = int(arg)
    if n == 0:
        return _proc(event).get("name")
    return chain[n - 1].name if 0 < n <= len(chain) else None


def _aexepath(event: Event, ctx: Any, arg: str | None) -> Any:
    chain = _ancestors(event, ctx)
    if arg is None:
        return [p.executable for p in chain if p.executable]
    n = int(arg)
    if n == 0:
        return _proc(event).get("executable")
    return chain[n - 1].executable if 0 < n <= len(chain) else None


def _parent(event: Event, ctx: Any) -> Any:
    chain = _ancestors(event, ctx)
    return chain[0] if chain else None


def _end(event: Event, role: str) -> dict[str, Any]:
    """The server (s), client (c), remote (r) or local (l) end of a connection."""
    src, dst = event.get("source") or {}, event.get("destination") or {}
    outbound = _at(event, "network", "direction") != "inbound"
    ends = {"s": dst, "c": src, "r": dst if outbound else src, "l": src if outbound else dst}
    return ends[role] if event.get("type") in ("connect", "accept", "close", "bind", "listen", "dup") else {}


def _ip(role: str) -> FieldDef:
    return FieldDef("ip", lambda e, c, a: _end(e, role).get("ip"))


def _names(role: str) -> FieldDef:
    """The host names of an end's address, among those the rules compare with (rules/names.py)."""
    return FieldDef("strs", lambda e, c, a: c.host_names(_end(e, role).get("ip")) if c is not None else None)


# the fields naming addresses: their rules' names are resolved ahead
NAME_FIELDS = frozenset({"fd.sip.name", "fd.cip.name", "fd.rip.name", "fd.lip.name"})


def _port(role: str) -> FieldDef:
    return FieldDef("int", lambda e, c, a: _end(e, role).get("port"))


def _duration(event: Event, ctx: Any, arg: str | None) -> int | None:
    proc = ctx.process(_proc(event).get("pid")) if ctx is not None else None
    if proc is None or proc.start_ns is None or ctx is None:
        return None
    return max(0, ctx.now_ns(event) - proc.start_ns)


def _image(event: Event, part: str) -> str | None:
    image = (event.get("container") or _NONE).get("image")
    if not image:
        return None
    return _image_parts(str(image))[part]


@functools.lru_cache(maxsize=1024)
def _image_parts(image: str) -> dict[str, str]:
    """An image reference's repository and tag (`latest` when none; none for a digest), once per image."""
    repository, tag = image, "latest"
    last = image.rsplit("/", 1)[-1]
    if "@" in image:
        repository, tag = image.split("@", 1)[0], ""
    elif ":" in last:
        repository, tag = image.rsplit(":", 1)
    return {"repository": repository, "tag": tag, "full": image}


# enum eun_exe_flag bits, as the process table keeps them
EXE_UPPER_LAYER, EXE_MEMFD = 1, 2
# the event's key for each (exec events carry only the flags that are set)
_EXE_FLAG_KEYS = {EXE_UPPER_LAYER: "executable_in_upper_layer", EXE_MEMFD: "executable_in_memory"}


def _exe_flag(bit: int) -> Callable[[Event, Any, str | None], bool | None]:
    """Where the process's executable came from: told by an exec event, else the process table."""
    key = _EXE_FLAG_KEYS[bit]

    def get(event: Event, ctx: Any, arg: str | None) -> bool | None:
        if event.get("type") == "exec":
            return bool(_proc(event).get(key)) if worked(event) else None
        proc = ctx.process(_proc(event).get("pid")) if ctx is not None else None
        if proc is None or proc.exe_flags is None:  # running before eunomia: not known
            return None
        return bool(proc.exe_flags & bit)
    return get


_from_memfd = _exe_flag(EXE_MEMFD)


def _tty(event: Event, ctx: Any, arg: str | None) -> int | None:
    tty = _proc(event).get("tty")
    if tty is None:
        proc = ctx.process(_proc(event).get("pid")) if ctx is not None else None
        tty = None if proc is None else proc.tty
    return tty


def _exepath(event: Event, ctx: Any, arg: str | None) -> str | None:
    """A memfd program's path is its name, "memfd:x", as Falco gives it (no file system holds it)."""
    path = _proc(event).get("executable")
    if path is not None and path.startswith("/memfd:") and _from_memfd(event, ctx, arg):
        return str(path[1:])
    return path


def cap_names(hex_bits: str | None) -> str | None:
    """"00000000a80425fb" → "CAP_CHOWN CAP_DAC_OVERRIDE …", as Falco lists them."""
    if hex_bits is None:
        return None
    bits = int(hex_bits, 16)
    return " ".join(name for n, name in enumerate(CAPABILITIES) if bits >> n & 1)


def _login_uid(event: Event, ctx: Any) -> int | None:
    """The audit login uid: an exec event says it, else the process table (-1: not set)."""
    uid = _at(event, "user", "login_id")
    if uid is None:
        proc = ctx.process(_proc(event).get("pid")) if ctx is not None else None
        uid = None if proc is None else proc.loginuid
    return uid


def _privileged(event: Event, ctx: Any, arg: str | None) -> bool | None:
    cid = _at(event, "container", "id")
    if cid is None or cid == "host" or ctx is None:
        return None
    container = ctx.container(cid)
    return None if container is None else container.privileged


# the getters the expressions below fall back on
EXPR_NAMESPACE.update(_fd_name=_fd_name)

FIELDS: dict[str, FieldDef] = {
    "evt.type": FieldDef("strs", _evt_types),
    "evt.dir": FieldDef("str", lambda e, c, a: ">" if e.get("type") in ENTRY_KINDS else "<",
                        kind_value=lambda kind: ">" if kind in ENTRY_KINDS else "<"),
    "evt.num": FieldDef("int", lambda e, c, a: c.number(e) if c is not None else 1),
    "evt.res": FieldDef("str", _res, decide=res_decides),
    "evt.rawres": FieldDef("int", _rawres, decide=rawres_decides),
    "evt.failed": FieldDef("bool", lambda e, c, a: None if e.get("result") is None else not worked(e),
                           decide=failed_decides),
    "evt.is_open_read": _expr("bool", 'e.get("type") == "open" and "read" in ((e.get("file") or _E).get("flags") or ())'),
    "evt.is_open_write": _expr("bool",
                               'e.get("type") == "open" and "write" in ((e.get("file") or _E).get("flags") or ())'),
    "evt.is_open_exec": FieldDef("bool", lambda e, c, a: False if e.get("type") == "open" else None),
    "evt.arg.flags": FieldDef("str", _flags),
    "evt.arg.request": FieldDef("str", lambda e, c, a: _at(e, "ptrace", "request")),
    "evt.arg.target": FieldDef("str", lambda e, c, a: _at(e, "file", "target_path")
                               if e.get("type") in ("symlink", "link") else None),
    "evt.arg.linkpath": FieldDef("str", lambda e, c, a: _at(e, "file", "path")
                                 if e.get("type") in ("symlink", "link") else None),
    "evt.arg.oldpath": FieldDef("str", lambda e, c, a: (_at(e, "file", "target_path") if e.get("type") == "link"
                                                       else _at(e, "file", "path"))
                                if e.get("type") in ("rename", "link") else None),
    "evt.arg.newpath": FieldDef("str", lambda e, c, a: (_at(e, "file", "path") if e.get("type") == "link"
                                                       else _at(e, "file", "target_path"))
                                if e.get("type") in ("rename", "link") else None),
    "evt.arg.domain": FieldDef("str", lambda e, c, a: _at(e, "socket", "family")),
    "evt.arg.uargs": FieldDef("str", lambda e, c, a: _at(e, "module", "params")),
    "evt.arg.dev": FieldDef("str", lambda e, c, a: _at(e, "mount", "source")),
    "evt.arg.dir": FieldDef("str", lambda e, c, a: _at(e, "mount", "target")),
    "evt.arg.sig": FieldDef("str", lambda e, c, a: _at(e, "signal", "name")),
    "proc.name": _expr("str", '(e.get("process") or _E).get("name")'),
    "proc.pid": _expr("int", '(e.get("process") or _E).get("pid")'),
    "proc.ppid": FieldDef("int", lambda e, c, a: _at(e, "process", "parent", "pid")),
    "proc.exe": _expr("str", '((e.get("process") or _E).get("args") or _NO_ARGS)[0]'),
    "proc.exepath": FieldDef("str", _exepath),
    "proc.tty": FieldDef("int", _tty),
    "proc.is_exe_upper_layer": FieldDef("bool", _exe_flag(EXE_UPPER_LAYER)),
    "proc.is_exe_from_memfd": FieldDef("bool", _exe_flag(EXE_MEMFD)),
    "thread.cap_effective": FieldDef("str", lambda e, c, a: cap_names(_proc(e).get("cap_effective"))),
    "proc.args": FieldDef("str", lambda e, c, a: " ".join((_proc(e).get("args") or [])[1:])
                          if _proc(e).get("args") is not None else None),
    "proc.cmdline": FieldDef("str", lambda e, c, a: _cmdline(_proc(e).get("name"), _proc(e).get("args"))),
    "proc.cwd": FieldDef("str", lambda e, c, a: (lambda d: None if d is None else d.rstrip("/") + "/")(
        _proc(e).get("working_directory"))),
    "proc.pname": FieldDef("str", lambda e, c, a: _at(e, "process", "parent", "name")
                           or getattr(_parent(e, c), "name", None)),
    "proc.pexe": FieldDef("str", lambda e, c, a: (getattr(_parent(e, c), "args", None) or [None])[0]),
    "proc.pexepath": FieldDef("str", lambda e, c, a: _at(e, "process", "parent", "executable")
                              or getattr(_parent(e, c), "executable", None)),
    "proc.pcmdline": FieldDef("str", lambda e, c, a: (lambda p: None if p is None else _cmdline(p.name, p.args))(
        _parent(e, c))),
    "proc.aname": FieldDef("strs", _aname),
    "proc.aexepath": FieldDef("strs", _aexepath),
    "proc.duration": FieldDef("int", _duration),
    "user.uid": _expr("int", '(e.get("user") or _E).get("id")'),
    "user.loginuid": FieldDef("int", lambda e, c, a: _login_uid(e, c)),
    "user.loginname": FieldDef("str", lambda e, c, a: c.login_name(e, _login_uid(e, c)) if c is not None else None),
    "user.name": FieldDef("str", lambda e, c, a: c.user_name(e) if c is not None else None),
    "group.gid": _expr("int", '(e.get("group") or _E).get("id")'),
    "group.name": FieldDef("str", lambda e, c, a: c.group_name(e) if c is not None else None),
    "container.id": _expr("str", '(None if (_c := (e.get("container") or _E).get("id")) is None '
                                 'else ("host" if _c == "host" else str(_c)[:12]))'),
    "container.name": FieldDef("str", lambda e, c, a: _at(e, "container", "name")
                               or ("host" if _at(e, "container", "id") == "host" else None)),
    "container.privileged": FieldDef("bool", _privileged),
    "container.image": FieldDef("str", lambda e, c, a: _image(e, "full")),
    "container.image.repository": FieldDef("str", lambda e, c, a: _image(e, "repository")),
    "container.image.tag": FieldDef("str", lambda e, c, a: _image(e, "tag")),
    "k8s.ns.name": FieldDef("str", lambda e, c, a: _at(e, "container", "namespace")),
    "k8s.pod.name": FieldDef("str", lambda e, c, a: _at(e, "container", "pod")),
    "fd.name": _expr("str", '((e.get("file") or _E).get("path") or _fd_name(e, None, None))'),
    "fd.nameraw": FieldDef("str", lambda e, c, a: _at(e, "file", "given_path") or _at(e, "file", "path")),
    "fd.directory": FieldDef("str", lambda e, c, a: (lambda p: None if p is None else posixpath.dirname(p))(
        _at(e, "file", "path"))),
    "fd.filename": FieldDef("str", lambda e, c, a: (lambda p: None if p is None else posixpath.basename(p))(
        _at(e, "file", "path"))),
    # an open's descriptor: its result when it worked (an int >= 0), else -1
    "fd.num": replace(_expr("int", '((_r if isinstance(_r := e.get("result"), int) and _r >= 0 else -1) '
                                   'if e.get("type") == "open" else None)'), decide=fd_num_decides),
    "fd.type": FieldDef("str", lambda e, c, a: _fd_type(e)),
    "fd.typechar": FieldDef("str", _typechar),
    "fd.l4proto": _expr("str", '(e.get("network") or _E).get("transport")'),
    "fd.connected": FieldDef("bool", lambda e, c, a: worked(e) if e.get("type") == "connect" else None),
    "fd.sip": _ip("s"), "fd.cip": _ip("c"), "fd.rip": _ip("r"), "fd.lip": _ip("l"),
    "fd.sip.name": _names("s"), "fd.cip.name": _names("c"), "fd.rip.name": _names("r"),
    "fd.lip.name": _names("l"),
    "fd.sport": _port("s"), "fd.cport": _port("c"), "fd.rport": _port("r"), "fd.lport": _port("l"),
    "fd.ip": FieldDef("ip", lambda e, c, a: _end(e, "s").get("ip") or _end(e, "c").get("ip")),
    "fd.port": FieldDef("int", lambda e, c, a: _end(e, "s").get("port")),
    "fd.net": FieldDef("ip", lambda e, c, a: _end(e, "s").get("ip")),
    "fd.snet": FieldDef("ip", lambda e, c, a: _end(e, "s").get("ip")),
    "fd.cnet": FieldDef("ip", lambda e, c, a: _end(e, "c").get("ip")),
    "fd.rnet": FieldDef("ip", lambda e, c, a: _end(e, "r").get("ip")),
    "fd.lnet": FieldDef("ip", lambda e, c, a: _end(e, "l").get("ip")),
}


def split_field(name: str) -> tuple[str, str | None]:
    """'proc.aname[2]' → ('proc.aname', '2')."""
    if name.endswith("]") and "[" in name:
        base, arg = name[:-1].split("[", 1)
        return base, arg
    return name, None
