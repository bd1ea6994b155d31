"""One event as a person reads it in a line: the kind, then its most telling
fields in words (`open  /etc/passwd  read  → fd 3`, `connect  → web:8080 tcp
ok`).  What a phrase leaves out is in `-v` (the rest of the fields) and in
`-f json`.  Every value from a container is escaped (escape.py).
"""

from __future__ import annotations

from typing import Any, Callable

from ..eventpath import flatten
from .escape import escape_text, format_argv

Event = dict[str, Any]


def phrase(event: Event) -> tuple[str, bool]:
    """(the words for this event, whether it failed or was denied)."""
    kind = str(event.get("type", ""))
    words = _PHRASES.get(kind, _fields)(event)
    return words, failed(event)


def failed(event: Event) -> bool:
    result = event.get("result")
    if isinstance(result, str) and result.startswith("E"):
        return True
    capability = event.get("capability") or {}
    return capability.get("granted") is False or (event.get("process") or {}).get("exit_code") not in (None, 0)


def _t(value: Any) -> str:
    return escape_text(str(value))


def _outcome(event: Event, ok: str = "ok") -> str:
    """→ fd 3 / → ENOENT / ok"""
    result = event.get("result")
    if result is None:
        return ""
    if isinstance(result, str):
        return f"→ {_t(result)}"
    return ok


def _exec(event: Event) -> str:
    process = event.get("process") or {}
    args = process.get("args") or []
    text = format_argv(args) if args else _t(process.get("executable") or process.get("name") or "")
    cwd = process.get("working_directory")
    parts = [text, f"(cwd {_t(cwd)})" if cwd else ""]
    if isinstance(event.get("result"), str):
        parts.append(f"→ {_t(event['result'])}")
    return "  ".join(p for p in parts if p)


def _exit(event: Event) -> str:
    process = event.get("process") or {}
    code = f"code {process.get('exit_code')}"
    if process.get("exit_signal"):
        code += f" ({_t(process['exit_signal'])})"
    return f"{_t(process.get('name') or '')}  {code} after {process.get('duration_ms')} ms"


def _file(event: Event) -> str:
    kind, file = event.get("type"), event.get("file") or {}
    path = _t(file.get("path") or "?")
    if kind == "open":
        flags = ",".join(file.get("flags") or [])
        result = event.get("result")
        outcome = f"→ fd {result}" if isinstance(result, int) else _outcome(event)
        return "  ".join(p for p in (path, flags, outcome) if p)
    if kind in ("rename", "link", "symlink"):
        return f"{path} → {_t(file.get('target_path') or '?')}  {_outcome(event)}"
    extra = {"chmod": file.get("mode"), "mkdir": file.get("mode"), "truncate": file.get("size"),
             "chown": f"{file.get('uid')}:{file.get('gid')}"}.get(str(kind))
    return "  ".join(p for p in (path, _t(extra) if extra is not None else "", _outcome(event)) if p)


def _end(end: dict[str, Any] | None, named: bool = True) -> str:
    """web (172.18.0.2:8080), or the address alone."""
    end = end or {}
    ip, port = end.get("ip"), end.get("port")
    where = f"[{ip}]:{port}" if ip and ":" in str(ip) else f"{ip}:{port}"
    return _t(f"{end['container']} ({where})" if named and end.get("container") else where)


def _net(event: Event) -> str:
    kind, network = event.get("type"), event.get("network") or {}
    transport = _t(network.get("transport") or "")
    if kind == "connect":
        return f"→ {_end(event.get('destination'))}  {transport}  {_outcome(event)}"
    if kind == "accept":
        return f"← {_end(event.get('source'))}  {transport}  on port {(event.get('destination') or {}).get('port')}"
    if kind in ("bind", "listen"):
        return f"{_end(event.get('source'), named=False)}  {transport}  {_outcome(event)}"
    if kind == "close":  # the other end: the server of a connect, the client of an accept
        peer = event.get("destination") if network.get("direction") == "outbound" else event.get("source")
        sent, received = network.get("bytes_sent"), network.get("bytes_received")
        return (f"↔ {_end(peer)}  {transport}  {sent} B out, {received} B in, "
                f"{network.get('duration_ms')} ms  {_outcome(event)}")
    return _fields(event)


def _target(event: Event) -> str:
    """name[pid] of the other process (and its container when another one); "" when none was reached."""
    target = event.get("target") or {}
    process = target.get("process") or {}
    if process:
        who = f"{_t(process.get('name') or '?')}[{process.get('pid')}]"
    elif target.get("requested_pid") is not None:
        who = f"pid {target['requested_pid']}"
    else:
        return ""
    container = (target.get("container") or {}).get("name")
    same = container and container == (event.get("container") or {}).get("name")
    return who if same or not container else f"{who} in {_t(container)}"


def _signal(event: Event) -> str:
    kind = event.get("type")
    target = _target(event)
    if kind == "signal":
        name = _t((event.get("signal") or {}).get("name") or "?")
        return f"{name} → {target or '?'}  {_t(event.get('result'))}"
    if kind == "ptrace":
        return f"{_t((event.get('ptrace') or {}).get('request'))} → {target or '?'}  {_outcome(event)}"
    if kind == "unix_connect":
        path = _t((event.get("unix") or {}).get("path") or "?")
        return "  ".join(p for p in (f"→ {path}", f"({target})" if target else "", _outcome(event)) if p)
    return _fields(event)


def _capability(event: Event) -> str:
    cap = event.get("capability") or {}
    how = ", ".join(_t(v) for v in (cap.get("syscall"), "borrowed" if cap.get("credentials") == "borrowed" else None)
                    if v)
    verdict = "granted" if cap.get("granted") else "denied"
    return f"{_t(cap.get('name'))} {verdict}" + (f" ({how})" if how else "")


def _attempt(event: Event) -> str:
    if "mount" in event:
        mount = event["mount"]
        if mount.get("syscall") == "umount2":
            return f"umount {_t(mount.get('target'))}"
        return f"{_t(mount.get('source'))} on {_t(mount.get('target'))} ({_t(mount.get('fstype'))})"
    module = event.get("module") or {}
    return f"{_t(module.get('syscall'))} {_t(module.get('file') or '')} {_t(module.get('params') or '')}".strip()


def _fields(event: Event) -> str:
    """A kind without a phrase: its own fields, as key=value."""
    return rest(event)


_COMMON = {"time", "type", "container", "process", "user", "group"}


def rest(event: Event) -> str:
    """Every field but those every event has, as key=value (what `-v` adds)."""
    pairs = [(k, v) for top, value in event.items() if top not in _COMMON
             for k, v in (flatten(value, top + ".") if isinstance(value, dict) else [(top, value)])
             if v not in (None, [], {})]
    return " ".join(f"{k}={_t(_show(v))}" for k, v in pairs)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


_PHRASES: dict[str, Callable[[Event], str]] = {
    "exec": _exec, "exit": _exit,
    **{k: _file for k in ("open", "unlink", "rmdir", "rename", "chmod", "chown", "mkdir", "symlink", "link",
                          "truncate")},
    **{k: _net for k in ("connect", "accept", "close", "bind", "listen")},
    **{k: _signal for k in ("signal", "ptrace", "unix_connect")},
    "capability": _capability, "module": _attempt, "mount": _attempt,
}
