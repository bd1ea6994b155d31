"""The exec tracker against real containers: attribution, argv, exit codes,
failures, and the container filter working in the kernel."""

from __future__ import annotations

import subprocess

from .conftest import IMAGE, docker, events_of, unique


def test_container_exec_argv_cwd_and_exit_code(tracer, containers):
    t = tracer("exec")
    name = unique()
    script = "cd /tmp && /bin/echo hello 'two words' >/dev/null; exit 3"
    result = containers.run(name, "sh", "-c", script)
    assert result.returncode == 3
    cid = containers.full_id(name)
    events, summary = t.stop()

    mine = events_of(events, container_id=cid)
    assert mine, f"no event of container {name}"
    assert all(e["container"]["name"] == name for e in mine)
    assert all(e["container"]["image"] == IMAGE for e in mine)
    assert all(e["container"]["runtime"] == "docker" for e in mine)

    execs = events_of(mine, type="exec")
    shell = [e for e in execs if e["process"]["args"] == ["sh", "-c", script]]
    assert len(shell) == 1
    assert shell[0]["process"]["executable"] == "/bin/busybox"  # sh is a symlink to it
    assert shell[0]["process"]["working_directory"] == "/"
    assert shell[0]["result"] == 0

    echo = [e for e in execs if e["process"]["args"] == ["/bin/echo", "hello", "two words"]]
    assert len(echo) == 1
    assert echo[0]["process"]["working_directory"] == "/tmp"
    assert echo[0]["process"]["parent"]["pid"] == shell[0]["process"]["pid"]

    exits = [e for e in events_of(mine, type="exit") if e["process"]["pid"] == shell[0]["process"]["pid"]]
    assert len(exits) == 1
    assert exits[0]["process"]["exit_code"] == 3
    assert exits[0]["process"]["args"] == ["sh", "-c", script]
    assert exits[0]["process"]["duration_ms"] > 0
    assert summary["lost"] == 0


def test_failed_exec_reports_errno_and_attempted_program(tracer, containers):
    t = tracer("exec")
    name = unique()
    containers.run(name, "sh", "-c", "cd /tmp && ./missing-tool --flag; /nonexistent/prog arg1; exit 0")
    cid = containers.full_id(name)
    events, _ = t.stop()

    failed = [e for e in events_of(events, container_id=cid, type="exec") if e["result"] != 0]
    by_exe = {e["process"]["executable"]: e for e in failed}
    assert by_exe["/nonexistent/prog"]["result"] == "ENOENT"
    assert by_exe["/nonexistent/prog"]["process"]["args"] == ["/nonexistent/prog", "arg1"]
    # a relative path is resolved against the working directory
    assert by_exe["/tmp/missing-tool"]["result"] == "ENOENT"
    assert by_exe["/tmp/missing-tool"]["process"]["args"] == ["./missing-tool", "--flag"]


def test_container_running_before_tracing_is_attributed(tracer, containers):
    name = unique()
    containers.run(name, "sleep", "60", detach=True)
    cid = containers.full_id(name)
    t = tracer("exec")
    docker("exec", name, "/bin/cat", "/proc/self/comm")
    events, _ = t.stop()

    cats = [e for e in events_of(events, container_id=cid, type="exec")
            if e["process"]["args"] == ["/bin/cat", "/proc/self/comm"]]
    assert len(cats) == 1
    assert cats[0]["container"]["name"] == name


def test_container_filter_excludes_other_containers_in_kernel(tracer, containers):
    keep, other, later = unique("keep"), unique("other"), unique("later")
    containers.run(keep, "sleep", "60", detach=True)
    containers.run(other, "sleep", "60", detach=True)
    keep_id, other_id = containers.full_id(keep), containers.full_id(other)
    t = tracer("exec", "-c", keep)
    docker("exec", keep, "/bin/echo", "marker-keep")
    docker("exec", other, "/bin/echo", "marker-other")
    containers.run(later, "/bin/echo", "marker-later")
    later_id = containers.full_id(later)
    events, summary = t.stop()

    assert [e["process"]["args"] for e in events_of(events, type="exec")] == [["/bin/echo", "marker-keep"]]
    ids = {e["container"]["id"] for e in events}
    assert ids == {keep_id}
    assert other_id not in ids and later_id not in ids
    # nothing was dropped in user space: every record the kernel sent is printed...
    stats = summary["trackers"]["exec"]
    assert stats["received"].get("exec", 0) == len(events_of(events, type="exec"))
    assert stats["received"].get("exit", 0) == len(events_of(events, type="exit"))
    assert stats["submitted"] == sum(stats["received"].values())
    # ...because the kernel discarded the other containers' events
    assert stats["filtered"] > 0


def test_host_processes_only_with_host_flag(tracer, tmp_path):
    marker = unique("host-marker")
    t = tracer("exec")
    subprocess.run(["/bin/sh", "-c", f"/bin/echo {marker} >/dev/null"], check=True)
    without, _ = t.stop()
    assert not [e for e in without if marker in " ".join(e["process"]["args"])]

    t = tracer("exec", "--host")
    subprocess.run(["/bin/sh", "-c", f"/bin/echo {marker} >/dev/null"], check=True)
    with_host, _ = t.stop()
    echo = [e for e in events_of(with_host, type="exec") if e["process"]["args"] == ["/bin/echo", marker]]
    assert len(echo) == 1
    assert echo[0]["container"]["id"] == "host"
    assert echo[0]["process"]["executable"] in ("/bin/echo", "/usr/bin/echo")


def test_long_argv_is_cut_and_flagged(tracer, containers):
    t = tracer("exec")
    name = unique()
    containers.run(name, "sh", "-c", "/bin/true $(seq 1 3000)")
    cid = containers.full_id(name)
    events, _ = t.stop()
    true = [e for e in events_of(events, container_id=cid, type="exec")
            if e["process"]["args"][:1] == ["/bin/true"]]
    assert len(true) == 1
    args = true[0]["process"]["args"]
    assert true[0]["truncated"] is True
    assert args[1:4] == ["1", "2", "3"]
    assert 100 < len(args) < 3001
    assert sum(len(a) + 1 for a in args) <= 4096


def test_where_the_executable_came_from_and_the_capabilities_it_ran_with(tracer, containers):
    t = tracer("exec")
    name, bare = unique(), unique()
    containers.run(name, "sh", "-c", "cp /bin/busybox /tmp/echo && /tmp/echo dropped && /bin/echo shipped")
    containers.run(bare, "/bin/echo", "no capabilities", options=("--cap-drop", "ALL"))
    events, _ = t.stop()

    execs = {tuple(e["process"]["args"]): e["process"]
             for e in events_of(events, container_id=containers.full_id(name), type="exec")}
    dropped, shipped = execs[("/tmp/echo", "dropped")], execs[("/bin/echo", "shipped")]
    # written in the container: on the overlay's upper layer; the image's binary is not
    assert dropped["executable"] == "/tmp/echo" and dropped["executable_in_upper_layer"] is True
    assert "executable_in_upper_layer" not in shipped and "executable_in_memory" not in shipped
    assert shipped["tty"] == 0  # `docker run` without -t: no terminal
    # Docker's default capability set, as CapEff shows it; none at all with --cap-drop ALL
    assert shipped["cap_effective"] == "00000000a80425fb"
    [nothing] = [e["process"] for e in events_of(events, container_id=containers.full_id(bare), type="exec")]
    assert nothing["args"] == ["/bin/echo", "no capabilities"] and nothing["cap_effective"] == "0000000000000000"
