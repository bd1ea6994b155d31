"""Cgroup mounts and the cgroup2 tree walk (eunomia.context.mounts)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import eunomia.context.mounts as mounts
from eunomia.context.mounts import (
    CgroupMounts,
    find_cgroup_mounts,
    parse_mountinfo,
    unescape_mount_field,
    walk_cgroups,
)

# Ubuntu 22.04 style, systemd unified mode
V2_MOUNTINFO = """\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
28 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
31 22 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs securityfs rw
"""

# CentOS 7 style, legacy mode: no cgroup2 at all, co-mounted controllers
V1_MOUNTINFO = """\
18 60 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw,seclabel
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,seclabel,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,seclabel,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,seclabel,net_prio,net_cls
29 24 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,seclabel,cpuacct,cpu
30 24 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,seclabel,memory
31 24 0:27 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,seclabel,pids
32 24 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,seclabel,cpuset
"""

# this development machine: hybrid, cgroup2 at /sys/fs/cgroup/unified
HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_v2_host() -> None:
    m = parse_mountinfo(V2_MOUNTINFO)
    assert m == CgroupMounts(unified=Path("/sys/fs/cgroup"), v1={}, mode="v2")


def test_v1_host() -> None:
    m = parse_mountinfo(V1_MOUNTINFO)
    assert m.mode == "v1"
    assert m.unified is None
    assert m.v1 == {
        "name=systemd": Path("/sys/fs/cgroup/systemd"),
        "net_prio": Path("/sys/fs/cgroup/net_cls,net_prio"),
        "net_cls": Path("/sys/fs/cgroup/net_cls,net_prio"),
        "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "memory": Path("/sys/fs/cgroup/memory"),
        "pids": Path("/sys/fs/cgroup/pids"),
        "cpuset": Path("/sys/fs/cgroup/cpuset"),
    }


def test_hybrid_host(tmp_path: Path) -> None:
    f = tmp_path / "mountinfo"
    f.write_text(HYBRID_MOUNTINFO)
    m = find_cgroup_mounts(f)
    assert m.mode == "hybrid"
    assert m.unified == Path("/sys/fs/cgroup/unified")
    assert m.v1["memory"] == Path("/sys/fs/cgroup/memory")
    assert m.v1["name=systemd"] == Path("/sys/fs/cgroup/systemd")
    assert set(m.v1) == {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
                         "blkio", "pids", "name=systemd"}


def test_v2_with_named_systemd_hierarchy_is_v2() -> None:
    text = V2_MOUNTINFO + (
        "40 30 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n")
    m = parse_mountinfo(text)
    assert m.mode == "v2"
    assert m.v1 == {"name=systemd": Path("/sys/fs/cgroup/systemd")}


def test_no_cgroups() -> None:
    m = parse_mountinfo("28 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n")
    assert m == CgroupMounts(unified=None, v1={}, mode="none")


def test_escaped_mount_point_and_optional_fields() -> None:
    # several optional fields, and a space and a tab in the mount point
    text = ("50 1 0:50 / /mnt/my\\040cgroup\\011x rw,relatime shared:3 master:7 propagate_from:2"
            " - cgroup2 cgroup2 rw,nsdelegate\n")
    assert parse_mountinfo(text).unified == Path("/mnt/my cgroup\tx")


def test_no_optional_fields_and_malformed_lines() -> None:
    text = ("garbage\n"
            "1 2 3\n"
            "60 1 0:60 / /x rw - cgroup2\n"          # truncated after the separator
            "61 1 0:61 / /cg rw - cgroup2 cgroup2 rw\n")
    assert parse_mountinfo(text).unified == Path("/cg")


def test_prefers_hierarchy_root_over_subtree_mount() -> None:
    # inside a container without its own cgroup namespace the cgroupfs root is
    # the container's cgroup; a later mount of the real root wins
    text = ("70 1 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
            "71 1 0:26 / /host/sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
            "72 1 0:26 / /elsewhere ro - cgroup2 cgroup2 rw\n")
    assert parse_mountinfo(text).unified == Path("/host/sys/fs/cgroup")


def test_unescape() -> None:
    assert unescape_mount_field(r"a\040b\134c\012") == "a b\\c\n"
    assert unescape_mount_field("plain") == "plain"


def test_missing_mountinfo(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        find_cgroup_mounts(tmp_path / "nope")


def _make_tree(root: Path) -> list[str]:
    rel = [
        "/init.scope",
        "/system.slice",
        "/system.slice/cron.service",
        "/system.slice/docker-" + "a" * 64 + ".scope",
        "/system.slice/docker-" + "a" * 64 + ".scope/init.scope",
        "/user.slice",
    ]
    for r in rel:
        (root / r.lstrip("/")).mkdir(parents=True)
    # cgroup interface files are files, not cgroups
    (root / "cgroup.procs").write_text("1\n")
    (root / "system.slice" / "memory.max").write_text("max\n")
    (root / "link").symlink_to(root / "system.slice")
    return rel


def test_walk_yields_every_cgroup_with_its_inode(tmp_path: Path) -> None:
    rel = _make_tree(tmp_path)
    got = list(walk_cgroups(tmp_path))
    assert [p for _, p in got] == ["/"] + sorted(rel)
    for ino, p in got:
        assert ino == os.stat(tmp_path / p.lstrip("/")).st_ino


def test_walk_max_depth(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    assert [p for _, p in walk_cgroups(tmp_path, max_depth=0)] == ["/"]
    assert [p for _, p in walk_cgroups(tmp_path, max_depth=1)] == [
        "/", "/init.scope", "/system.slice", "/user.slice"]


def test_walk_tolerates_vanishing_directories(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    walk = walk_cgroups(tmp_path)
    assert next(walk)[1] == "/"
    assert next(walk)[1] == "/init.scope"
    # the next cgroup and its children disappear before they are listed
    for d in sorted((tmp_path / "system.slice").rglob("*"), reverse=True):
        d.rmdir() if d.is_dir() else d.unlink()
    (tmp_path / "system.slice").rmdir()
    rest = [p for _, p in walk]
    assert "/user.slice" in rest
    assert not any(p.startswith("/system.slice/") for p in rest)


def test_walk_tolerates_entries_vanishing_between_listing_and_stat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_tree(tmp_path)
    real_scandir = os.scandir

    class Vanishing:
        def __init__(self, entry: os.DirEntry[str]) -> None:
            self.name, self.path, self._entry = entry.name, entry.path, entry

        def stat(self, follow_symlinks: bool = True) -> os.stat_result:
            if self.name == "user.slice":
                raise FileNotFoundError(self.path)
            return self._entry.stat(follow_symlinks=follow_symlinks)

    class Scandir:
        def __init__(self, path: str) -> None:
            self._it = real_scandir(path)

        def __enter__(self) -> list[Vanishing]:
            return [Vanishing(e) for e in self._it]

        def __exit__(self, *exc: object) -> None:
            self._it.close()

    monkeypatch.setattr(mounts.os, "scandir", Scandir)
    paths = [p for _, p in walk_cgroups(tmp_path)]
    assert "/user.slice" not in paths
    assert "/system.slice/cron.service" in paths


def test_walk_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(walk_cgroups(tmp_path / "absent"))
