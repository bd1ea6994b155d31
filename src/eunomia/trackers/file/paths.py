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
    file itself; files under a renamed directory keep their old names).
    """

    def __init__(self, limit: int = 65536) -> None:
        self.limit = limit
        self._paths: dict[tuple[str, str, int], str] = {}
        self._keys: dict[tuple[str, str], tuple[str, str, int]] = {}  # (container, path) → key

    def learn(self, container_id: str, device: str, inode: int, path: str) -> None:
        key = (container_id, device, inode)
        self._forget(key)  # re-inserted last: the newest name wins
        self._paths[key] = path
        self._keys[(container_id, path)] = key
        if len(self._paths) > self.limit:
            self._forget(next(iter(self._paths)))

    def moved(self, container_id: str, old: str, new: str) -> None:
        key = self._keys.get((container_id, old))
        if key is not None:
            self.learn(*key, new)

    def _forget(self, key: tuple[str, str, int]) -> None:
        path = self._paths.pop(key, None)
        if path is not None and self._keys.get((key[0], path)) == key:
            del self._keys[(key[0], path)]

    def forget_containers(self, container_ids: set[str]) -> None:
        """Drop every path of these containers (long gone)."""
        for key in [k for k in self._paths if k[0] in container_ids]:
            self._forget(key)

    def path_of(self, container_id: str, device: str, inode: int) -> str | None:
        return self._paths.get((container_id, device, inode))

    def __len__(self) -> int:
        return len(self._paths)


def shape_file(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The `file` object of one event from the raw pieces (numbers as the
    kernel sent them): what SHOWN lists for its kind, in that order and
    formatted, then inode and device when known.  An absent piece is None."""
    shaper = _SHAPERS.get(kind)
    if shaper is None:
        shaper = _SHAPERS[kind] = _compile_shaper(kind, SHOWN.get(kind, ("path",)))
    return shaper(raw)


_SHAPERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _compile_shaper(kind: str, keys: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """shape_file for one kind, as straight-line code (one per kind, made on
    first use): no loop over the keys, no lookup of their formatters."""
    namespace: dict[str, Any] = {"join_path": join_path, "device": device}
    items = []
    for key in keys:
        if key == "path":
            items.append("'path': path")
        elif key == "target_path":
            # a symlink's target is its content, exactly as given
            target = "get('target_name')" if kind == "symlink" else "join_path(get('target_dir'), get('target_name'))"
            items.append(f"'target_path': {target}")
        elif key in SHOWN_FORMAT:
            namespace[f"fmt_{key}"] = SHOWN_FORMAT[key]
            items.append(f"{key!r}: (None if (x := get({key!r})) is None else fmt_{key}(x))")
        else:
            items.append(f"{key!r}: get({key!r})")
    if not keys or keys[0] != "path":
        raise ValueError(f"file kind {kind!r}: its shown keys must start with the path")
    source = "\n".join([
        "def shape(raw):",
        "    get = raw.get",
        "    given = get('name')",
        "    resolved = get('resolved')",
        "    path = resolved if resolved is not None else join_path(get('dir'), given)",
        f"    shaped = {{{', '.join(items)}}}",
        "    if given is not None and given != path:  # relative, with `..`, through a link: as passed",
        "        shaped['given_path'] = given",
        "    inode = get('inode')",
        "    if inode:  # known: the event named its file through a descriptor",
        "        shaped['inode'] = inode",
        "        dev = get('device')",
        "        shaped['device'] = device(dev) if isinstance(dev, int) else dev",
        "    return shaped",
    ]) + "\n"
    exec(compile(source, f"<file shaper {kind}>", "exec"), namespace)  # noqa: S102 - from SHOWN above
    return namespace["shape"]


def finish_event(event: dict[str, Any], memory: PathMemory) -> None:
    """Replace the raw pieces of a file event by its `file` object; remember
    the path of a file named through a descriptor."""
    raw = event.pop(RAW, None)
    if raw is None:
        return
    kind = event.get("type", "")
    shaper = _SHAPERS.get(kind)
    file = event["file"] = shaper(raw) if shaper is not None else shape_file(kind, raw)
    container_id = event["container"]["id"]
    if file.get("inode") and file.get("path"):
        memory.learn(container_id, file["device"], file["inode"], file["path"])
    elif kind == "rename" and event.get("result") == 0 and file["path"] and file["target_path"]:
        memory.moved(container_id, file["path"], file["target_path"])
