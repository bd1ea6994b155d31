"""net: TCP connect/accept/close, bind/listen, and UDP peers per container.

Events: ``connect`` (with its outcome), ``accept``, ``close`` (bytes and
duration), ``bind``, ``listen``; ``socket`` (packet and raw sockets only)
and ``dup`` (an IP socket copied onto stdin, stdout or stderr); UDP traffic is aggregated in the kernel per
(container, peer) and printed as ``udp_peers`` records when tracing ends.
Both ends of a connection carry the container's name when it is one on this
host (see peers.py), which makes the container↔container map.
"""

import os

from eunomia.trackers import TrackerDef

from .addresses import format_ip, socket_family
from .peers import aggregates, post_enrich, watch_address_owners

# the syscall tracepoints need tracefs; without it connect/close still work
# (they come from raw tracepoints), accept, bind, listen and UDP peers do not
_SYSCALL_PROGRAMS = (
    "handle_enter_connect", "handle_exit_connect", "handle_exit_accept", "handle_exit_accept4",
    "handle_enter_bind", "handle_exit_bind", "handle_enter_listen", "handle_exit_listen",
    "handle_enter_sendto", "handle_enter_sendmsg", "handle_exit_sendto", "handle_exit_sendmsg",
    "handle_enter_recvfrom", "handle_enter_recvmsg", "handle_exit_recvfrom", "handle_exit_recvmsg",
    "handle_enter_socket", "handle_exit_socket", "handle_enter_dup", "handle_enter_dup2", "handle_enter_dup3",
    "handle_exit_dup", "handle_exit_dup2", "handle_exit_dup3",
)

def knobs() -> dict[str, int]:
    """The host's network namespace: its own addresses name no container."""
    try:
        return {"targ_host_netns": os.stat("/proc/self/ns/net").st_ino}
    except OSError:
        return {}


TRACKER = TrackerDef(
    name="net",
    summary="TCP connect/accept/close (bytes, duration), bind/listen, UDP peers, packet/raw sockets, sockets "
            "dup'ed onto stdio; containers at both ends",
    needs=("ringbuf", "raw_tracepoint"),
    optional_programs={program: "tracepoint" for program in _SYSCALL_PROGRAMS},
    ringbuf_bytes=4 << 20,
    fields={
        "result": "result",
        "transport": "network.transport",
        "direction": "network.direction",
        "saddr": "source.ip",
        "sport": "source.port",
        "daddr": "destination.ip",
        "dport": "destination.port",
        "bytes_sent": "network.bytes_sent",
        "bytes_received": "network.bytes_received",
        "duration": "network.duration_ms",
        "family": "socket.family",
        "sock_type": "socket.type",
        "protocol": "socket.protocol",
        "oldfd": "dup.old_fd",
    },
    formatters={"eun_ip_addr": format_ip, "eun_sock_family": socket_family},
    aggregates=aggregates,
    post_enrich=post_enrich,
    on_load=watch_address_owners,
    knobs=knobs,
)
