"""Cgroup path layouts → the container they belong to.

Every container runtime puts a container's processes in a cgroup of its own and
names that cgroup after the container's 64-hex id.  The name's shape depends on
the runtime and on its cgroup driver:

=========================  ================================================================
runtime / driver           cgroup path (relative to the hierarchy root)
=========================  ================================================================
docker, cgroupfs           ``/docker/<id>``  (docker-in-docker: ``/docker/<id>/docker/<id2>``)
docker, systemd            ``/system.slice/docker-<id>.scope``
containerd CRI, systemd    ``/kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/cri-containerd-<id>.scope``
containerd CRI, cgroupfs   ``/kubepods/<qos>/pod<uid>/<id>`` or ``/kubepods/pod<uid>/<id>``
nerdctl, systemd           ``/system.slice/nerdctl-<id>.scope``
cri-o, systemd / cgroupfs  ``.../crio-<id>.scope`` / ``.../pod<uid>/crio-<id>``
podman, systemd / cgroupfs ``/machine.slice/libpod-<id>.scope`` / ``/libpod_parent/libpod-<id>``
ctr (containerd), cgroupfs ``/<namespace>/<id>``, any id containerd allows (``my-app.1``)
=========================  ================================================================

``ctr run``'s ids need not be hex: ``/<namespace>/<id>`` is a container only
when ``<namespace>`` is one of the containerd namespaces given (those the
state directories hold, see OciStateResolver.containerd_namespaces); the
kernel side is given the same names.

Systemd unit names cannot contain ``-`` inside a component, so a pod UID
``0f1e…-…`` appears as ``0f1e…_…`` in ``kubepods-…-pod<uid>.slice``; it is
converted back to dashes here.  cri-o and podman run a monitor process
(conmon) next to each container in ``crio-conmon-<id>`` / ``libpod-conmon-<id>``
cgroups: those are not containers.

A container may create cgroups below its own (``/docker/<id>/init.scope``,
systemd running inside the container, a nested runtime).  The *innermost*
component that names a container wins, so sub-cgroups map to their container
and a nested container (docker-in-docker) maps to itself.

Unknown layouts: the kernel side (``trackers/cgroup/cgroup.bpf.c``) treats any
cgroup whose name holds a run of exactly 64 lowercase hex digits as a
container, except the conmon ones.  To agree with it, such a component that
matches no known layout gives a :class:`CgroupRef` with runtime ``"unknown"``
(e.g. docker with ``--cgroup-parent=/custom``, ``ctr run`` with cgroupfs
``/<namespace>/<id>``).  A bare ``<id>`` directly under ``docker`` is docker,
directly under a kubepods pod cgroup it is reported as ``"containerd"`` (the
usual CRI runtime with the cgroupfs driver; cri-dockerd uses the same shape,
an OCI/Docker resolver can correct the runtime later).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Collection

from eunomia.context.model import CgroupRef

UNKNOWN_RUNTIME = "unknown"

_ID = r"[0-9a-f]{64}"

# Component shapes of known runtimes, tried in order; group 1 is the container id.
_NAMED_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"docker-({_ID})\.scope"), "docker"),
    (re.compile(rf"cri-containerd-({_ID})\.scope"), "containerd"),
    (re.compile(rf"nerdctl-({_ID})\.scope"), "containerd"),
    (re.compile(rf"crio-({_ID})(?:\.scope)?"), "cri-o"),
    (re.compile(rf"libpod-({_ID})(?:\.scope)?"), "podman"),
)
_BARE_ID = re.compile(_ID)
# containerd's identifiers (its `identifiers` package: alphanumerics joined by single
# '.', '_' or '-'), at most 64 characters here (the kernel side's key)
CONTAINERD_ID = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
CONTAINERD_ID_MAX = 64
# Same scan as the kernel side: the first run of exactly 64 hex digits.
_ANY_ID = re.compile(rf"(?<![0-9a-f])({_ID})(?![0-9a-f])")
# Monitors (conmon) run next to containers in cgroups named after them.
_MONITOR_PREFIXES = ("crio-conmon-", "libpod-conmon-")

# Pod cgroups: cgroupfs ``pod<uid>`` (under a ``kubepods`` ancestor), systemd
# ``kubepods[-<qos>]-pod<uid with _ for ->.slice``.  Static pods have a 32-hex
# UID without dashes, API pods a UUID, so any run of hex and dashes is accepted.
_POD_CGROUPFS = re.compile(r"pod([0-9a-f][0-9a-f-]{0,63})")
_POD_SYSTEMD = re.compile(r"kubepods(?:-[a-z]+)?-pod([0-9a-f][0-9a-f_]{0,63})\.slice")

# Kernel suffix on a v2 path in /proc/<pid>/cgroup when the cgroup was removed
# (zombie tasks): see proc_cgroup_show() in kernel/cgroup/cgroup.c.
_DELETED_SUFFIX = " (deleted)"


def _pod_uid(component: str, ancestors: list[str]) -> str | None:
    """The pod UID (with dashes) if ``component`` is a kubepods pod cgroup."""
    m = _POD_SYSTEMD.fullmatch(component)
    if m:
        return m.group(1).replace("_", "-")
    m = _POD_CGROUPFS.fullmatch(component)
    if m and any(a.startswith("kubepods") for a in ancestors):
        return m.group(1)
    return None


def is_containerd_id(text: str) -> bool:
    return len(text) <= CONTAINERD_ID_MAX and CONTAINERD_ID.fullmatch(text) is not None


def _container_in(component: str, parts: list[str], index: int,
                  containerd_namespaces: Collection[str] = ()) -> tuple[str, str] | None:
    """(runtime, id) if ``parts[index]`` names a container, else None."""
    if component.startswith(_MONITOR_PREFIXES):
        return None
    for pattern, runtime in _NAMED_RULES:
        m = pattern.fullmatch(component)
        if m:
            return runtime, m.group(1)
    if index == 1 and parts[0] in containerd_namespaces and is_containerd_id(component):
        return "containerd", component
    if _BARE_ID.fullmatch(component):
        parent = parts[index - 1] if index > 0 else ""
        if parent == "docker":
            return "docker", component
        if _pod_uid(parent, parts[: index - 1]) is not None:
            return "containerd", component
        return UNKNOWN_RUNTIME, component
    m = _ANY_ID.search(component)
    if m:
        return UNKNOWN_RUNTIME, m.group(1)
    return None


def parse_cgroup_path(path: str, containerd_namespaces: Collection[str] = ()) -> CgroupRef | None:
    """The container a cgroup path belongs to, or None for host cgroups.

    ``path`` is relative to its hierarchy's root, as found in
    ``/proc/<pid>/cgroup`` or in the ``cgroup_mkdir`` tracepoint
    (``"/docker/<id>"``).  The innermost container-naming component wins; the
    pod UID is set when that component sits directly in a kubepods pod cgroup.
    A pod cgroup itself, conmon cgroups, ``/``, ``/user.slice/…`` and systemd
    services are not containers (None); ``/<namespace>/<id>`` is one when the
    namespace is in ``containerd_namespaces``.
    """
    parts = [p for p in path.strip().split("/") if p]
    found: tuple[int, str, str] | None = None
    for index, component in enumerate(parts):
        hit = _container_in(component, parts, index, containerd_namespaces)
        if hit is not None:
            found = (index, hit[0], hit[1])
    if found is None:
        return None
    index, runtime, container_id = found
    pod_uid = None
    if index > 0:
        pod_uid = _pod_uid(parts[index - 1], parts[: index - 1])
    return CgroupRef(runtime=runtime, container_id=container_id, pod_uid=pod_uid)


def _proc_cgroup_lines(text: str) -> tuple[str | None, list[str]]:
    """Split /proc/<pid>/cgroup into (v2 path, v1 paths in file order).

    Each line is ``hierarchy-id:controllers:path``.  The v2 (unified) line is
    ``0::<path>``; v1 lines name their controllers (``4:memory:/…``,
    ``1:name=systemd:/…``).  The path may itself contain ``:``.
    """
    v2: str | None = None
    v1: list[str] = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        hierarchy, controllers, cg_path = fields
        if cg_path.endswith(_DELETED_SUFFIX):
            cg_path = cg_path[: -len(_DELETED_SUFFIX)]
        if hierarchy == "0" and controllers == "":
            v2 = cg_path
        else:
            v1.append(cg_path)
    return v2, v1


def parse_proc_cgroup(text: str, prefer_v2: bool = True) -> CgroupRef | None:
    """The container named by the content of a ``/proc/<pid>/cgroup`` file.

    Works for v2-only hosts (a single ``0::/path`` line), v1-only hosts (one
    line per hierarchy) and hybrid hosts (both).  With ``prefer_v2`` the v2
    line is used when it names a container, else the first v1 line that does;
    without it the v1 lines are tried first.  Paths are relative to the
    reader's cgroup namespace: a monitor inside a private cgroup namespace
    sees ``/`` and finds nothing.
    """
    v2, v1 = _proc_cgroup_lines(text)
    candidates = ([v2] if v2 is not None else []) + v1
    if not prefer_v2 and v2 is not None:
        candidates = v1 + [v2]
    for cg_path in candidates:
        ref = parse_cgroup_path(cg_path)
        if ref is not None:
            return ref
    return None


def read_proc_cgroup(pid: int, proc_root: Path = Path("/proc")) -> CgroupRef | None:
    """The container of process ``pid``, read from ``<proc_root>/<pid>/cgroup``.

    None when the process is in no container, or when the file cannot be read
    (the process exited, or /proc is not readable).
    """
    try:
        text = (proc_root / str(pid) / "cgroup").read_text(errors="replace")
    except OSError:
        return None
    return parse_proc_cgroup(text)


def read_proc_cgroup_path(pid: int, proc_root: Path = Path("/proc")) -> str | None:
    """The cgroup path of process ``pid`` worth registering: the v2 path when it
    names a container (or when there is no v1 line), else the first v1 path
    that does; None when the process is gone."""
    try:
        text = (proc_root / str(pid) / "cgroup").read_text(errors="replace")
    except OSError:
        return None
    v2, v1 = _proc_cgroup_lines(text)
    for cg_path in ([v2] if v2 is not None else []) + v1:
        if parse_cgroup_path(cg_path) is not None:
            return cg_path
    return v2
