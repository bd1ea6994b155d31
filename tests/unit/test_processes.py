"""The process table (eunomia.context.processes), seeded from a fake /proc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eunomia.context.processes import Process, ProcessTable, read_proc_process

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int, comm: str, ppid: int, start_ticks: int) -> str:
    # fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...
    rest = ["S", str(ppid)] + ["0"] * 17 + [str(start_ticks), "1234", "56"]
    return f"{pid} ({comm}) " + " ".join(rest) + "\n"


def make_proc(root: Path, pid: int, *, comm: str, ppid: int, start: int = 100,
              cmdline: bytes = b"", uid: int = 0, exe: str | None = None, cwd: str | None = None,
              files: tuple[str, ...] = ("stat", "cmdline", "status")) -> Path:
    d = root / str(pid)
    d.mkdir(parents=True)
    if "stat" in files:
        (d / "stat").write_text(_stat(pid, comm, ppid, start))
    if "cmdline" in files:
        (d / "cmdline").write_bytes(cmdline)
    if "status" in files:
        (d / "status").write_text(f"Name:\t{comm}\nState:\tS (sleeping)\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
                                  f"Gid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
    if exe is not None:
        os.symlink(exe, d / "exe")
    if cwd is not None:
        os.symlink(cwd, d / "cwd")
    return d


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    make_proc(root, 1, comm="systemd", ppid=0, start=1, cmdline=b"/sbin/init\0splash\0",
              exe="/usr/lib/systemd/systemd", cwd="/")
    make_proc(root, 42, comm="my (weird) proc", ppid=1, start=250,
              cmdline=b"python3\0-c\0print(\xff)\0", uid=1000,
              exe="/usr/bin/python3.11 (deleted)", cwd="/home/user")
    make_proc(root, 77, comm="half", ppid=1, files=("stat",))        # vanished mid-read
    (root / "self").mkdir()                                          # not a pid
    (root / "sys").mkdir()
    (root / "meminfo").write_text("MemTotal: 1 kB\n")
    return root


def test_seed_reads_exactly_the_valid_processes(proc_root):
    table = ProcessTable()
    assert table.seed(proc_root) == 2
    assert sorted(p.pid for p in table) == [1, 42]
    assert len(table) == 2
    assert table.get(77) is None


def test_seeded_process_fields(proc_root):
    table = ProcessTable()
    table.seed(proc_root)
    assert table.get(42) == Process(pid=42, ppid=1, name="my (weird) proc",
                                    executable="/usr/bin/python3.11",
                                    args=["python3", "-c", "print(\\xff)"], cwd="/home/user",
                                    uid=1000, start_ns=250 * 1_000_000_000 // TICKS,
                                    exe_flags=None)  # where its executable came from: not known from /proc
    init = table.get(1)
    assert (init.name, init.ppid, init.args, init.executable, init.cwd, init.uid) == (
        "systemd", 0, ["/sbin/init", "splash"], "/usr/lib/systemd/systemd", "/", 0)


def test_comm_with_closing_parenthesis_and_spaces(tmp_path):
    make_proc(tmp_path, 5, comm="a) S 99 (b", ppid=3, cmdline=b"x\0")
    proc = read_proc_process(5, tmp_path)
    assert (proc.name, proc.ppid) == ("a) S 99 (b", 3)


def test_unreadable_links_and_missing_process(tmp_path):
    make_proc(tmp_path, 9, comm="noexe", ppid=1, cmdline=b"noexe\0")
    proc = read_proc_process(9, tmp_path)
    assert (proc.executable, proc.cwd) == (None, None)
    assert read_proc_process(12345, tmp_path) is None


def test_seed_of_missing_root_reads_nothing(tmp_path):
    table = ProcessTable()
    assert table.seed(tmp_path / "nope") == 0
    assert list(table) == []


def test_seed_keeps_processes_already_known(proc_root):
    table = ProcessTable()
    table.on_exec(42, 1, name="fresh", executable="/bin/fresh", args=["fresh"], cwd="/", uid=0,
                  ts=1, cgroup_id=None)
    assert table.seed(proc_root) == 1
    assert table.get(42).name == "fresh"


def _exec(table, pid, ppid, exe, args, ts=10, cwd="/srv"):
    return table.on_exec(pid, ppid, name=exe.rsplit("/", 1)[-1][:15], executable=exe, args=args,
                         cwd=cwd, uid=1000, ts=ts, cgroup_id=7)


def test_fork_copies_the_parent_image():
    table = ProcessTable()
    _exec(table, 10, 1, "/bin/bash", ["bash", "-l"])
    child = table.on_fork(10, 11, ts=500, cgroup_id=7)
    assert child == Process(pid=11, ppid=10, name="bash", executable="/bin/bash", args=["bash", "-l"],
                            cwd="/srv", uid=1000, start_ns=500, cgroup_id=7)
    child.args.append("mutated")
    assert table.get(10).args == ["bash", "-l"]   # a copy, not the parent's list


def test_fork_of_unknown_parent():
    table = ProcessTable()
    child = table.on_fork(999, 1000, ts=5, cgroup_id=None)
    assert (child.ppid, child.name, child.executable, child.args) == (999, "", None, [])


def test_exec_replaces_the_image_keeps_start():
    table = ProcessTable()
    _exec(table, 10, 1, "/bin/bash", ["bash"])
    table.on_fork(10, 11, ts=500, cgroup_id=7)
    _exec(table, 11, 10, "/usr/bin/ls", ["ls", "-l"], ts=600, cwd="/tmp")
    proc = table.get(11)
    assert (proc.name, proc.executable, proc.args, proc.cwd) == ("ls", "/usr/bin/ls", ["ls", "-l"], "/tmp")
    assert proc.start_ns == 500  # the process started at fork, not at exec
    assert table.get(10).executable == "/bin/bash"


def test_exit_keeps_the_process_retrievable_but_not_live():
    table = ProcessTable()
    _exec(table, 10, 1, "/bin/sleep", ["sleep", "1"])
    _exec(table, 20, 1, "/bin/true", ["true"])
    gone = table.on_exit(10)
    assert gone.exited is True
    assert table.get(10).args == ["sleep", "1"]
    assert [p.pid for p in table] == [20]
    assert len(table) == 1
    assert table.on_exit(10) is gone      # a second exit finds the same record
    assert table.on_exit(4242) is None    # never seen


def test_exited_memory_is_bounded():
    table = ProcessTable(max_exited=2)
    for pid in (1, 2, 3):
        _exec(table, pid, 0, f"/bin/p{pid}", [f"p{pid}"])
        table.on_exit(pid)
    assert table.get(1) is None          # oldest forgotten
    assert table.get(2).executable == "/bin/p2"
    assert table.get(3).executable == "/bin/p3"


def test_reused_pid_is_live_again():
    table = ProcessTable()
    _exec(table, 10, 1, "/bin/old", ["old"])
    table.on_exit(10)
    table.on_fork(1, 10, ts=900, cgroup_id=None)
    assert table.get(10).exited is False
    assert [p.pid for p in table] == [10]


def test_ancestors_follow_the_chain():
    table = ProcessTable()
    for pid, ppid in ((1, 0), (2, 1), (3, 2), (4, 3)):
        _exec(table, pid, ppid, f"/bin/p{pid}", [])
    assert [p.pid for p in table.ancestors(4)] == [3, 2, 1]
    assert [p.pid for p in table.ancestors(4, limit=2)] == [3, 2]
    assert table.ancestors(1) == []
    assert table.ancestors(555) == []
    table.on_exit(3)                     # an exited parent still names the chain
    assert [p.pid for p in table.ancestors(4)] == [3, 2, 1]


def test_ancestors_stop_on_loops():
    table = ProcessTable()
    _exec(table, 10, 11, "/bin/a", [])
    _exec(table, 11, 12, "/bin/b", [])
    _exec(table, 12, 10, "/bin/c", [])
    _exec(table, 5, 5, "/bin/self", [])
    assert [p.pid for p in table.ancestors(10)] == [11, 12]
    assert table.ancestors(5) == []


def test_kernel_thread_is_not_a_process(tmp_path):
    make_proc(tmp_path, 2, comm="kthreadd", ppid=0, cmdline=b"", cwd="/")
    assert read_proc_process(2, tmp_path) is None


def test_cmdline_without_trailing_nul_keeps_last_argument(tmp_path):
    make_proc(tmp_path, 8, comm="nginx", ppid=1, cmdline=b"nginx: master process /usr/sbin/nginx")
    assert read_proc_process(8, tmp_path).args == ["nginx: master process /usr/sbin/nginx"]
