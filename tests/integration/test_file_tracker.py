"""The file tracker against real containers: paths as the container sees
them, decoded flags and modes, errno results, relative paths made absolute,
byte counts per file from the kernel map, and the container filter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

from .conftest import IMAGE, docker, events_of, unique


def streamed(events: list[dict[str, Any]], cid: str) -> list[dict[str, Any]]:
    """Events of a container, without the file_bytes aggregates printed at the end."""
    return [e for e in events_of(events, container_id=cid) if e["type"] != "file_bytes"]


def file_events(events: list[dict[str, Any]], cid: str, kind: str, path: str | None = None) -> list[dict[str, Any]]:
    return [e for e in events_of(events, container_id=cid, type=kind)
            if path is None or e["file"]["path"] == path]


def only(events: list[dict[str, Any]], cid: str, kind: str, path: str) -> dict[str, Any]:
    found = file_events(events, cid, kind, path)
    assert len(found) == 1, f"expected one {kind} of {path}, got {found}"
    return found[0]


def bytes_record(events: list[dict[str, Any]], cid: str, path: str) -> dict[str, Any]:
    found = [e for e in events if e["type"] == "file_bytes" and e["container"]["id"] == cid
             and e["file"]["path"] == path]
    assert len(found) == 1, f"expected one file_bytes record of {path}, got {found}"
    return found[0]


WORKLOAD = ("echo hi > /tmp/x; mv /tmp/x /tmp/y; chmod 600 /tmp/y; ln -s /tmp/y /tmp/z; "
            "cat /nonexistent/file; mkdir /tmp/d; chown 1:2 /tmp/y; ln /tmp/y /tmp/hl; "
            "truncate -s 100 /tmp/y; rm /tmp/z; rmdir /tmp/d; exit 0")


def test_container_file_operations(tracer, containers):
    t = tracer("file")
    name = unique()
    assert containers.run(name, "sh", "-c", WORKLOAD).returncode == 0
    cid = containers.full_id(name)
    events, summary = t.stop()

    opened = only(events, cid, "open", "/tmp/x")
    assert opened["file"]["flags"] == ["write", "create", "truncate"]   # the shell's `>`
    assert opened["file"]["mode"] == "0666"                              # as requested, before umask
    assert isinstance(opened["result"], int) and opened["result"] >= 0   # the new fd
    assert opened["file"]["inode"] > 0
    assert opened["process"]["name"] == "sh"
    assert opened["container"]["name"] == name and opened["container"]["image"] == IMAGE

    missing = only(events, cid, "open", "/nonexistent/file")
    assert missing["result"] == "ENOENT"
    assert missing["file"] == {"path": "/nonexistent/file", "flags": ["read"], "mode": None}
    assert missing["process"]["name"] == "cat"

    rename = only(events, cid, "rename", "/tmp/x")
    assert (rename["file"]["target_path"], rename["result"]) == ("/tmp/y", 0)
    chmod = only(events, cid, "chmod", "/tmp/y")
    assert (chmod["file"]["mode"], chmod["result"]) == ("0600", 0)
    symlink = only(events, cid, "symlink", "/tmp/z")
    assert (symlink["file"]["target_path"], symlink["result"]) == ("/tmp/y", 0)
    assert (only(events, cid, "mkdir", "/tmp/d")["result"]) == 0
    chown = only(events, cid, "chown", "/tmp/y")
    assert (chown["file"]["uid"], chown["file"]["gid"], chown["result"]) == (1, 2, 0)
    link = only(events, cid, "link", "/tmp/hl")   # the new name; its target the existing file
    assert (link["file"]["target_path"], link["result"]) == ("/tmp/y", 0)
    # busybox truncate opens the file and calls ftruncate: named through the fd
    truncate = only(events, cid, "truncate", "/tmp/y")
    assert (truncate["file"]["size"], truncate["result"]) == (100, 0)
    assert truncate["file"]["inode"] == opened["file"]["inode"]        # the file renamed from /tmp/x
    assert only(events, cid, "unlink", "/tmp/z")["result"] == 0
    assert only(events, cid, "rmdir", "/tmp/d")["result"] == 0

    # paths are the container's view, never the host's overlay directory
    workload = [e for e in streamed(events, cid) if not e["process"]["name"].startswith("runc")]
    assert workload
    assert not [e for e in workload if "/var/lib/docker" in (e["file"]["path"] or "")]
    assert summary["trackers"]["file"]["lost"] == 0


def test_relative_paths_are_resolved_against_the_working_directory(tracer, containers):
    t = tracer("file")
    name = unique()
    script = "cd /etc && cat passwd >/dev/null; cd /tmp && cat missing; mkdir rel && mv rel rel2; exit 0"
    assert containers.run(name, "sh", "-c", script).returncode == 0
    cid = containers.full_id(name)
    events, _ = t.stop()

    # busybox runs `cat` by exec'ing /proc/self/exe: a new process, same cwd
    passwd = [e for e in file_events(events, cid, "open", "/etc/passwd") if e["process"]["name"] == "cat"]
    assert len(passwd) == 1 and isinstance(passwd[0]["result"], int)
    assert only(events, cid, "open", "/tmp/missing")["result"] == "ENOENT"
    assert only(events, cid, "mkdir", "/tmp/rel")["result"] == 0
    assert only(events, cid, "rename", "/tmp/rel")["file"]["target_path"] == "/tmp/rel2"
    assert not [e for e in streamed(events, cid) if e["file"]["path"] and not e["file"]["path"].startswith("/")]


DIRFD_SCRIPT = textwrap.dedent("""
    import ctypes, os, struct, sys
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.open("missing", os.O_RDONLY, dir_fd=fd)
    except FileNotFoundError:
        pass
    os.mkdir("sub", 0o750, dir_fd=fd)
    f = os.open("a", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640, dir_fd=fd)
    os.rename("a", "sub/b", src_dir_fd=fd, dst_dir_fd=fd)
    os.fchmod(f, 0o600)
    os.ftruncate(f, 10)
    how = ctypes.create_string_buffer(struct.pack("QQQ", os.O_RDONLY, 0, 0), 24)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    assert libc.syscall(ctypes.c_long(437), ctypes.c_long(fd), b"sub/b", how, ctypes.c_long(24)) >= 0
    os.unlink("sub/b", dir_fd=fd)
    os.rmdir("sub", dir_fd=fd)
""")


def test_dirfd_relative_calls_and_descriptor_calls(tracer, tmp_path):
    """*at() calls relative to a directory fd, openat2, fchmod/ftruncate (host process, --host)."""
    base = os.path.realpath(tmp_path / unique("dirfd"))
    os.mkdir(base)
    t = tracer("file", "--host")
    proc = subprocess.Popen([sys.executable, "-c", DIRFD_SCRIPT, base], stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    pid = proc.pid
    events, _ = t.stop()

    mine = [e for e in streamed(events, "host") if e["process"]["pid"] == pid
            and e["file"]["path"] and e["file"]["path"].startswith(base)]
    by = {(e["type"], e["file"]["path"], str(e["result"]).isdigit()): e for e in mine}
    missing = by[("open", f"{base}/missing", False)]
    assert (missing["result"], missing["file"]["flags"]) == ("ENOENT", ["read", "cloexec"])  # os.open adds O_CLOEXEC
    assert by[("mkdir", f"{base}/sub", True)]["file"]["mode"] == "0750"
    created = by[("open", f"{base}/a", True)]
    assert created["file"]["flags"] == ["write", "create", "exclusive", "cloexec"]
    assert created["file"]["mode"] == "0640"
    assert by[("rename", f"{base}/a", True)]["file"]["target_path"] == f"{base}/sub/b"
    # fchmod and ftruncate name the file through the descriptor: its name now
    assert by[("chmod", f"{base}/sub/b", True)]["file"]["mode"] == "0600"
    assert by[("truncate", f"{base}/sub/b", True)]["file"]["size"] == 10
    assert by[("open", f"{base}/sub/b", True)]["file"]["flags"] == ["read"]   # openat2
    assert by[("unlink", f"{base}/sub/b", True)]["result"] == 0
    assert by[("rmdir", f"{base}/sub", True)]["result"] == 0


def test_bytes_read_and_written_per_container_and_file(tracer, containers):
    t = tracer("file")
    name = unique()
    # cat copies with sendfile(2), dd with read(2): both count as reads of /tmp/big
    script = ("head -c 12345 /dev/zero > /tmp/big; cat /tmp/big > /dev/null; "
              "dd if=/tmp/big of=/dev/null bs=1000 2>/dev/null; echo hi > /tmp/m; mv /tmp/m /tmp/moved")
    assert containers.run(name, "sh", "-c", script).returncode == 0
    cid = containers.full_id(name)
    events, summary = t.stop()

    big = bytes_record(events, cid, "/tmp/big")
    assert big["bytes_written"] == 12345
    assert big["bytes_read"] == 2 * 12345
    assert big["writes"] >= 1 and big["reads"] >= 2
    assert big["container"]["name"] == name
    # named from the opens seen while tracing (the shell's `>`, cat, dd), and renames
    assert {e["file"]["inode"] for e in file_events(events, cid, "open", "/tmp/big")} == {big["file"]["inode"]}
    assert bytes_record(events, cid, "/tmp/moved")["bytes_written"] == 3
    # devices are not files: /dev/zero and /dev/null are never counted
    paths = {e["file"]["path"] for e in events if e["type"] == "file_bytes" and e["container"]["id"] == cid}
    assert not paths & {"/dev/zero", "/dev/null"}
    assert summary["trackers"]["file"]["map_full"] == 0


def test_file_events_only_for_the_selected_container(tracer, containers):
    keep, other = unique("keep"), unique("other")
    containers.run(keep, "sleep", "60", detach=True)
    containers.run(other, "sleep", "60", detach=True)
    keep_id, other_id = containers.full_id(keep), containers.full_id(other)
    t = tracer("file", "-c", keep)
    docker("exec", keep, "sh", "-c", "echo a > /tmp/keep-marker; cat /tmp/keep-marker")
    docker("exec", other, "sh", "-c", "echo b > /tmp/other-marker; cat /tmp/other-marker")
    events, summary = t.stop()

    flags = [e["file"]["flags"] for e in file_events(events, keep_id, "open", "/tmp/keep-marker")]
    assert flags == [["write", "create", "truncate"], ["read"]]
    assert {e["container"]["id"] for e in events} == {keep_id}
    assert not [e for e in events if "other-marker" in ((e.get("file") or {}).get("path") or "")]
    assert other_id not in {e["container"]["id"] for e in events if e["type"] == "file_bytes"}
    stats = summary["trackers"]["file"]
    assert stats["filtered"] > 0
    assert stats["submitted"] == sum(stats["received"].values())
    assert stats["lost"] == 0


def test_repeated_identical_opens_are_streamed_once_and_counted(tracer, containers):
    t = tracer("file")
    name = unique()
    # the shell itself opens the file for each redirect: one process, same flags
    containers.run(name, "sh", "-c", "touch /tmp/r; for i in $(seq 100); do read x < /tmp/r; done; "
                                     "echo y > /tmp/other")
    cid = containers.full_id(name)
    events, summary = t.stop()
    reads = [e for e in events_of(events, container_id=cid, type="open")
             if e["file"]["path"] == "/tmp/r" and e["file"]["flags"] == ["read"]]
    assert len(reads) == 1
    record = [e for e in events if e["type"] == "file_bytes" and e["container"]["id"] == cid
              and e["file"]["path"] == "/tmp/r"]
    assert len(record) == 1 and record[0]["opens"] == 101  # touch opened it once too
    assert summary["trackers"]["file"]["repeated"] >= 99
    # a different file, and a different way of opening, are still streamed
    assert [e for e in events_of(events, container_id=cid, type="open") if e["file"]["path"] == "/tmp/other"]
