"""Bytes read and written per (container, file), from the kernel's map.

The kernel counts every successful read/write-family call on a regular
file in `file_bytes`, keyed by {cgroup id, inode, device}; nothing is
streamed.  A container may own several cgroups (nested ones): their counts
are summed here.  Paths come from the open events seen while tracing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .formats import device
from .paths import PathMemory

KEY_FORMAT = "<QQII"     # struct file_bytes_key: cgroup_id, inode, device, pad
VALUE_FORMAT = "<QQQQQ"  # struct file_bytes: bytes_read, bytes_written, reads, writes, opens
MAP_NAME = "file_bytes"


def file_bytes_records(entries: list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]],
                       container_of: Callable[[int], Any], memory: PathMemory) -> list[dict[str, Any]]:
    """One `file_bytes` record per (container, file), most bytes first."""
    from eunomia.pipeline.enrich import container_fields  # pipeline sits above trackers

    containers: dict[str, Any] = {}
    totals: dict[tuple[str, str, int], list[int]] = {}
    for (cgroup_id, inode, dev, _pad), counts in entries:  # counts: read, written, reads, writes, opens
        container = container_of(cgroup_id)
        containers.setdefault(container.id, container)
        total = totals.setdefault((container.id, device(dev), inode), [0, 0, 0, 0, 0])
        for i, n in enumerate(counts):
            total[i] += n
    records = []
    for (container_id, dev_name, inode), (read, written, reads, writes, opens) in totals.items():
        records.append({
            "type": "file_bytes",
            "container": container_fields(containers[container_id]),
            "file": {"path": memory.path_of(container_id, dev_name, inode), "inode": inode, "device": dev_name},
            "bytes_read": read, "bytes_written": written, "reads": reads, "writes": writes, "opens": opens,
        })
    records.sort(key=lambda r: (r["container"]["id"], -(r["bytes_read"] + r["bytes_written"])))
    return records


def read_file_bytes(obj: Any, container_of: Callable[[int], Any], memory: PathMemory) -> list[dict[str, Any]]:
    entries = obj.maps[MAP_NAME].typed(KEY_FORMAT, VALUE_FORMAT).items_batch()
    return file_bytes_records(entries, container_of, memory)
