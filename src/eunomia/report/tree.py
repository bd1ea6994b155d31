"""The process tree of a container, from the pid/parent_pid of report.json.

A pid has one node; the programs it ran (a fork, then each exec) are listed
in the node in recorded order.  Parents that are not in the report make
roots; a loop of parents (pid reuse) is broken so every process shows once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .model import Process


@dataclass
class ProcNode:
    pid: int
    programs: list[Process] = field(default_factory=list)
    children: list[ProcNode] = field(default_factory=list)

    @property
    def parent_pid(self) -> int | None:
        return self.programs[0].parent_pid if self.programs else None


def process_forest(processes: Iterable[Process]) -> list[ProcNode]:
    nodes: dict[int, ProcNode] = {}
    for process in processes:
        nodes.setdefault(process.pid, ProcNode(process.pid)).programs.append(process)
    roots: list[ProcNode] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_pid) if node.parent_pid is not None else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    seen = {id(n) for _, n in walk(roots)}
    for node in nodes.values():   # in a parent loop: no root reaches it
        if id(node) not in seen:
            parent = nodes[node.parent_pid]  # type: ignore[index]
            parent.children = [c for c in parent.children if c is not node]
            roots.append(node)
            seen.update(id(n) for _, n in walk([node]))
    return roots


def walk(roots: list[ProcNode], limit: int | None = None) -> Iterator[tuple[int, ProcNode]]:
    """(depth, node) in pre-order, without recursion; at most `limit` nodes."""
    stack = [(0, n) for n in reversed(roots)]
    done = 0
    while stack and (limit is None or done < limit):
        depth, node = stack.pop()
        yield depth, node
        done += 1
        stack.extend((depth + 1, c) for c in reversed(node.children))


def count(roots: list[ProcNode]) -> int:
    return sum(1 for _ in walk(roots))
