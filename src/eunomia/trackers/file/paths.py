"""From the kernel's pieces to one `file` object per event.

The kernel sends either a path it resolved from a file descriptor (a
successful open, fchmod, fchown, ftruncate: absolute, symlinks followed),
or the path string as the program passed it plus, when that string is
relative, the directory it is relative to (the working directory or the
dirfd's file).  Here the two are joined, so every event has one absolute
`file.path`; such joined paths are normalised lexically (`..` removed as
text, symlinks not followed, as the kernel would only know at lookup).

Successful opens also teach which path a (container, device, inode) has
(and renames where it went), so the byte counts read at the end of a trace
can name their files.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from .formats import device, file_mode, open_flags_cached, owner_id

# the pieces, placed by TrackerDef.fields under this key, consumed here
RAW = "_file"

# what each kind of event shows under `file` (besides inode/device when known)
SHOWN: dict[str, tuple[str, ...]] = {
    "open": ("path", "flags", "mode"),
    "unlink": ("path",),
    "rmdir": ("path",),
    "rename": ("path", "target_path"),
    "chmod": ("path", "mode"),
    "chown": ("path", "uid", "gid"),
    "mkdir": ("path", "mode"),
    "symlink": ("path", "target_path"),
    "link": ("path", "target_path"),
    "truncate": ("path", "size"),
}


# formatted here, for the keys an event shows only: the kernel sends every
# piece for every kind (an open's uid, gid and size are never shown)
SHOWN_FORMAT: dict[str, Callable[[Any], Any]] = {
    "flags": open_flags_cached, "mode": file_mode, "uid": owner_id, "gid": owner_id,
}


def join_path(directory: str | None, name: str | None) -> str | None:
    """An absolute path from a name as passed and the directory it is relative to.

    A relative name with no known directory (a bad dirfd) is returned as is;
    an empty name (AT_EMPTY_PATH) means the directory itself.
    """
    if name is None:
        return None
    if name.startswith("/") and "/." not in name and "//" not in name and not name.endswith("/"):
        return name  # already what normpath would make of it (most absolute names)
    if not name.startswith("/"):
        if directory is None:
            return name or None
        name = posixpath.join(directory, name)
    path = posixpath.normpath(name)
    return "/" + path.lstrip("/") if path.startswith("//") else path


class PathMemory:
    """(container id, device, inode) → path, learnt from events; bounded (oldest forgotten).

    A successful rename of a remembered path moves it to its new name (the
    file itself; files under a renamed directory keep their old names).  It
    also remembers which files the container's own processes opened: a file
    only the runtime's set-up opened (runc reading /proc/<pid>/mountinfo) is
    `runtime_only`.
    """

    def __init__(self, limit: int = 65536) -> None:
        self.limit = limit
        self._paths: dict[tuple[str, str, int], str] = {}
        self._keys: dict[tuple[str, str], tuple[str, str, int]] = {}  # (container, path) → key
        self._by_workload: set[tuple[str, str, int]] = set()  # opened by a process not of the runtime

    def learn(self, container_id: str, device: str, inode: int, path: str, runtime: bool = False) -> None:
        key = (container_id, device, inode)
        by_workload = not runtime or key in self._by_workload
        self._forget(key)  # re-inserted last: the newest name wins
        self._paths[key] = path
        self._keys[(container_id, path)] = key
        if by_workload:
            self._by_workload.add(key)
        if len(self._paths) > self.limit:
            self._forget(next(iter(self._paths)))

    def moved(self, container_id: str, old: str, new: str) -> None:
        key = self._keys.get((container_id, old))
        if key is not None:
            self.learn(*key, new, runtime=key not in self._by_workload)

    def _forget(self, key: tuple[str, str, int]) -> None:
        path = self._paths.pop(key, None)
        self._by_workload.discard(key)
        if path is not None and self._keys.get((key[0], path)) == key:
            del self._keys[(key[0], path)]

    def forget_containers(self, container_ids: set[str]) -> None:
        """Drop every path of these containers (long gone)."""
        for key in [k for k in self._paths if k[0] in container_ids]:
            self._forget(key)

    def path_of(self, container_id: str, device: str, inode: int) -> str | None:
        return self._paths.get((container_id, device, inode))

    def runtime_only(self, container_id: str, device: str, inode: int) -> bool:
        """Known, and opened only by the container runtime's set-up."""
        key = (container_id, device, inode)
        return key in self._paths and key not in self._by_workload

    def __len__(self) -> int:
        return len(self._paths)


# every piece the kernel sends (TrackerDef.fields: record field → RAW.piece)
PIECES = ("resolved", "name", "dir", "target_name", "target_dir", "flags", "mode", "uid", "gid", "size",
          "inode", "device")


def shape_file(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The `file` object of one event from the raw pieces (numbers as the
    kernel sent them): what SHOWN lists for its kind, in that order and
    formatted, then inode and device when known.  An absent piece is None."""
    return shaper_for(kind, PIECES)(*map(raw.get, PIECES))


_SHAPERS: dict[tuple[str, tuple[str, ...]], Callable[..., dict[str, Any]]] = {}


def shaper_for(kind: str, pieces: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """shape_file for one kind, taking the pieces as arguments in that order
    (the compiled emitters call it straight from the record: Composer)."""
    shaper = _SHAPERS.get((kind, pieces))
    if shaper is None:
        shaper = _SHAPERS[(kind, pieces)] = _compile_shaper(kind, SHOWN.get(kind, ("path",)), pieces)
    return shaper


def _compile_shaper(kind: str, keys: tuple[str, ...], pieces: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """Straight-line code, one function per (kind, pieces), made on first
    use: no loop over the keys, no lookup of their formatters."""
    if not keys or keys[0] != "path":
        raise ValueError(f"file kind {kind!r}: its shown keys must start with the path")
    unknown = [p for p in pieces if p not in PIECES]
    if unknown:
        raise ValueError(f"file pieces {unknown} are not among {PIECES}")
    namespace: dict[str, Any] = {"join_path": join_path, "device_text": device}
    items = []
    for key in keys:
        if key == "path":
            items.append("'path': path")
        elif key == "target_path":
            # a symlink's target is its content, exactly as given
            target = "target_name" if kind == "symlink" else "join_path(target_dir, target_name)"
            items.append(f"'target_path': {target}")
        elif key in SHOWN_FORMAT:
            namespace[f"fmt_{key}"] = SHOWN_FORMAT[key]
            items.append(f"{key!r}: (None if {key} is None else fmt_{key}({key}))")
        else:
            items.append(f"{key!r}: {key}")
    source = "\n".join([
        f"def shape({', '.join(pieces)}):",
        *(f"    {p} = None" for p in PIECES if p not in pieces),
        "    path = resolved if resolved is not None else join_path(dir, name)",
        f"    shaped = {{{', '.join(items)}}}",
        "    if name is not None and name != path:  # relative, with `..`, through a link: as passed",
        "        shaped['given_path'] = name",
        "    if inode:  # known: the event named its file through a descriptor",
        "        shaped['inode'] = inode",
        "        shaped['device'] = device_text(device) if isinstance(device, int) else device",
        "    return shaped",
    ]) + "\n"
    exec(compile(source, f"<file shaper {kind}>", "exec"), namespace)  # noqa: S102 - from SHOWN above
    return namespace["shape"]


def finish_event(event: dict[str, Any], memory: PathMemory) -> None:
    """Make the `file` object of an event from its raw pieces (the generic
    path; the compiled emitters have made it already); remember the path of
    a file named through a descriptor."""
    raw = event.pop(RAW, None)
    if raw is not None:
        event["file"] = shape_file(event.get("type", ""), raw)
    file = event.get("file")
    if file is None:
        return
    if file.get("inode") and file.get("path"):
        memory.learn(event["container"]["id"], file["device"], file["inode"], file["path"],
                     runtime=bool((event.get("process") or {}).get("runtime_setup")))
    elif event.get("type") == "rename" and event.get("result") == 0 and file["path"] and file["target_path"]:
        memory.moved(event["container"]["id"], file["path"], file["target_path"])
