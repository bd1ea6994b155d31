"""net: TCP connect/accept/close, bind/listen, and UDP peers per container.

Events: ``connect`` (with its outcome), ``accept``, ``close`` (bytes and
duration), ``bind``, ``listen``; ``socket`` (packet and raw sockets only)
and ``dup`` (an IP socket copied onto stdin, stdout or stderr); UDP traffic is aggregated in the kernel per
(container, peer) and printed as ``udp_peers`` records when tracing ends.
Both ends of a connection carry the container's name when it is one on this
host (see peers.py), which makes the container↔container map.
"""

import os

from eunomia.trackers import Handles, TrackerDef

from .addresses import format_ip, socket_family
from .peers import aggregates, post_enrich, watch_address_owners

# the syscall handlers (net.bpf.c, sockfd.h).  The sends' and receives'
# entries see monitored tasks only; the other entries every task's (they
# count the calls the container filter discards), and so do the exits (a
# call's state goes; any accept teaches which container owns an address)
_MONITORED_ENTERS = ("sendto", "sendmsg", "recvfrom", "recvmsg")
_ENTERS = ("connect", "bind", "listen", "socket", "dup", "dup2", "dup3")
_EXITS = ("connect", "accept", "accept4", "bind", "listen", "sendto", "sendmsg", "recvfrom", "recvmsg",
          "socket", "dup", "dup2", "dup3")
SYSCALL_HANDLERS = {
    **{f"enter__{call}": Handles((call,)) for call in _MONITORED_ENTERS},
    **{f"enter__{call}": Handles((call,), every_task=True) for call in _ENTERS},
    **{f"exit__{call}": Handles((call,), every_task=True) for call in _EXITS},
}


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
    needs=("ringbuf", "raw_tracepoint", "tp_btf"),
    syscall_handlers=SYSCALL_HANDLERS,
    ringbuf_bytes=2 << 20,
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
