"""Eunomia's default rules (src/eunomia/rules/default_rules.yaml), on by
default in `eunomia run`, each firing on a real trigger in a container and
not on the case next to it; the benign workload raises none.

Programs are called by path so they carry their own names (busybox's shell
runs applets through /proc/self/exe otherwise).
"""

from __future__ import annotations

import time

import pytest

from .conftest import IMAGE, docker, unique
from .test_falco_rules import BENIGN_WORKLOAD, actor  # noqa: F401 - actor: the static helper, a fixture
from .test_signal_tracker import helper  # noqa: F401 - the ptrace helper, a fixture

pytestmark = pytest.mark.integration


# every tracker: the syscall tracker sees module loads and mounts
EVERY_TRACKER = ("-t", "exec", "-t", "file", "-t", "net", "-t", "signal", "-t", "cap", "-t", "syscall")


def _alerts(tracer, containers, name: str, *run: str, options: tuple[str, ...] = (),
            trackers: tuple[str, ...] = ()) -> list[dict]:
    """Run a container under plain `eunomia run` (the default rules, nothing else); its alerts."""
    agent = tracer("-c", name, "--metrics", "off", *trackers, command="run")
    containers.names.append(name)
    done = docker("run", "--name", name, *options, IMAGE, *run, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    lines, summary = agent.stop()
    assert summary["lost"] == 0
    alerts = [line for line in lines if line["type"] == "alert"]
    assert {a["container"]["name"] for a in alerts} <= {name}
    return alerts


def _rules(alerts: list[dict]) -> list[str]:
    return [a["rule"] for a in alerts]


def test_package_manager_run_in_a_container(tracer, containers):
    alerts = _alerts(tracer, containers, unique("pkg"), "sh", "-c", "/bin/dpkg -l >/dev/null 2>&1; true")
    assert _rules(alerts) == ["Package manager run in a container"]
    assert "command=dpkg -l" in alerts[0]["output"] and alerts[0]["priority"] == "ERROR"


def test_shell_spawned_by_a_non_shell_program(tracer, containers, actor):  # noqa: F811
    alerts = _alerts(tracer, containers, unique("inject"), "/usr/sbin/nginx", "spawn", "/bin/cat /etc/hostname",
                     options=("-v", f"{actor}:/usr/sbin/nginx:ro"))
    assert _rules(alerts) == ["Shell spawned by a non-shell program"]
    assert "parent=nginx" in alerts[0]["output"] and "command=sh -c /bin/cat /etc/hostname" in alerts[0]["output"]


def test_program_run_from_a_temporary_directory(tracer, containers):
    alerts = _alerts(tracer, containers, unique("tmpexe"), "sh", "-c",
                     "cp /bin/busybox /tmp/echo; /tmp/echo payload; /bin/echo shipped")
    assert _rules(alerts) == ["Program run from a temporary directory"]
    assert "program=/tmp/echo" in alerts[0]["output"]


def test_write_below_a_binary_directory(tracer, containers):
    # a binary planted in /bin, and a file moved there: an open to write, then a rename
    alerts = _alerts(tracer, containers, unique("plant"), "sh", "-c",
                     "cp /bin/busybox /bin/planted; echo x > /tmp/t; /bin/mv /tmp/t /bin/moved")
    assert _rules(alerts) == ["Write below a binary directory"] * 2
    assert "file=/bin/planted operation=openat" in alerts[0]["output"]
    assert "operation=renameat2" in alerts[1]["output"] and "file=/tmp/t" in alerts[1]["output"]


def test_sensitive_file_read_in_a_container(tracer, containers, tmp_path):
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:19000:0:99999:7:::\n")
    alerts = _alerts(tracer, containers, unique("shadow"), "sh", "-c", "/bin/cat /etc/shadow /etc/hostname",
                     options=("-v", f"{shadow}:/etc/shadow:ro"))
    assert _rules(alerts) == ["Sensitive file read in a container"]  # /etc/hostname is no secret
    assert "file=/etc/shadow" in alerts[0]["output"] and "command=cat /etc/shadow /etc/hostname" in alerts[0]["output"]


def test_persistence_file_written_in_a_container(tracer, containers):
    alerts = _alerts(tracer, containers, unique("persist"), "sh", "-c",
                     "mkdir -p /root/.ssh; echo 'ssh-ed25519 AAAA intruder' >> /root/.ssh/authorized_keys; "
                     "echo notes > /root/notes")
    assert _rules(alerts) == ["Persistence file written in a container"]
    assert "file=/root/.ssh/authorized_keys" in alerts[0]["output"]


def test_outbound_connection_from_a_server_program(tracer, containers, actor):  # noqa: F811
    # a server (nginx) calling out to a host on a network this test creates; its own loopback is fine
    network, peer = unique("out-net"), unique("out-peer")
    docker("network", "create", "--subnet", "10.213.7.0/24", network)
    try:
        containers.names.append(peer)
        docker("run", "-d", "--name", peer, "--network", network, "--ip", "10.213.7.10", IMAGE,
               "nc", "-ll", "-p", "4444", "-e", "/bin/true")
        alerts = _alerts(tracer, containers, unique("callback"), "sh", "-c",
                         "sleep 0.5; /bin/nc -l -p 8080 -e /bin/true & sleep 0.3; "
                         "/usr/sbin/nginx connect 127.0.0.1 8080; /usr/sbin/nginx connect 10.213.7.10 4444",
                         options=("--network", network, "-v", f"{actor}:/usr/sbin/nginx:ro"))
        assert _rules(alerts) == ["Outbound connection from a server program"]
        assert "10.213.7.10:4444" in alerts[0]["output"] and "server nginx" in alerts[0]["output"]
    finally:
        docker("rm", "-f", peer, check=False)
        docker("network", "rm", network, check=False)


def test_process_traced_in_a_container(tracer, containers, helper):  # noqa: F811
    alerts = _alerts(tracer, containers, unique("ptrace"), "/helper", "attach-child", "1",
                     options=("-v", f"{helper}:/helper:ro", "--cap-add", "SYS_PTRACE"))
    assert _rules(alerts) == ["Process traced in a container"]
    assert alerts[0]["output"].startswith("PTRACE_ATTACH in container")


def test_kernel_module_load_attempted_in_a_container(tracer, containers):
    # a container given CAP_SYS_MODULE (without it Docker's seccomp profile refuses the calls before they
    # start, and the kernel shows no attempt)
    alerts = _alerts(tracer, containers, unique("insmod"), "sh", "-c",
                     "echo x > /tmp/rootkit.ko; /bin/insmod /tmp/rootkit.ko; true",
                     options=("--cap-add", "SYS_MODULE"), trackers=EVERY_TRACKER)
    assert _rules(alerts) == ["Kernel module load attempted in a container"] * 2  # finit_module, then init_module
    assert "call=finit_module file=/tmp/rootkit.ko" in alerts[0]["output"] and alerts[0]["priority"] == "CRITICAL"
    assert "call=init_module" in alerts[1]["output"]


def test_mount_attempted_in_a_container(tracer, containers):
    alerts = _alerts(tracer, containers, unique("mount"), "sh", "-c",
                     "mkdir -p /mnt/x; /bin/mount -t tmpfs none /mnt/x; /bin/umount /mnt/x",
                     options=("--cap-add", "SYS_ADMIN", "--security-opt", "apparmor=unconfined",
                              "--security-opt", "seccomp=unconfined"), trackers=EVERY_TRACKER)
    assert _rules(alerts) == ["Mount attempted in a container"] * 2
    assert "call=mount source=none target=/mnt/x" in alerts[0]["output"]
    assert "call=umount2 source=<NA> target=/mnt/x" in alerts[1]["output"]


def test_a_benign_workload_raises_no_default_alert(tracer, containers, actor):  # noqa: F811
    # every tracker on: the runtime's own mounts while it sets the container up are no attempt of the workload
    assert _alerts(tracer, containers, unique("benign"), "sh", "-c", BENIGN_WORKLOAD,
                   options=("-v", f"{actor}:/usr/sbin/nginx:ro"), trackers=EVERY_TRACKER) == []


def test_an_alert_reaches_standard_output_at_once_not_at_exit(tracer, containers):
    """`run` (alerts only) flushes standard output after every poll, as it does its sinks."""
    name = unique("live")
    agent = tracer("-c", name, "--metrics", "off", command="run")
    containers.names.append(name)
    done = docker("run", "--name", name, IMAGE, "sh", "-c", "/bin/dpkg -l >/dev/null 2>&1; true",
                  check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 5
    while '"type":"alert"' not in agent.out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent.proc.poll() is None, "the agent stopped"
    assert '"rule":"Package manager run in a container"' in agent.out.read_text()  # while it still runs
    agent.stop()
