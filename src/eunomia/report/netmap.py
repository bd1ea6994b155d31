"""Who talked to whom: the container network map of a recording, and its layout.

Nodes are the recorded containers, the peers that were not recorded, and one
"host / outside" node for connections without a peer container.  An edge
comes from each connection: outbound ones go from the container to its peer;
inbound ones only when the peer's own report cannot tell (it was not
recorded, or its report.json is missing), then from the peer to the
container.  Connections of unknown direction (UDP) go from the container to
the peer without an arrow, unless a connection with a direction shares the
edge.  One edge per ordered pair of nodes, labelled with its services.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .model import Connection, ContainerRecording

HOST_KEY = "host:outside"
HOST_LABEL = "host / outside"

NODE_W, NODE_H = 170, 38
MARGIN = 70


@dataclass
class Node:
    key: str
    label: str
    kind: str                 # "container", "missing" (no report.json), "peer" (not recorded), "host"
    x: float = 0.0
    y: float = 0.0


@dataclass
class Edge:
    src: str
    dst: str
    directed: bool
    services: dict[tuple[str, Optional[int]], int] = field(default_factory=dict)  # (transport, port) -> count

    @property
    def count(self) -> int:
        return sum(self.services.values())

    def service_labels(self) -> list[str]:
        ordered = sorted(self.services.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or 0))
        return [f"{t}/{port if port is not None else '?'} ×{n}" for (t, port), n in ordered]


@dataclass
class NetworkMap:
    nodes: dict[str, Node]
    edges: list[Edge]
    width: float = 0.0
    height: float = 0.0

    def label(self, key: str) -> str:
        return self.nodes[key].label


def build_map(containers: list[ContainerRecording],
              selected: Optional[Iterable[ContainerRecording]] = None) -> NetworkMap:
    """The map of every recorded container; with `selected`, only edges touching those."""
    nodes: dict[str, Node] = {}
    for c in containers:
        nodes[_key(c)] = Node(_key(c), c.display_name, "container" if c.report else "missing")
    edges: dict[tuple[str, str], Edge] = {}
    for c in containers:
        if c.report is None:
            continue
        for conn in c.report.connections:
            ends = _ends(c, conn, containers)
            if ends is None:
                continue
            (src, src_label, src_kind), (dst, dst_label, dst_kind), directed = ends
            for key, label, kind in ((src, src_label, src_kind), (dst, dst_label, dst_kind)):
                nodes.setdefault(key, Node(key, label, kind))
            edge = edges.setdefault((src, dst), Edge(src, dst, directed))
            edge.directed = edge.directed or directed
            service = (conn.transport, conn.destination.port)
            edge.services[service] = edge.services.get(service, 0) + conn.count
    kept = list(edges.values())
    if selected is not None:
        keys = {_key(c) for c in selected}
        kept = [e for e in kept if e.src in keys or e.dst in keys]
        used = keys | {e.src for e in kept} | {e.dst for e in kept}
        nodes = {k: n for k, n in nodes.items() if k in used}
    result = NetworkMap(nodes=nodes, edges=kept)
    circular_layout(result)
    return result


def _key(c: ContainerRecording) -> str:
    return "container:" + c.entry.folder


def _ends(c: ContainerRecording, conn: Connection, containers: list[ContainerRecording]):
    """((src key, label, kind), (dst key, label, kind), directed), or None when the edge is not drawn."""
    me = (_key(c), c.display_name, "container")
    peer = _peer(conn.peer_container, containers)
    if peer is not None and peer[0] == me[0]:
        return None   # talking to itself: in its tables, not on the map
    if conn.direction == "inbound":
        recorded = peer is not None and peer[2] == "container"
        if recorded:
            return None   # the peer's outbound connection draws it
        return (peer or (HOST_KEY, HOST_LABEL, "host")), me, True
    return me, (peer or (HOST_KEY, HOST_LABEL, "host")), conn.direction == "outbound"


def _peer(name: Optional[str], containers: list[ContainerRecording]) -> Optional[tuple[str, str, str]]:
    if name is None:
        return None
    for c in containers:
        if name in (c.name, c.id) or (len(name) >= 12 and c.id.startswith(name)):
            return _key(c), c.display_name, "container" if c.report else "missing"
    return "peer:" + name, name, "peer"


def circular_layout(graph: NetworkMap) -> None:
    """Nodes on a circle (chords never cross a node), containers first, the host last."""
    order = {"container": 0, "missing": 0, "peer": 1, "host": 2}
    nodes = sorted(graph.nodes.values(), key=lambda n: (order[n.kind], n.label, n.key))
    n = len(nodes)
    if n == 0:
        graph.width, graph.height = 2 * MARGIN + NODE_W, 2 * MARGIN
        return
    if n == 1:
        radius = 0.0
    else:
        # adjacent nodes at least a node width (and a gap) apart along the chord
        radius = max(150.0, (NODE_W + 50) / (2 * math.sin(math.pi / n)))
    cx = radius + NODE_W / 2 + MARGIN
    cy = radius + NODE_H / 2 + MARGIN
    for i, node in enumerate(nodes):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        node.x = cx + radius * math.cos(angle)
        node.y = cy + radius * math.sin(angle)
    graph.width = 2 * cx
    graph.height = 2 * cy
