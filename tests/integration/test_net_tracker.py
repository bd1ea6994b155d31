"""The net tracker against real containers on a Docker network the test
creates: connect/accept/close with exact byte counts, refused connections,
published ports through the bridge gateway, IPv6 on loopback, bind/listen,
UDP peers, and the container filter working in the kernel.

Clients connect the moment they start: the server's accept is named by the
client's address before Docker's "start" event says which container holds
it (the kernel's address_owners map does).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

from .conftest import IMAGE, docker, unique

PAYLOAD_BYTES = 1234
SEND_PAYLOAD = f"printf '%0{PAYLOAD_BYTES}d' 0"   # exactly PAYLOAD_BYTES bytes, no newline


@pytest.fixture
def network() -> Iterator[str]:
    name = unique("eun-net")
    docker("network", "create", name)
    yield name
    attached = docker("network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", name,
                      check=False).stdout.split()
    if attached:
        docker("rm", "-f", *attached, check=False)
    docker("network", "rm", name, check=False)


def run(containers: Any, name: str, flags: list[str], command: str, detach: bool = True) -> str:
    """docker run with flags (network, ports, sysctls); returns stdout."""
    containers.names.append(name)
    result = docker("run", *(["-d"] if detach else []), "--name", name, *flags, IMAGE, "sh", "-c", command,
                    check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def ip_of(name: str, network: str) -> str:
    return docker("inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
                  name).stdout.strip()


def gateway_of(network: str) -> str:
    return docker("network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", network).stdout.strip()


def wait_listening(name: str, port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out = docker("exec", name, "netstat", "-ltn", check=False).stdout
        if f":{port} " in out:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} does not listen on {port}")


def echo_server(containers: Any, network: str, name: str, flags: list[str] = ()) -> str:
    """A container echoing every TCP connection on 8080; returns its address."""
    run(containers, name, ["--network", network, *flags], "exec nc -ll -p 8080 -e cat")
    wait_listening(name, 8080)
    return ip_of(name, network)


def net_events(events: list[dict], container: str, kind: str) -> list[dict]:
    return [e for e in events if e["container"]["name"] == container and e["type"] == kind]


def one(matches: list[dict], what: str) -> dict:
    assert len(matches) == 1, f"expected one {what}, got {len(matches)}: {matches}"
    return matches[0]


def test_tcp_between_containers_names_both_ends_and_counts_bytes(tracer, network, containers):
    server, client = unique("srv"), unique("cli")
    t = tracer("net")
    server_ip = echo_server(containers, network, server)
    echoed = run(containers, client, ["--network", network],
                 f"{SEND_PAYLOAD} | nc -w 3 {server_ip} 8080; nc -w 2 {server_ip} 8081; true",
                 detach=False)
    assert echoed == "0" * PAYLOAD_BYTES
    client_ip = ip_of(client, network) or None
    events, summary = t.stop()

    bind = one(net_events(events, server, "bind"), "bind")
    assert (bind["source"]["port"], bind["network"]["transport"], bind["result"]) == (8080, "tcp", 0)
    assert bind["source"]["container"] == server and "destination" not in bind
    listen = one(net_events(events, server, "listen"), "listen")
    assert (listen["source"]["port"], listen["result"]) == (8080, 0)

    connects = net_events(events, client, "connect")
    ok = one([e for e in connects if e["destination"]["port"] == 8080], "connect to 8080")
    assert ok["result"] == 0
    assert ok["destination"] == {"ip": server_ip, "port": 8080, "container": server}
    assert ok["source"]["container"] == client
    assert ok["source"]["port"] > 0
    assert ok["network"] == {"transport": "tcp", "direction": "outbound", "type": "ipv4"}
    assert ok["process"]["name"] == "nc"

    # the server's nc listens on :: — the IPv4-mapped peer is shown as IPv4
    accept = one(net_events(events, server, "accept"), "accept")
    assert accept["source"]["port"] == ok["source"]["port"]
    assert accept["source"]["container"] == client
    assert accept["destination"] == {"ip": server_ip, "port": 8080, "container": server}
    assert accept["network"]["type"] == "ipv4" and accept["network"]["direction"] == "inbound"
    if client_ip is not None:
        assert ok["source"]["ip"] == accept["source"]["ip"] == client_ip

    closes = {e["container"]["name"]: e for e in events if e["type"] == "close"
              and e["source"]["port"] == ok["source"]["port"]}
    mine, theirs = closes[client], closes[server]
    assert (mine["network"]["bytes_sent"], mine["network"]["bytes_received"]) == (PAYLOAD_BYTES, PAYLOAD_BYTES)
    assert (theirs["network"]["bytes_sent"], theirs["network"]["bytes_received"]) == (PAYLOAD_BYTES, PAYLOAD_BYTES)
    assert mine["network"]["duration_ms"] > 0 and mine["result"] == 0
    assert mine["destination"]["container"] == server and theirs["source"]["container"] == client
    # the close runs in softirq context: attributed to the task that connected
    assert mine["process"]["pid"] == ok["process"]["pid"]

    refused = one([e for e in connects if e["destination"]["port"] == 8081], "connect to 8081")
    assert refused["result"] == "ECONNREFUSED"
    assert refused["destination"]["container"] == server
    assert not [e for e in events if e["type"] == "close" and e["destination"].get("port") == 8081]
    assert summary["trackers"]["net"]["lost"] == 0


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def test_published_port_reached_through_the_gateway(tracer, network, containers):
    server, client = unique("pub"), unique("cli")
    gateway = gateway_of(network)
    host_port = free_port(gateway)
    # published on the gateway of the test's own network only
    echo_server(containers, network, server, ["-p", f"{gateway}:{host_port}:8080"])
    t = tracer("net")
    echoed = run(containers, client, ["--network", network],
                 f"{SEND_PAYLOAD} | nc -w 3 {gateway} {host_port}", detach=False)
    assert echoed == "0" * PAYLOAD_BYTES
    events, _ = t.stop()

    connect = one(net_events(events, client, "connect"), "connect")
    assert connect["result"] == 0
    assert connect["destination"] == {"ip": gateway, "port": host_port, "container": server}
    assert connect["source"]["container"] == client
    accept = one(net_events(events, server, "accept"), "accept")
    assert accept["destination"]["port"] == 8080 and accept["destination"]["container"] == server
    # the client end is Docker's userland proxy (a host process) or, with NAT hairpin, the client
    assert accept["source"]["container"] in (None, client)


def test_ipv6_loopback_inside_one_container(tracer, containers):
    name = unique("v6")
    t = tracer("net")
    got = run(containers, name, ["--sysctl", "net.ipv6.conf.all.disable_ipv6=0"],
              "nc -l -p 9000 > /tmp/got & sleep 0.5; printf hello6 | nc -w 1 ::1 9000; sleep 0.3; cat /tmp/got",
              detach=False)
    assert got == "hello6"
    events, _ = t.stop()

    bind = one([e for e in net_events(events, name, "bind") if e["source"]["port"] == 9000], "bind")
    assert bind["source"]["ip"] == "::" and bind["network"]["type"] == "ipv6"
    listen = one(net_events(events, name, "listen"), "listen")
    assert listen["source"]["port"] == 9000
    connect = one(net_events(events, name, "connect"), "connect")
    assert connect["result"] == 0
    assert connect["network"]["type"] == "ipv6"
    assert connect["destination"] == {"ip": "::1", "port": 9000, "container": name}
    assert connect["source"]["ip"] == "::1" and connect["source"]["container"] == name
    accept = one(net_events(events, name, "accept"), "accept")
    assert accept["source"] == {"ip": "::1", "port": connect["source"]["port"], "container": name}
    assert accept["destination"]["port"] == 9000
    closes = {e["network"]["direction"]: e for e in net_events(events, name, "close")}
    assert closes["outbound"]["network"]["bytes_sent"] == len("hello6")
    assert closes["inbound"]["network"]["bytes_received"] == len("hello6")


def test_connect_failing_before_any_packet(tracer, containers):
    """--network none has no route: connect() fails at once, no packet leaves
    the container's namespace; the errno comes from the syscall's exit."""
    name = unique("nonet")
    t = tracer("net")
    run(containers, name, ["--network", "none"], "nc -w 1 203.0.113.1 80; true", detach=False)
    events, _ = t.stop()

    connect = one(net_events(events, name, "connect"), "connect")
    assert connect["result"] == "ENETUNREACH"
    assert connect["destination"] == {"ip": "203.0.113.1", "port": 80, "container": None}
    assert connect["source"]["container"] == name
    assert not net_events(events, name, "close")


def test_udp_peers_between_containers(tracer, network, containers):
    target, sender = unique("udp"), unique("snd")
    run(containers, target, ["--network", network], "exec sleep 60")
    target_ip = ip_of(target, network)
    t = tracer("net")
    # one probe of 100 bytes on the wire: 72 bytes of UDP payload, sent with sendto()
    run(containers, sender, ["--network", network],
        f"traceroute -n -q 1 -m 1 -p 5000 {target_ip} 100", detach=False)
    events, summary = t.stop()

    peers = [e for e in events if e["type"] == "udp_peers" and e["container"]["name"] == sender]
    record = one([r for r in peers if r["destination"]["ip"] == target_ip], "udp_peers record")
    assert record["destination"] == {"ip": target_ip, "port": 5000, "container": target}
    assert (record["bytes_sent"], record["packets_sent"]) == (72, 1)
    assert summary["trackers"]["net"]["map_full"] == 0


UDP_SCRIPT = r"""
import json, socket
v4, v6 = socket.AF_INET, socket.AF_INET6
r = socket.socket(v4, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0))
s = socket.socket(v4, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
for _ in range(3):
    s.sendto(b"a" * 100, r.getsockname())          # unconnected sendto
    r.recvfrom(2048)                                # recvfrom names the source
s.sendmsg([b"b" * 50], [], 0, r.getsockname())      # sendmsg with msg_name
r.recvmsg(2048)
c = socket.socket(v4, socket.SOCK_DGRAM); c.connect(r.getsockname())
for _ in range(2):
    c.send(b"c" * 30)                               # connected: the socket names the peer
    r.recvfrom(2048)
r.sendto(b"d" * 20, c.getsockname())
c.recv(2048)
r6 = socket.socket(v6, socket.SOCK_DGRAM); r6.bind(("::1", 0))
s6 = socket.socket(v6, socket.SOCK_DGRAM); s6.bind(("::1", 0))
s6.sendto(b"e" * 77, r6.getsockname())
r6.recvfrom(2048)
print(json.dumps({n: x.getsockname()[1] for n, x in (("r", r), ("s", s), ("c", c), ("r6", r6), ("s6", s6))}))
"""


def test_udp_send_and_receive_paths_on_host_loopback(tracer):
    t = tracer("net", "--host")
    ports = json.loads(subprocess.run([sys.executable, "-c", UDP_SCRIPT], capture_output=True, text=True,
                                      check=True, timeout=30).stdout)
    events, _ = t.stop()

    host = {(r["destination"]["ip"], r["destination"]["port"]): r for r in events
            if r["type"] == "udp_peers" and r["container"]["id"] == "host"}

    def counts(ip: str, port: int) -> tuple[int, int, int, int]:
        r = host[(ip, port)]
        return r["bytes_sent"], r["packets_sent"], r["bytes_received"], r["packets_received"]

    # to r: s (3×100 sendto + 50 sendmsg) and c (2×30 connected); from r: 20 (connected recv)
    assert counts("127.0.0.1", ports["r"]) == (300 + 50 + 60, 6, 20, 1)
    assert counts("127.0.0.1", ports["s"]) == (0, 0, 350, 4)    # r's recvfrom/recvmsg named s
    assert counts("127.0.0.1", ports["c"]) == (20, 1, 60, 2)
    assert counts("::1", ports["r6"]) == (77, 1, 0, 0)
    assert counts("::1", ports["s6"]) == (0, 0, 77, 1)


def test_filter_keeps_only_the_selected_container_in_kernel(tracer, network, containers):
    server, client = unique("keep"), unique("other")
    server_ip = echo_server(containers, network, server)
    t = tracer("net", "-c", server)
    run(containers, client, ["--network", network],
        f"{SEND_PAYLOAD} | nc -w 3 {server_ip} 8080; traceroute -n -q 1 -m 1 -p 5000 {server_ip} 100",
        detach=False)
    events, summary = t.stop()

    assert not [e for e in events if e["container"]["name"] == client]
    accept = one(net_events(events, server, "accept"), "accept")
    assert accept["source"]["container"] == client
    closes = net_events(events, server, "close")
    assert [c["network"]["bytes_received"] for c in closes] == [PAYLOAD_BYTES]
    stats = summary["trackers"]["net"]
    assert stats["filtered"] > 0
    assert stats["submitted"] == sum(stats["received"].values())
    assert stats["lost"] == 0


def test_address_owners_hold_container_addresses_not_the_hosts(network, containers):
    """The kernel's address_owners map learns a container's own address from its
    connect, and never an address of the host's network namespace (a host
    process, or a --network host container, uses the host's addresses)."""
    import contextlib

    from eunomia import trackers as tracker_registry
    from eunomia.cli.context import build_context
    from eunomia.pipeline.scope import Scope
    from eunomia.pipeline.session import TraceSession
    from eunomia.trackers.net.addresses import address_key

    gateway = gateway_of(network)
    client = unique("owner")
    context = build_context()
    session = TraceSession(tracker_registry.select(["net"]), Scope(host=True), context)
    with session, contextlib.closing(context):
        with socket.socket() as s:  # the host connects from its gateway address: refused, but SYN_SENT
            s.settimeout(2)
            with contextlib.suppress(OSError):
                s.connect((gateway, 1))
        run(containers, client, ["--network", network], "exec sleep 60")
        docker("exec", client, "sh", "-c", f"nc -w 1 {gateway} 1; true")
        client_ip = ip_of(client, network)
        session.drain(lambda tracker, event: None)
        owners = [r for r in session._running if r.tracker.name == "net"][0].obj.maps["address_owners"]
        owners = owners.typed("16s", "<Q")
        assert owners.get(address_key(gateway)) is None
        owner = owners.get(address_key(client_ip))
        assert owner is not None
        assert context.registry.container_of(owner).name == client
