"""Bytes read and written per (container, file), from the kernel's map.

The kernel counts every successful read/write-family call on a regular
file in `file_bytes`, keyed by {cgroup id, inode, device}, per CPU (summed
here); nothing is streamed.  A container may own several cgroups (nested ones): their counts
are summed here.  Paths come from the open events seen while tracing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eunomia.context.model import container_fields

from .formats import device
from .paths import PathMemory

MAP_NAME = "file_bytes"
COUNTERS = ("bytes_read", "bytes_written", "reads", "writes", "opens")


def file_bytes_records(entries: list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]],
                       container_of: Callable[[int], Any], memory: PathMemory) -> list[dict[str, Any]]:
    """One `file_bytes` record per (container, file), most bytes first."""
    containers: dict[str, Any] = {}
    totals: dict[tuple[str, str, int], list[int]] = {}
    for key, counts in entries:  # struct file_bytes_key → struct file_bytes, per CPU
        container = container_of(key["cgroup_id"])
        containers.setdefault(container.id, container)
        total = totals.setdefault((container.id, device(key["device"]), key["inode"]), [0, 0, 0, 0, 0])
        for per_cpu in counts if isinstance(counts, list) else [counts]:
            for i, name in enumerate(COUNTERS):
                total[i] += per_cpu[name]
    records = []
    for (container_id, dev_name, inode), (read, written, reads, writes, opens) in totals.items():
        record = {
            "type": "file_bytes",
            "container": container_fields(containers[container_id]),
            "file": {"path": memory.path_of(container_id, dev_name, inode), "inode": inode, "device": dev_name},
            "bytes_read": read, "bytes_written": written, "reads": reads, "writes": writes, "opens": opens,
        }
        if memory.runtime_only(container_id, dev_name, inode):  # runc's reads of /proc while it set up
            record["runtime_setup"] = True
        records.append(record)
    records.sort(key=lambda r: (r["container"]["id"], -(r["bytes_read"] + r["bytes_written"])))
    return records


def read_file_bytes(obj: Any, container_of: Callable[[int], Any], memory: PathMemory) -> list[dict[str, Any]]:
    entries = obj.maps[MAP_NAME].records()
    return file_bytes_records(entries, container_of, memory)
