"""Where the cgroup hierarchies are mounted, and the cgroups they hold.

A host runs cgroups in one of three modes (systemd's names in brackets):

* ``"v2"`` [unified]: one cgroup2 mount, usually ``/sys/fs/cgroup``;
* ``"v1"`` [legacy]: one ``cgroup`` mount per controller or controller group
  (``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/cpu,cpuacct``) plus the named
  ``name=systemd`` hierarchy, no cgroup2;
* ``"hybrid"``: v1 controllers as above and a cgroup2 mount without
  controllers at ``/sys/fs/cgroup/unified``, used by systemd to track
  services.  The eBPF side keys containers by their v2 cgroup id, which works
  here too because every task is also in a v2 cgroup.

``"none"`` is returned when no cgroup filesystem is mounted at all.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Controllers of cgroup v1 (Documentation/admin-guide/cgroup-v1/); the super
# options of a v1 mount list the controllers bound to it among other options.
V1_CONTROLLERS = frozenset({
    "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb",
    "memory", "misc", "net_cls", "net_prio", "perf_event", "pids", "rdma", "debug",
})

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass
class CgroupMounts:
    """The cgroup mounts of a mount namespace.

    ``unified`` is the cgroup2 mount point, ``v1`` maps each v1 controller
    (and each named hierarchy as ``"name=<name>"``) to its mount point;
    co-mounted controllers (``cpu,cpuacct``) map to the same path.
    """

    unified: Path | None
    v1: dict[str, Path] = field(default_factory=dict)
    mode: str = "none"


@dataclass(frozen=True)
class _MountEntry:
    root: str
    mount_point: str
    fstype: str
    super_options: tuple[str, ...]


def unescape_mount_field(value: str) -> str:
    """Undo the kernel's octal escapes in mountinfo (``\\040`` space, ``\\011``
    tab, ``\\012`` newline, ``\\134`` backslash; see ``mangle()`` /
    ``seq_escape`` in fs/proc_namespace.c)."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), value)


def _parse_mountinfo_line(line: str) -> _MountEntry | None:
    """One line of ``/proc/<pid>/mountinfo`` (proc(5)), or None if malformed.

    Layout: ``id parent major:minor root mount-point mount-options
    [optional fields…] - fstype source super-options``.  The optional fields
    (``shared:1``, ``master:2``…) are variable in number and end at ``-``.
    """
    fields = line.split()
    try:
        sep = fields.index("-", 6)
    except ValueError:
        return None
    if len(fields) < sep + 3:
        return None
    super_options = tuple(fields[sep + 3].split(",")) if len(fields) > sep + 3 else ()
    return _MountEntry(
        root=unescape_mount_field(fields[3]),
        mount_point=unescape_mount_field(fields[4]),
        fstype=fields[sep + 1],
        super_options=super_options,
    )


def _v1_hierarchy_keys(super_options: tuple[str, ...]) -> list[str]:
    """Controllers and ``name=`` hierarchies a v1 mount carries."""
    return [o for o in super_options if o in V1_CONTROLLERS or o.startswith("name=")]


def _better(current: _MountEntry | None, candidate: _MountEntry) -> bool:
    """Prefer the first mount of a hierarchy's root over mounts of a subtree
    (inside a container without its own cgroup namespace, cgroupfs shows up
    with root ``/docker/<id>``): relative paths are only right from the root."""
    if current is None:
        return True
    return current.root != "/" and candidate.root == "/"


def parse_mountinfo(text: str) -> CgroupMounts:
    """The cgroup mounts described by the text of a mountinfo file."""
    unified: _MountEntry | None = None
    v1: dict[str, _MountEntry] = {}
    for line in text.splitlines():
        entry = _parse_mountinfo_line(line)
        if entry is None:
            continue
        if entry.fstype == "cgroup2":
            if _better(unified, entry):
                unified = entry
        elif entry.fstype == "cgroup":
            for key in _v1_hierarchy_keys(entry.super_options):
                if _better(v1.get(key), entry):
                    v1[key] = entry
    has_controllers = any(k in V1_CONTROLLERS for k in v1)
    if unified is not None:
        mode = "hybrid" if has_controllers else "v2"
    else:
        mode = "v1" if v1 else "none"
    return CgroupMounts(
        unified=Path(unified.mount_point) if unified is not None else None,
        v1={k: Path(e.mount_point) for k, e in v1.items()},
        mode=mode,
    )


def find_cgroup_mounts(mountinfo: Path = Path("/proc/self/mountinfo")) -> CgroupMounts:
    """Find the cgroup hierarchies from a mountinfo file.

    A host with only named v1 hierarchies next to cgroup2 (``name=systemd``
    kept for old containers) counts as ``"v2"``.  Raises OSError when the file
    cannot be read.
    """
    return parse_mountinfo(mountinfo.read_text(errors="replace"))


def walk_cgroups(root: Path, max_depth: int = 16) -> Iterator[tuple[int, str]]:
    """Every cgroup under a cgroup2 mount as ``(cgroup id, relative path)``.

    The root itself is ``(id, "/")``, its children ``"/system.slice"`` and so
    on, depth first with names sorted; cgroups deeper than ``max_depth`` below
    ``root`` are not visited.  Each cgroup is a kernfs directory, and the
    kernfs node id is both the directory's inode number and the cgroup id that
    ``bpf_get_current_cgroup_id()`` returns (kernel ≥ 5.5 on 64-bit; before
    that the id also carried a generation in its high 32 bits).  The cgroup
    root's id is 1.  Regular files (``cgroup.procs``…) and symlinks are
    skipped, and cgroups removed during the walk are silently left out.
    A missing or unreadable ``root`` raises OSError.
    """
    root_ino = os.stat(root).st_ino
    # pre-order depth first: pop a cgroup, yield it, push its children
    stack: list[tuple[int, str, str, int]] = [(root_ino, os.fspath(root), "", 0)]
    while stack:
        ino, path, rel, depth = stack.pop()
        yield ino, rel or "/"
        if depth >= max_depth:
            continue
        children = _subdirectories(path)
        for name, child_path, child_ino in reversed(children):
            stack.append((child_ino, child_path, f"{rel}/{name}", depth + 1))


def _subdirectories(path: str) -> list[tuple[str, str, int]]:
    """(name, path, inode) of the real subdirectories of ``path``, sorted by
    name; empty if ``path`` vanished or cannot be read."""
    found: list[tuple[str, str, int]] = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    # lstat, not the readdir d_ino: st_ino is what the kernel's id is
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed since the directory was listed
                if stat.S_ISDIR(st.st_mode):
                    found.append((entry.name, entry.path, st.st_ino))
    except OSError:
        return []
    found.sort()
    return found
