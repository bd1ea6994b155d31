"""Falco's stable rules, unchanged, firing in real containers on their own triggers.

Each test does what the rule describes (a server reading /etc/shadow after
startup, nc -e, a hard link to /etc/shadow, ptrace, ssh to a non-standard
port, …) in a busybox container (programs called by path: busybox's shell
runs applets through /proc/self/exe otherwise, so they would be named
`exe`), and checks the alert: the rule's name, the container, what the
output names.  The benign workload raises no alert at all.  Rules this side
cannot run yet are reported disabled (tests/unit/test_rules.py); the one
whose trigger this host cannot produce (a system user's interactive login)
is tested on recorded events there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..reference import reference_file
from .conftest import IMAGE, docker, static_helper, unique
from .test_signal_tracker import helper  # noqa: F401 - the ptrace helper, a fixture

pytestmark = pytest.mark.integration

ACTOR_C = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <sys/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 3 && !strcmp(argv[1], "later")) {        /* a server that reads a file after startup */
        sleep(atoi(argv[2]));
        int fd = open(argv[3], O_RDONLY);
        return fd < 0;
    }
    if (argc > 2 && !strcmp(argv[1], "spawn")) {        /* a server that runs a shell command */
        pid_t child = fork();
        if (child == 0) {
            execl("/bin/sh", "sh", "-c", argv[2], (char *)0);
            _exit(127);
        }
        int status;
        waitpid(child, &status, 0);
        return 0;
    }
    if (argc > 3 && !strcmp(argv[1], "connect")) {      /* an ssh client's connection */
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
        inet_pton(AF_INET, argv[2], &a.sin_addr);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        int r = connect(s, (struct sockaddr *)&a, sizeof a);
        close(s);
        return r != 0;
    }
    if (argc > 2 && !strcmp(argv[1], "serve")) {         /* a web server: one page per connection */
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8))
            return 1;
        for (;;) {
            int c = accept(s, 0, 0);
            char buf[1024];
            if (c < 0)
                continue;
            read(c, buf, sizeof buf);
            const char *page = "HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
            write(c, page, strlen(page));
            close(c);
        }
    }
    if (argc > 3 && !strcmp(argv[1], "memexec")) {      /* fileless: a program copied into memory, run from there */
        extern char **environ;
        char buf[65536];
        ssize_t n;
        int in = open(argv[2], O_RDONLY), fd = memfd_create("payload", MFD_CLOEXEC);
        while (in >= 0 && fd >= 0 && (n = read(in, buf, sizeof buf)) > 0)
            if (write(fd, buf, n) != n)
                return 1;
        fexecve(fd, argv + 3, environ);
        return 127;
    }
    if (argc > 1 && !strcmp(argv[1], "sniff")) {        /* a sniffer: every frame of the interfaces, one read */
        struct timeval wait = {.tv_sec = 0, .tv_usec = 200000};
        char frame[2048];
        int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
        if (s < 0)
            return 1;
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
        recv(s, frame, sizeof frame, 0);
        close(s);
        return 0;
    }
    fprintf(stderr, "usage: actor later S FILE | spawn CMD | connect IP PORT | serve PORT | memexec FILE ARGV... | "
                    "sniff\n");
    return 2;
}
"""


# a web server (the actor, mounted as /usr/sbin/nginx) and its client, a shell pipeline,
# writes under /tmp, a package-manager-like install into /usr/local
BENIGN_WORKLOAD = ("/usr/sbin/nginx serve 8080 & sleep 0.3; "
                   "/bin/wget -q -O /tmp/page http://127.0.0.1:8080/ && /bin/grep -q hello /tmp/page && "
                   "/bin/cat /etc/passwd | /bin/grep root | /bin/wc -l > /tmp/count; "
                   "mkdir -p /usr/local/bin /tmp/build; echo x > /tmp/build/tool; "
                   "cp /tmp/build/tool /usr/local/bin/tool && chmod 755 /usr/local/bin/tool && kill %1")


@pytest.fixture(scope="module")
def actor(tmp_path_factory) -> Path:
    return static_helper(tmp_path_factory, "actor", ACTOR_C)


def _alerts(tracer, containers, name: str, *run: str, detach_then: list[list[str]] | None = None,
            options: tuple[str, ...] = (), exec_options: tuple[str, ...] = (),
            trackers: tuple[str, ...] = (), default_rules: bool = False) -> list[dict]:
    """Run a container (or exec into one) under `eunomia run --rules <Falco's rules>`; its alerts."""
    agent = tracer("-c", name, "--rules", str(reference_file("falco_rules.yaml")),
                   *(() if default_rules else ("--no-default-rules",)),
                   "--metrics", "off", *(f"-t{t}" for t in trackers), command="run")
    containers.names.append(name)
    if detach_then is None:
        done = docker("run", "--name", name, *options, IMAGE, *run, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
    else:
        docker("run", "-d", "--name", name, *options, IMAGE, *run)
        for argv in detach_then:
            docker("exec", *exec_options, name, *argv, check=False, timeout=120)
    lines, summary = agent.stop()
    assert summary["lost"] == 0
    alerts = [line for line in lines if line["type"] == "alert"]
    assert {a["container"]["name"] for a in alerts} <= {name}
    return alerts


def _only(alerts: list[dict], rule: str) -> dict:
    assert [a["rule"] for a in alerts] == [rule], [(a["rule"], a["output"]) for a in alerts]
    return alerts[0]


def test_read_sensitive_file_untrusted(tracer, containers):
    alert = _only(_alerts(tracer, containers, unique("shadow"), "sh", "-c",
                          "echo 'root:*:1::::::' > /etc/shadow; /bin/cat /etc/shadow"),
                  "Read sensitive file untrusted")
    assert "file=/etc/shadow" in alert["output"] and "process=cat" in alert["output"]


def test_read_sensitive_file_trusted_after_startup(tracer, containers, actor):
    # a server (nginx) that has run for more than 5 s reads /etc/shadow; nginx is not among
    # the programs "Read sensitive file untrusted" leaves out, so that rule matches too
    alerts = _alerts(tracer, containers, unique("srv"), "sh", "-c",
                     "echo 'root:*:1::::::' > /etc/shadow; /usr/sbin/nginx later 6 /etc/shadow",
                     options=("-v", f"{actor}:/usr/sbin/nginx:ro"))
    assert sorted(a["rule"] for a in alerts) == ["Read sensitive file trusted after startup",
                                                  "Read sensitive file untrusted"]
    assert all("file=/etc/shadow" in a["output"] and "process=nginx" in a["output"] for a in alerts)


def test_a_server_reading_at_startup_is_not_after_startup(tracer, containers, actor):
    alerts = _alerts(tracer, containers, unique("srv"), "sh", "-c",
                     "echo 'root:*:1::::::' > /etc/shadow; /usr/sbin/nginx later 0 /etc/shadow",
                     options=("-v", f"{actor}:/usr/sbin/nginx:ro"))
    assert [a["rule"] for a in alerts] == ["Read sensitive file untrusted"]


def test_run_shell_untrusted(tracer, containers, actor):
    alert = _only(_alerts(tracer, containers, unique("web"), "/usr/sbin/nginx", "spawn", "/bin/cat /etc/hostname",
                          options=("-v", f"{actor}:/usr/sbin/nginx:ro")), "Run shell untrusted")
    assert "parent=nginx" in alert["output"] and "command=sh -c /bin/cat /etc/hostname" in alert["output"]


def test_netcat_remote_code_execution(tracer, containers):
    alert = _only(_alerts(tracer, containers, unique("nc"), "sh", "-c",
                          "/bin/nc -l -p 9999 -e /bin/true & sleep 0.3; kill %1"),
                  "Netcat Remote Code Execution in Container")
    assert "-e /bin/true" in alert["output"]


def test_search_private_keys_or_passwords(tracer, containers):
    alert = _only(_alerts(tracer, containers, unique("keys"), "sh", "-c",
                          "/bin/grep -r 'BEGIN RSA PRIVATE' /etc; true"), "Search Private Keys or Passwords")
    assert "BEGIN RSA PRIVATE" in alert["output"]


def test_find_aws_credentials(tracer, containers):
    _only(_alerts(tracer, containers, unique("aws"), "sh", "-c",
                  "/bin/grep -r aws_secret_access_key /root; true"), "Find AWS Credentials")


def test_clear_log_activities(tracer, containers):
    alert = _only(_alerts(tracer, containers, unique("logs"), "sh", "-c",
                          "mkdir -p /var/log; echo x > /var/log/messages; : > /var/log/messages"),
                  "Clear Log Activities")
    assert "file=/var/log/messages" in alert["output"]


def test_remove_bulk_data_from_disk(tracer, containers):
    _only(_alerts(tracer, containers, unique("shred"), "sh", "-c", "echo x > /tmp/f; /bin/shred /tmp/f"),
          "Remove Bulk Data from Disk")


def test_create_symlink_over_sensitive_files(tracer, containers):
    alert = _only(_alerts(tracer, containers, unique("sym"), "/bin/ln", "-s", "/etc/shadow", "/tmp/s"),
                  "Create Symlink Over Sensitive Files")
    assert "target=/etc/shadow" in alert["output"]


def test_create_hardlink_over_sensitive_files(tracer, containers):
    alert = _only(_alerts(tracer, containers, unique("hard"), "sh", "-c",
                          "echo 'root:*:1::::::' > /etc/shadow; /bin/ln /etc/shadow /tmp/h"),
                  "Create Hardlink Over Sensitive Files")
    assert "target=/etc/shadow" in alert["output"]


def test_ptrace_attached_to_process(tracer, containers, helper):  # noqa: F811
    alert = _only(_alerts(tracer, containers, unique("ptrace"), "/helper", "attach-child", "1",
                          options=("-v", f"{helper}:/helper:ro", "--cap-add", "SYS_PTRACE")),
                  "PTRACE attached to process")
    assert "process=helper" in alert["output"]


def test_ptrace_anti_debug_attempt(tracer, containers, helper):  # noqa: F811
    _only(_alerts(tracer, containers, unique("traceme"), "/helper", "traceme",
                  options=("-v", f"{helper}:/helper:ro")), "PTRACE anti-debug attempt")


def test_execution_from_dev_shm(tracer, containers):
    alert = _only(_alerts(tracer, containers, unique("shm"), "sh", "-c",
                          "cp /bin/busybox /dev/shm/true; /dev/shm/true",
                          options=("--tmpfs", "/dev/shm:rw,exec")), "Execution from /dev/shm")
    assert "/dev/shm/true" in alert["output"]


def test_disallowed_ssh_connection_non_standard_port(tracer, containers, actor):
    # the server sits on a network this test creates, outside RFC 1918 (100.64/10)
    network, server = unique("ssh-net"), unique("ssh-srv")
    docker("network", "create", "--subnet", "100.64.91.0/24", network)
    try:
        containers.names.append(server)
        docker("run", "-d", "--name", server, "--network", network, "--ip", "100.64.91.10", IMAGE,
               "nc", "-ll", "-p", "443", "-e", "/bin/true")
        alert = _only(_alerts(tracer, containers, unique("ssh"), "sh", "-c",
                              "sleep 0.5; /usr/bin/ssh connect 100.64.91.10 443",
                              options=("--network", network, "-v", f"{actor}:/usr/bin/ssh:ro")),
                      "Disallowed SSH Connection Non Standard Port")
        assert "100.64.91.10" in alert["output"]
    finally:
        docker("rm", "-f", server, check=False)
        docker("network", "rm", network, check=False)


def test_terminal_shell_in_container(tracer, containers):
    # `docker exec -t` gives the shell a terminal; the same shell without one is no alert
    alert = _only(_alerts(tracer, containers, unique("tty"), "sleep", "30",
                          detach_then=[["/bin/sh", "-c", "true"]], exec_options=("-t",)),
                  "Terminal shell in container")
    assert "process=sh" in alert["output"] and "command=sh -c true" in alert["output"]
    tty = int(re.search(r"terminal=(\d+)", alert["output"]).group(1))
    assert 136 <= tty >> 8 <= 143  # a Unix 98 pseudo-terminal (/dev/pts/N)
    assert _alerts(tracer, containers, unique("notty"), "sleep", "30", detach_then=[["/bin/sh", "-c", "true"]]) == []


def test_drop_and_execute_new_binary_in_container(tracer, containers):
    # a program written into the container (its overlay's upper layer) and run; the image's own is not
    alert = _only(_alerts(tracer, containers, unique("drop"), "sh", "-c",
                          "cp /bin/busybox /tmp/echo; /tmp/echo dropped; /bin/echo shipped"),
                  "Drop and execute new binary in container")
    assert "proc_exe=/tmp/echo" in alert["output"] and "command=echo dropped" in alert["output"]


def test_fileless_execution_via_memfd_create(tracer, containers, actor):
    alert = _only(_alerts(tracer, containers, unique("memfd"), "/usr/bin/loader", "memexec", "/bin/busybox",
                          "echo", "fileless", options=("-v", f"{actor}:/usr/bin/loader:ro")),
                  "Fileless execution via memfd_create")
    assert "proc_exepath=memfd:payload" in alert["output"] and "command=" in alert["output"]


def test_detect_release_agent_file_container_escapes(tracer, containers):
    # the escape's first step: a cgroup v1 hierarchy mounted in the container, its release_agent opened
    # to write (with nothing written: the host's hierarchy is left as it was)
    escape = "mkdir -p /mnt/cg && mount -t cgroup -o pids cgroup /mnt/cg && : >> /mnt/cg/release_agent"
    alert = _only(_alerts(tracer, containers, unique("agent"), "sh", "-c", escape,
                          options=("--cap-add", "SYS_ADMIN", "--security-opt", "apparmor=unconfined",
                                   "--security-opt", "seccomp=unconfined")),
                  "Detect release_agent File Container Escapes")
    assert "file=/mnt/cg/release_agent" in alert["output"] and "CAP_SYS_ADMIN" in alert["output"]
    # without CAP_SYS_ADMIN a file of that name is only a file
    assert _alerts(tracer, containers, unique("noagent"), "sh", "-c", ": >> /tmp/release_agent") == []


def test_debugfs_outside_a_privileged_container_is_no_alert(tracer, containers, actor):
    # every capability but one (the most this host allows) is not --privileged: Docker's flag decides
    assert _alerts(tracer, containers, unique("debugfs"), "/sbin/debugfs", "later", "0", "/etc/hostname",
                   options=("-v", f"{actor}:/sbin/debugfs:ro", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE")) == []


def test_packet_socket_created_in_container(tracer, containers, actor):
    alert = _only(_alerts(tracer, containers, unique("sniff"), "/usr/sbin/tcpdump", "sniff",
                          options=("-v", f"{actor}:/usr/sbin/tcpdump:ro")), "Packet socket created in container")
    assert "process=tcpdump" in alert["output"]
    assert alert["event"]["socket"] == {"family": "AF_PACKET", "type": "raw", "protocol": 0x0300}  # ETH_P_ALL


def test_redirect_stdout_stdin_to_network_connection(tracer, containers):
    # nc -e hands the accepted connection to the program as its stdin and stdout (dup2 onto 0 and 1)
    alerts = _alerts(tracer, containers, unique("revsh"), "sh", "-c",
                     "/bin/nc -l -p 4444 -e /bin/true & sleep 0.3; /bin/nc 127.0.0.1 4444 </dev/null; wait")
    redirects = [a for a in alerts if a["rule"] == "Redirect STDOUT/STDIN to Network Connection in Container"]
    assert {a["rule"] for a in alerts} == {"Netcat Remote Code Execution in Container", redirects[0]["rule"]}
    assert sorted(a["event"]["result"] for a in redirects) == [0, 1]
    assert all("connection=127.0.0.1:4444->127.0.0.1:" in a["output"] and "fd_type=ipv4" in a["output"]
               for a in redirects)


def test_linux_kernel_module_injection(tracer, containers):
    # busybox insmod tries finit_module, then init_module (this kernel has no modules: both fail with
    # ENOSYS, after the attempt was seen); without CAP_SYS_MODULE (and without the seccomp profile, which
    # would refuse the calls before they start) the same attempt is no alert
    insmod = "echo x > /tmp/evil.ko; /bin/insmod /tmp/evil.ko debug=1; true"
    alerts = _alerts(tracer, containers, unique("insmod"), "sh", "-c", insmod, options=("--cap-add", "SYS_MODULE"),
                     trackers=("exec", "syscall"))
    assert [a["rule"] for a in alerts] == ["Linux Kernel Module Injection Detected"] * 2
    assert [a["event"]["module"]["syscall"] for a in alerts] == ["finit_module", "init_module"]
    assert all("module=/tmp/evil.ko debug=1" in a["output"] for a in alerts)
    # … while the attempt was seen: Eunomia's default rule (no capability in its condition) fires
    unprivileged = _alerts(tracer, containers, unique("noinsmod"), "sh", "-c", insmod,
                           options=("--security-opt", "seccomp=unconfined"), trackers=("exec", "syscall"),
                           default_rules=True)
    assert [a["rule"] for a in unprivileged] == ["Kernel module load attempted in a container"] * 2


def test_directory_traversal_monitored_file_read(tracer, containers, actor, tmp_path):
    # a web server (nginx, started by the runtime: no shell parent) asked for ../../etc/passwd
    # under its web root; its read of /etc/passwd by the plain path is no traversal
    www = tmp_path / "www"
    www.mkdir()
    options = ("-v", f"{actor}:/usr/sbin/nginx:ro", "-v", f"{www}:/srv/www:ro")
    alert = _only(_alerts(tracer, containers, unique("trav"), "/usr/sbin/nginx", "later", "0",
                          "/srv/www/../../etc/passwd", options=options), "Directory traversal monitored file read")
    assert "file=/etc/passwd" in alert["output"] and "fileraw=/srv/www/../../etc/passwd" in alert["output"]
    assert alert["event"]["file"]["given_path"] == "/srv/www/../../etc/passwd"
    assert _alerts(tracer, containers, unique("notrav"), "/usr/sbin/nginx", "later", "0", "/etc/passwd",
                   options=options) == []


def test_a_benign_workload_raises_no_alert(tracer, containers, actor):
    # a web server and its client, a shell pipeline, writes under /tmp, an install into /usr/local
    assert _alerts(tracer, containers, unique("benign"), "sh", "-c", BENIGN_WORKLOAD,
                   options=("-v", f"{actor}:/usr/sbin/nginx:ro")) == []
