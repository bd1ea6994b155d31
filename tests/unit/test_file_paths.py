"""The file tracker's user side: joining paths, shaping events, remembering
inode paths, the syscall knobs and the byte-count records."""

from __future__ import annotations

import posixpath

import pytest

from eunomia import syscalls
from eunomia.context.model import Container
from eunomia.trackers import file as file_tracker
from eunomia.trackers.file.formats import ABSENT
from eunomia.trackers.file.io import file_bytes_records
from eunomia.trackers.file.paths import PathMemory, finish_event, join_path, shape_file


@pytest.mark.parametrize(("directory", "name", "expected"), [
    ("/etc", "passwd", "/etc/passwd"),
    ("/tmp", "../etc/./passwd", "/etc/passwd"),
    ("/", "x", "/x"),
    ("/srv/app", "/abs/path", "/abs/path"),        # an absolute name ignores the directory
    (None, "/abs//path/", "/abs/path"),
    (None, "//double", "/double"),                  # POSIX's "//" kept by normpath: not here
    ("/data", "", "/data"),                         # AT_EMPTY_PATH: the dirfd's file itself
    (None, "rel/x", "rel/x"),                       # unknown directory (bad dirfd): as given
    (None, "", None),
    ("/tmp", None, None),                           # the string could not be read
])
def test_join_path(directory, name, expected):
    assert join_path(directory, name) == expected


def test_shape_open_resolved_by_the_kernel():
    # as the kernel sends them: numbers, formatted when shaped (O_RDONLY; mode absent; dev_t 0:40)
    raw = {"resolved": "/etc/passwd", "flags": 0, "mode": ABSENT, "inode": 42, "device": 40,
           "uid": 7, "gid": 7, "size": 0}
    assert shape_file("open", raw) == {"path": "/etc/passwd", "flags": ["read"], "mode": None,
                                       "inode": 42, "device": "0:40"}


def test_shape_failed_open_joins_and_has_no_inode():
    raw = {"name": "missing", "dir": "/tmp", "flags": 0, "mode": ABSENT, "inode": 0, "device": 0}
    assert shape_file("open", raw) == {"path": "/tmp/missing", "flags": ["read"], "mode": None,
                                       "given_path": "missing"}  # as passed: it is not the path


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("rename", {"name": "x", "dir": "/tmp", "target_name": "/tmp/y"}, {"path": "/tmp/x", "target_path": "/tmp/y",
                                                                                   "given_path": "x"}),
    ("link", {"name": "/tmp/hl", "target_name": "y", "target_dir": "/tmp"},
     {"path": "/tmp/hl", "target_path": "/tmp/y"}),
    # a symlink's target is its content: kept exactly, relative or not
    ("symlink", {"name": "z", "dir": "/tmp", "target_name": "../y/./"}, {"path": "/tmp/z", "target_path": "../y/./",
                                                                                       "given_path": "z"}),
    ("chmod", {"name": "/tmp/y", "mode": 0o600}, {"path": "/tmp/y", "mode": "0600"}),
    ("chown", {"name": "/tmp/y", "uid": 1, "gid": ABSENT}, {"path": "/tmp/y", "uid": 1, "gid": None}),
    ("mkdir", {"name": "d/", "dir": "/srv", "mode": 0o755}, {"path": "/srv/d", "mode": "0755", "given_path": "d/"}),
    ("unlink", {"name": "/tmp/z", "mode": ABSENT}, {"path": "/tmp/z"}),
    ("rmdir", {"name": "/tmp/d"}, {"path": "/tmp/d"}),
    ("truncate", {"resolved": "/tmp/y", "size": 100, "inode": 9, "device": 40},
     {"path": "/tmp/y", "size": 100, "inode": 9, "device": "0:40"}),
])
def test_shape_each_operation(kind, raw, expected):
    assert shape_file(kind, raw) == expected


def test_finish_event_replaces_the_pieces_and_learns_the_path():
    memory = PathMemory()
    event = {"type": "open", "container": {"id": "c1"}, "result": 3,
             "_file": {"resolved": "/tmp/big", "flags": 1, "mode": ABSENT, "inode": 7, "device": 40}}
    finish_event(event, memory)
    assert "_file" not in event
    assert event["file"]["path"] == "/tmp/big"
    assert memory.path_of("c1", "0:40", 7) == "/tmp/big"
    assert memory.path_of("c2", "0:40", 7) is None          # per container

    other = {"type": "exec", "container": {"id": "c1"}}
    finish_event(other, memory)
    assert other == {"type": "exec", "container": {"id": "c1"}}


def test_path_memory_is_bounded_and_keeps_the_newest_name():
    memory = PathMemory(limit=2)
    memory.learn("c", "0:1", 1, "/a")
    memory.learn("c", "0:1", 2, "/b")
    memory.learn("c", "0:1", 1, "/a-renamed")   # refreshed: now the newest
    memory.learn("c", "0:1", 3, "/c")           # evicts the oldest: inode 2
    assert len(memory) == 2
    assert memory.path_of("c", "0:1", 1) == "/a-renamed"
    assert memory.path_of("c", "0:1", 2) is None
    assert memory.path_of("c", "0:1", 3) == "/c"


def test_path_memory_follows_renames_of_the_file():
    memory = PathMemory()
    finish_event({"type": "open", "container": {"id": "c"}, "result": 3,
                  "_file": {"resolved": "/tmp/x", "flags": 1, "inode": 7, "device": 40}}, memory)
    failed = {"type": "rename", "container": {"id": "c"}, "result": "EXDEV",
              "_file": {"name": "/tmp/x", "target_name": "/mnt/x"}}
    finish_event(failed, memory)
    assert memory.path_of("c", "0:40", 7) == "/tmp/x"
    finish_event({"type": "rename", "container": {"id": "c"}, "result": 0,
                  "_file": {"name": "x", "dir": "/tmp", "target_name": "/tmp/y"}}, memory)
    assert memory.path_of("c", "0:40", 7) == "/tmp/y"
    memory.moved("c", "/tmp/x", "/tmp/z")          # the old name is no longer known
    memory.moved("other", "/tmp/y", "/tmp/z")      # another container's /tmp/y
    assert memory.path_of("c", "0:40", 7) == "/tmp/y"
    assert len(memory) == 1


def test_knobs_number_every_file_operation():
    knobs = file_tracker.knobs()
    assert knobs["targ_nr_openat"] == syscalls.number_of("openat")
    numbers = syscalls.numbers_of(*file_tracker.FILE_OPS)
    assert set(knobs) == {f"targ_nr_{name}" for name in file_tracker.FILE_OPS}
    for name in file_tracker.FILE_OPS:
        assert knobs[f"targ_nr_{name}"] == numbers.get(name, file_tracker.NR_NONE)
    # the reads and writes are told apart by their handler, not by a knob
    assert "targ_nr_read" not in knobs


def test_file_bytes_records_sum_cgroups_of_one_container_and_name_files():
    web, host = Container(id="a" * 64, name="web", runtime="docker"), Container(id="host")
    by_cgroup = {10: web, 11: web, 20: host}
    memory = PathMemory()
    memory.learn(web.id, "0:40", 5, "/tmp/big")
    dev = 40  # kernel dev_t 0:40
    def entry(cgroup_id, inode, counts):  # as Map.records() decodes struct file_bytes_key → file_bytes
        return ({"cgroup_id": cgroup_id, "inode": inode, "device": dev, "pad": 0},
                dict(zip(("bytes_read", "bytes_written", "reads", "writes", "opens"), counts)))
    entries = [entry(10, 5, (100, 12345, 1, 3, 4)),
               entry(11, 5, (50, 0, 2, 0, 1)),    # a nested cgroup of the same container
               entry(10, 6, (1, 0, 1, 0, 0)),     # never opened while tracing: no path
               entry(20, 5, (9, 9, 1, 1, 1))]     # same inode number, other container
    records = file_bytes_records(entries, by_cgroup.__getitem__, memory)
    mine = [r for r in records if r["container"]["id"] == web.id]
    assert mine[0] == {"type": "file_bytes",
                       "container": {"id": web.id, "name": "web", "image": None, "runtime": "docker",
                                     "pod": None, "namespace": None},
                       "file": {"path": "/tmp/big", "inode": 5, "device": "0:40"},
                       "bytes_read": 150, "bytes_written": 12345, "reads": 3, "writes": 3, "opens": 5}
    assert mine[1]["file"] == {"path": None, "inode": 6, "device": "0:40"}
    hosts = [r for r in records if r["container"]["id"] == "host"]
    assert len(hosts) == 1 and hosts[0]["file"]["path"] is None


@pytest.mark.parametrize("name", ["/a/b", "/", "//a", "///a", "/a/./b", "/a/../b", "/a/b/", "/a//b", "/.a/b",
                                  "/a/.b", "/a/b.", "/...", "/a/b/..", "/a/b/.", "/é/\\x00"])
def test_absolute_names_are_normalised_as_posixpath_would(name):
    expected = posixpath.normpath(name)
    expected = "/" + expected.lstrip("/") if expected.startswith("//") else expected
    assert join_path(None, name) == expected


def test_a_file_only_the_runtime_opened_is_marked_on_its_byte_counts():
    web = Container(id="a" * 64, name="web", runtime="docker")
    memory = PathMemory()
    memory.learn(web.id, "0:40", 7, "/proc/1/mountinfo", runtime=True)    # runc:[2:INIT]
    memory.learn(web.id, "0:40", 8, "/etc/passwd", runtime=True)
    memory.learn(web.id, "0:40", 8, "/etc/passwd", runtime=False)         # and the workload too
    memory.learn(web.id, "0:40", 9, "/data/a", runtime=False)
    memory.moved(web.id, "/data/a", "/data/b")                           # a rename keeps who opened it
    assert memory.runtime_only(web.id, "0:40", 7)
    assert not memory.runtime_only(web.id, "0:40", 8) and not memory.runtime_only(web.id, "0:40", 9)
    assert not memory.runtime_only(web.id, "0:40", 10)                   # unknown: not claimed either way
    entries = [({"cgroup_id": 1, "inode": inode, "device": 40, "pad": 0},
                {"bytes_read": 10, "bytes_written": 0, "reads": 1, "writes": 0, "opens": 1}) for inode in (7, 8, 9)]
    records = {r["file"]["path"]: r for r in file_bytes_records(entries, lambda cgroup_id: web, memory)}
    assert records["/proc/1/mountinfo"]["runtime_setup"] is True
    assert "runtime_setup" not in records["/etc/passwd"] and "runtime_setup" not in records["/data/b"]
