"""The file tracker's field presentation: open flags, modes, owners, devices."""

from __future__ import annotations

import pytest

from eunomia import trackers
from eunomia.trackers.file.formats import (
    device,
    file_mode,
    open_flags,
    open_flags_cached,
    owner_id,
)
from eunomia.trackers.file.paths import shape_file

O_RDONLY, O_WRONLY, O_RDWR = 0, 0o1, 0o2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NONBLOCK = 0o100, 0o200, 0o1000, 0o2000, 0o4000
O_CLOEXEC, O_PATH, O_NOATIME = 0o2000000, 0o10000000, 0o1000000
# differ between architectures
X86 = {"O_DIRECTORY": 0o200000, "O_NOFOLLOW": 0o400000, "O_DIRECT": 0o40000, "O_LARGEFILE": 0o100000}
ARM64 = {"O_DIRECTORY": 0o40000, "O_NOFOLLOW": 0o100000, "O_DIRECT": 0o200000, "O_LARGEFILE": 0o400000}
O_TMPFILE_BIT, O_SYNC_BIT, O_DSYNC = 0o20000000, 0o4000000, 0o10000


@pytest.mark.parametrize(("flags", "names"), [
    (O_RDONLY, ["read"]),
    (O_WRONLY | O_CREAT | O_TRUNC, ["write", "create", "truncate"]),        # sh's `>`
    (O_WRONLY | O_CREAT | O_APPEND, ["write", "create", "append"]),         # sh's `>>`
    (O_RDWR | O_APPEND, ["read", "write", "append"]),
    (O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, ["read", "write", "create", "exclusive", "cloexec"]),
    (O_RDONLY | O_NONBLOCK | O_NOATIME, ["read", "nonblock", "noatime"]),
    (O_PATH | O_CLOEXEC, ["cloexec", "path"]),           # O_PATH: no read/write access
    (O_DSYNC | O_WRONLY, ["write", "dsync"]),
    (O_SYNC_BIT | O_DSYNC | O_WRONLY, ["write", "sync"]),  # O_SYNC includes O_DSYNC
    (0o3, []),                                            # access mode 3: ioctl only
])
def test_open_flags_common_to_every_architecture(flags, names):
    assert open_flags(flags, "x86_64") == names
    assert open_flags(flags, "aarch64") == names


@pytest.mark.parametrize(("machine", "table"), [("x86_64", X86), ("aarch64", ARM64)])
def test_open_flags_that_differ_by_architecture(machine, table):
    assert open_flags(table["O_DIRECTORY"] | O_CLOEXEC, machine) == ["read", "cloexec", "directory"]
    assert open_flags(table["O_NOFOLLOW"], machine) == ["read", "nofollow"]
    assert open_flags(table["O_DIRECT"] | O_WRONLY, machine) == ["write", "direct"]
    # the kernel forces O_LARGEFILE on 64-bit: never shown
    assert open_flags(table["O_LARGEFILE"] | O_WRONLY | O_CREAT | O_TRUNC, machine) == [
        "write", "create", "truncate"]
    # O_TMPFILE is __O_TMPFILE | O_DIRECTORY: one name, not two
    assert open_flags(O_TMPFILE_BIT | table["O_DIRECTORY"] | O_RDWR, machine) == ["read", "write", "tmpfile"]


def test_unnamed_bits_stay_visible():
    assert open_flags(0o100000000 | O_WRONLY, "x86_64") == ["write", "0o100000000"]


def test_unknown_machine_uses_the_generic_values():
    assert open_flags(X86["O_DIRECTORY"], "riscv64") == ["read", "directory"]


@pytest.mark.parametrize(("mode", "text"), [
    (0o644, "0644"), (0o600, "0600"), (0o4755, "4755"), (0, "0000"), (0o777, "0777"),
    (0xFFFFFFFF, None),                                   # not given (open without O_CREAT)
])
def test_file_mode(mode, text):
    assert file_mode(mode) == text


def test_owner_id_minus_one_means_unchanged():
    assert owner_id(0) == 0
    assert owner_id(1000) == 1000
    assert owner_id(0xFFFFFFFF) is None


@pytest.mark.parametrize(("dev", "text"), [
    ((254 << 20) | 0, "254:0"), ((0 << 20) | 45, "0:45"), ((8 << 20) | 17, "8:17"), (0, "0:0"),
])
def test_device_is_major_minor(dev, text):
    assert device(dev) == text


def test_file_pieces_are_formatted_when_shaped_not_when_placed():
    """The kernel sends every piece for every kind; only those shown are formatted."""
    merged = trackers.formatters()
    assert not {"eun_file_flags", "eun_file_mode", "eun_file_id", "eun_file_dev"} & set(merged)
    raw = {"resolved": "/etc/passwd", "flags": 0o100, "mode": 0o644, "uid": 0xFFFFFFFF, "gid": 0xFFFFFFFF,
           "size": 0, "inode": 7, "device": (8 << 20) | 1}
    assert shape_file("open", raw) == {"path": "/etc/passwd", "flags": open_flags_cached(0o100), "mode": "0644",
                                       "inode": 7, "device": "8:1"}
    assert shape_file("chown", {**raw, "uid": 0xFFFFFFFF, "gid": 5}) == {
        "path": "/etc/passwd", "uid": None, "gid": 5, "inode": 7, "device": "8:1"}
