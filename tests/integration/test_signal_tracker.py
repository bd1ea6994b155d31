"""The signal tracker: signals, ptrace requests and unix-socket connects between
processes, with the other process (`target`) and its container.

busybox has no ptrace tool and its nc no unix sockets: a small static C helper,
compiled here and bind-mounted into the containers, makes those calls."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import IMAGE, docker, events_of, static_helper, unique

HELPER_C = r"""
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static long peek_me = 42;

static void on_alarm(int sig) { (void)sig; }

static socklen_t unix_addr(struct sockaddr_un *a, const char *path)
{
    size_t n = strlen(path);
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (path[0] == '@') {  /* abstract: a leading NUL, no terminator */
        memcpy(a->sun_path + 1, path + 1, n - 1);
        return offsetof(struct sockaddr_un, sun_path) + n;
    }
    memcpy(a->sun_path, path, n);
    return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

static int result(const char *what, long ret)
{
    printf("%s %s\n", what, ret < 0 ? strerror(errno) : "ok");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "alarm")) {          /* SIGALRM from a timer interrupt */
        signal(SIGALRM, on_alarm);
        alarm(1);
        pause();
        return 0;
    }
    if (!strcmp(mode, "raise") && argc > 2) {  /* signal itself N times */
        signal(SIGUSR1, on_alarm);
        for (int i = atoi(argv[2]); i > 0; i--)
            raise(SIGUSR1);
        return 0;
    }
    if (!strcmp(mode, "traceme")) {        /* the child asks its parent to trace it */
        pid_t child = fork();
        if (child == 0)
            _exit(ptrace(PTRACE_TRACEME, 0, 0, 0) ? 1 : 0);
        waitpid(child, NULL, 0);
        return 0;
    }
    if (!strcmp(mode, "attach-child")) {   /* attach, peek N times, detach */
        int n = argc > 2 ? atoi(argv[2]) : 1;
        pid_t child = fork();
        if (child == 0)
            for (;;)
                pause();
        printf("child %d\n", child);
        result("attach", ptrace(PTRACE_ATTACH, child, 0, 0));
        waitpid(child, NULL, 0);
        for (int i = 0; i < n; i++)
            ptrace(PTRACE_PEEKDATA, child, &peek_me, 0);
        ptrace(PTRACE_DETACH, child, 0, 0);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return 0;
    }
    if (!strcmp(mode, "attach") && argc > 2)
        return result("attach", ptrace(PTRACE_ATTACH, atoi(argv[2]), 0, 0));
    if (!strcmp(mode, "listen") && argc > 2) {  /* serve N connections */
        struct sockaddr_un a;
        socklen_t len = unix_addr(&a, argv[2]);
        int n = argc > 3 ? atoi(argv[3]) : 1;
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(s, (struct sockaddr *)&a, len) || listen(s, 8))
            return result("listen", -1), 1;
        result("listen", 0);
        alarm(60);
        for (int i = 0; i < n; i++)
            close(accept(s, NULL, NULL));
        return 0;
    }
    if (!strcmp(mode, "connect") && argc > 2) {
        struct sockaddr_un a;
        socklen_t len = unix_addr(&a, argv[2]);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        return result("connect", connect(s, (struct sockaddr *)&a, len));
    }
    fprintf(stderr, "usage: helper alarm|raise N|traceme|attach-child N|attach PID|listen PATH [N]|connect PATH\n");
    return 2;
}
"""


@pytest.fixture(scope="module")
def helper(tmp_path_factory) -> Path:
    """The ptrace/signal/unix-socket helper."""
    return static_helper(tmp_path_factory, "helper", HELPER_C)


def run_with_helper(containers, name: str, helper: Path, *command: str, volumes: tuple[str, ...] = ()) -> None:
    """A detached container with the helper at /helper."""
    containers.names.append(name)
    mounts = [arg for volume in volumes for arg in ("-v", volume)]
    docker("run", "-d", "--name", name, "-v", f"{helper}:/helper:ro", *mounts, IMAGE, *command)


def of_kind(events: list[dict], kind: str, **where: object) -> list[dict]:
    """Events of a type whose dotted fields have the given values."""
    def value(e: dict, path: str) -> object:
        for key in path.split("__"):
            e = e.get(key) if isinstance(e, dict) else None
        return e
    return [e for e in events if e["type"] == kind and all(value(e, k) == v for k, v in where.items())]


def assert_accounted(summary: dict) -> None:
    s = summary["trackers"]["signal"]
    assert s["submitted"] == sum(s["received"].values())
    assert s["lost"] == 0


def test_kill_names_sender_target_signal_and_failure(tracer, containers):
    name = unique("sig")
    containers.run(name, "sleep", "60", detach=True)
    cid = containers.full_id(name)
    t = tracer("signal", "exec", "-c", name)
    script = "sleep 30 & sleep 0.5; kill -0 $!; kill -TERM $!; echo $!; kill -9 99999; wait"
    out = docker("exec", name, "sh", "-c", script, check=False)
    refused = docker("exec", "--user", "1000", name, "kill", "-HUP", "1", check=False)
    events, summary = t.stop()
    assert "No such process" in out.stderr and "not permitted" in refused.stderr
    requested = int(out.stdout.strip())

    shell = [e for e in events_of(events, type="exec") if e["process"]["args"] == ["sh", "-c", script]]
    sleep = [e for e in events_of(events, type="exec") if e["process"]["args"] == ["sleep", "30"]]
    assert len(shell) == 1 and len(sleep) == 1
    shell_pid, sleep_pid = shell[0]["process"]["pid"], sleep[0]["process"]["pid"]

    # one kill() → one event, attributed to both ends (host pids)
    term = of_kind(events, "signal", signal__name="SIGTERM")
    assert len(term) == 1, term
    e = term[0]
    assert e["signal"] == {"name": "SIGTERM", "number": 15, "code": "SI_USER", "origin": "kill", "group": True}
    assert e["result"] == "delivered"
    assert e["process"]["pid"] == shell_pid and e["process"]["name"] == "sh"
    assert e["container"]["name"] == name and e["container"]["id"] == cid
    assert e["target"]["process"]["pid"] == sleep_pid
    assert e["target"]["process"]["name"] == "sleep"
    assert e["target"]["container"]["name"] == name and e["target"]["container"]["id"] == cid
    assert e["target"]["requested_pid"] == requested  # $! in the container's pid namespace

    # kill -9 of a pid that does not exist: no signal generated, the errno
    failed = of_kind(events, "signal", signal__name="SIGKILL")
    assert len(failed) == 1
    assert failed[0]["result"] == "ESRCH"
    assert failed[0]["signal"]["origin"] == "kill"
    assert failed[0]["target"] == {"requested_pid": 99999}
    assert failed[0]["process"]["pid"] == shell_pid

    # signal 0 only probes: nothing generated, the call succeeded
    probe = of_kind(events, "signal", signal__number=0)
    assert len(probe) == 1 and probe[0]["result"] == 0
    assert probe[0]["target"] == {"requested_pid": requested}
    # another user's process: refused before any signal exists
    hup = of_kind(events, "signal", signal__name="SIGHUP")
    assert len(hup) == 1 and hup[0]["result"] == "EPERM" and hup[0]["user"]["id"] == 1000
    assert hup[0]["target"] == {"requested_pid": 1}

    # the kernel's SIGCHLD for the killed sleep: sent while the sleep exited
    chld = of_kind(events, "signal", signal__name="SIGCHLD", process__pid=sleep_pid)
    assert len(chld) == 1
    assert chld[0]["signal"]["origin"] == "kernel" and chld[0]["signal"]["code"] == "CLD_KILLED"
    assert chld[0]["target"]["process"]["pid"] == shell_pid
    assert_accounted(summary)


def test_the_sigchld_of_a_busy_process_killed_is_the_kernels(tracer, containers):
    # killed while it ran user code, the child dies on the way back from the interrupt that stopped
    # it, above an entry frame like an interrupt's: its SIGCHLD is still the kernel's, sent by it
    name = unique("busy")
    containers.run(name, "sleep", "60", detach=True)
    t = tracer("signal", "-c", name)
    docker("exec", name, "sh", "-c", "sh -c 'while :; do :; done' & sleep 0.3; kill -9 $!; wait $!; true")
    events, summary = t.stop()
    [kill] = of_kind(events, "signal", signal__name="SIGKILL", signal__origin="kill")
    busy = kill["target"]["process"]["pid"]
    [chld] = of_kind(events, "signal", signal__name="SIGCHLD", process__pid=busy)
    assert chld["signal"]["origin"] == "kernel" and chld["signal"]["code"] == "CLD_KILLED"
    assert chld["target"]["process"]["pid"] == kill["process"]["pid"]  # the shell that killed it
    assert chld["container"]["name"] == name
    assert_accounted(summary)


def test_signal_filter_keeps_either_end_in_the_container(tracer, containers):
    keep, other = unique("keep"), unique("other")
    containers.run(keep, "sleep", "60", detach=True)
    containers.run(other, "sleep", "60", detach=True)
    keep_id, other_id = containers.full_id(keep), containers.full_id(other)
    keep_pid = int(docker("inspect", "--format", "{{.State.Pid}}", keep).stdout)
    other_pid = int(docker("inspect", "--format", "{{.State.Pid}}", other).stdout)
    host_sleep = subprocess.Popen(["sleep", "60"])
    try:
        t = tracer("signal", "-c", keep)
        # SIGCONT: harmless; a container's init ignores what it has no handler for
        os.kill(keep_pid, signal.SIGCONT)       # host → monitored container: kept
        os.kill(other_pid, signal.SIGCONT)      # host → other container: filtered
        os.kill(host_sleep.pid, signal.SIGCONT)  # host → host: filtered
        docker("exec", other, "sh", "-c", "sleep 5 & kill -TERM $!; wait", check=False)
        events, summary = t.stop()
    finally:
        host_sleep.kill()
        host_sleep.wait()

    signals = [e for e in events if e["type"] == "signal"]
    into_keep = [e for e in signals if e["target"].get("process", {}).get("pid") == keep_pid]
    assert len(into_keep) == 1
    e = into_keep[0]
    assert e["container"]["id"] == "host" and e["process"]["pid"] == os.getpid()
    assert e["target"]["container"]["name"] == keep and e["target"]["container"]["id"] == keep_id
    assert e["signal"]["name"] == "SIGCONT" and e["result"] == "ignored"
    # nothing of the other container or between host processes
    assert not [e for e in signals if other_id in (e["container"]["id"], e.get("target", {}).get("container", {}).get("id"))]
    assert not [e for e in signals if host_sleep.pid == e.get("target", {}).get("process", {}).get("pid")]
    assert summary["trackers"]["signal"]["filtered"] > 0
    assert_accounted(summary)


def test_timer_signal_has_no_sending_process(tracer, containers, helper):
    name = unique("alarm")
    run_with_helper(containers, name, helper, "sleep", "60")
    t = tracer("signal", "-c", name)
    docker("exec", name, "/helper", "alarm")
    docker("exec", name, "/helper", "raise", "50")
    events, summary = t.stop()
    # 50 identical signals a process sends itself: reported once
    raised = of_kind(events, "signal", signal__name="SIGUSR1")
    assert len(raised) == 1
    assert raised[0]["signal"]["origin"] == "tgkill" and raised[0]["result"] == "delivered"
    assert raised[0]["process"]["pid"] == raised[0]["target"]["process"]["pid"]
    alarms = of_kind(events, "signal", signal__name="SIGALRM")
    assert len(alarms) == 1
    e = alarms[0]
    # a timer interrupt sent it: the event belongs to the target, not to
    # whatever process the interrupt happened to stop
    assert e["signal"]["origin"] == "interrupt", e
    assert e["process"]["name"] == "helper" and e["process"]["pid"] == e["target"]["process"]["pid"]
    assert e["container"]["name"] == name and e["target"]["container"]["name"] == name
    assert_accounted(summary)


def test_ptrace_requests_name_request_target_and_result(tracer, containers, helper):
    name = unique("ptrace")
    run_with_helper(containers, name, helper, "sleep", "60")
    t = tracer("signal", "-c", name)
    docker("exec", name, "/helper", "traceme")
    out = docker("exec", name, "/helper", "attach-child", "20").stdout
    denied = docker("exec", "--user", "1000", name, "/helper", "attach", "1").stdout
    events, summary = t.stop()
    assert "attach ok" in out and "attach Operation not permitted" in denied
    child = int(out.split()[1])

    traceme = of_kind(events, "ptrace", ptrace__request="PTRACE_TRACEME")
    assert len(traceme) == 1 and traceme[0]["result"] == 0
    # the tracer-to-be is the parent
    assert traceme[0]["target"]["process"]["pid"] == traceme[0]["process"]["parent"]["pid"]

    attach = of_kind(events, "ptrace", ptrace__request="PTRACE_ATTACH", result=0)
    assert len(attach) == 1
    target = attach[0]["target"]
    assert target["requested_pid"] == child and target["process"]["name"] == "helper"
    assert target["container"]["name"] == name and attach[0]["container"]["name"] == name
    tracee = target["process"]["pid"]
    # 20 identical PEEKDATA requests: reported once
    peeks = of_kind(events, "ptrace", ptrace__request="PTRACE_PEEKDATA")
    assert len(peeks) == 1 and peeks[0]["result"] == 0
    assert peeks[0]["target"]["process"]["pid"] == tracee
    detach = of_kind(events, "ptrace", ptrace__request="PTRACE_DETACH")
    assert len(detach) == 1 and detach[0]["target"]["process"]["pid"] == tracee

    refused = of_kind(events, "ptrace", ptrace__request="PTRACE_ATTACH", result="EPERM")
    assert len(refused) == 1
    assert refused[0]["user"]["id"] == 1000
    assert refused[0]["target"] == {"requested_pid": 1}  # not a tracee: not resolved
    assert_accounted(summary)


def test_unix_connect_path_peer_and_failure(tracer, containers, helper):
    name = unique("unix")
    run_with_helper(containers, name, helper, "sleep", "60")
    t = tracer("signal", "-c", name)
    docker("exec", "-d", name, "/helper", "listen", "/tmp/sock")
    docker("exec", "-d", name, "/helper", "listen", "@eun-abstract")
    docker("exec", name, "sh", "-c", "while [ ! -S /tmp/sock ]; do sleep 0.05; done")
    # the abstract one listens too: the kernel lists it in the netns's /proc/net/unix
    docker("exec", name, "sh", "-c", "until grep -q ' @eun-abstract$' /proc/net/unix; do sleep 0.05; done",
           timeout=20)
    ok = docker("exec", name, "/helper", "connect", "/tmp/sock").stdout
    missing = docker("exec", name, "/helper", "connect", "/tmp/missing").stdout
    abstract = docker("exec", name, "/helper", "connect", "@eun-abstract").stdout
    events, summary = t.stop()
    assert ok.strip() == "connect ok" and "No such file" in missing and abstract.strip() == "connect ok"

    connects = of_kind(events, "unix_connect", unix__path="/tmp/sock")
    assert len(connects) == 1
    e = connects[0]
    assert e["result"] == 0 and e["unix"]["socket_type"] == "stream"
    assert e["process"]["name"] == "helper" and e["container"]["name"] == name
    # the listening process, from the socket's peer credentials
    assert e["target"]["process"]["name"] == "helper" and e["target"]["process"]["pid"] != e["process"]["pid"]
    assert e["target"]["container"]["name"] == name

    failed = of_kind(events, "unix_connect", unix__path="/tmp/missing")
    assert len(failed) == 1 and failed[0]["result"] == "ENOENT"
    assert "target" not in failed[0]

    hidden = of_kind(events, "unix_connect", unix__path="@eun-abstract")
    assert len(hidden) == 1 and hidden[0]["result"] == 0
    assert_accounted(summary)


def test_unix_connect_to_a_host_daemon_names_it(tracer, containers, helper):
    docker_sock = Path("/var/run/docker.sock")
    if not docker_sock.is_socket():
        pytest.skip("no Docker socket at /var/run/docker.sock")
    name = unique("dsock")
    run_with_helper(containers, name, helper, "sleep", "60", volumes=(f"{docker_sock}:/docker.sock",))
    t = tracer("signal", "-c", name)
    out = docker("exec", name, "/helper", "connect", "/docker.sock").stdout
    events, summary = t.stop()
    assert out.strip() == "connect ok"
    connects = of_kind(events, "unix_connect", unix__path="/docker.sock")
    assert len(connects) == 1
    e = connects[0]
    assert e["container"]["name"] == name and e["result"] == 0
    # the daemon listening on the host end: outside any container
    assert e["target"]["container"]["id"] == "host"
    assert e["target"]["process"]["pid"] > 0 and e["target"]["process"]["name"]
    assert_accounted(summary)
