"""The CSV tables of a container's folder, made from its report.

Every cell goes through csv_cell: control characters become visible
escapes and a cell that starts like a formula (= + - @) is prefixed with
a quote, so opening the table in a spreadsheet runs nothing.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Callable, Iterable

from ..sinks.escape import csv_cell, format_argv
from .builder import FILE_OPERATIONS

Report = dict[str, Any]
FILE_OPERATION_COLUMNS = ["open_read", "open_write", "open_path", "create", "truncate", "rename_target",
                          *sorted(set(FILE_OPERATIONS.values()) - {"truncate"})]


def _failed_total(failed: dict[str, Any]) -> int:
    return sum(sum(v.values()) if isinstance(v, dict) else v for v in failed.values())


def _errno_text(failed: dict[str, Any]) -> str:
    """{"open_read": {"ENOENT": 3}} → "open_read ENOENT 3"; {"ECONNREFUSED": 1} → "ECONNREFUSED 1"."""
    parts = []
    for key, value in sorted(failed.items()):
        if isinstance(value, dict):
            parts.extend(f"{key} {name} {n}" for name, n in sorted(value.items()))
        else:
            parts.append(f"{key} {value}")
    return "; ".join(parts)


def _processes(report: Report) -> Iterable[list[Any]]:
    yield ["pid", "parent_pid", "name", "executable", "args", "working_directory", "user_id",
           "start", "end", "exit_code", "exit_signal", "exec"]
    for p in report["processes"]:
        yield [p["pid"], p["parent_pid"], p["name"], p["executable"], format_argv(p["args"]),
               p["working_directory"], p["user_id"], p["start"], p["end"], p["exit_code"], p["exit_signal"],
               p["exec"]]


def _files(report: Report) -> Iterable[list[Any]]:
    yield ["path", *FILE_OPERATION_COLUMNS, "failed", "failed_detail", "bytes_read", "bytes_written",
           "reads", "writes", "opens"]
    for f in report["files"]:
        yield [f["path"], *(f["operations"].get(op, 0) for op in FILE_OPERATION_COLUMNS),
               _failed_total(f["failed"]), _errno_text(f["failed"]), f["bytes_read"], f["bytes_written"],
               f["reads"], f["writes"], f["opens"]]


def _network(report: Report) -> Iterable[list[Any]]:
    yield ["direction", "transport", "source_ip", "source_container", "destination_ip", "destination_port",
           "peer_container", "count", "failed", "bytes_sent", "bytes_received"]
    for c in report["network"]["connections"]:
        yield [c["direction"], c["transport"], c["source"]["ip"], c["source"]["container"],
               c["destination"]["ip"], c["destination"]["port"], c["peer_container"], c["count"],
               _errno_text(c["failed"]), c["bytes_sent"], c["bytes_received"]]
    for listening in report["network"]["listening"]:
        yield ["listening", listening["transport"], listening["ip"], None, None, listening["port"],
               None, None, None, None, None]


def _syscalls(report: Report) -> Iterable[list[Any]]:
    yield ["syscall", "count"]
    for name, count in sorted(report["syscalls"].items(), key=lambda item: (-item[1], item[0])):
        yield [name, count]


def _capabilities(report: Report) -> Iterable[list[Any]]:
    yield ["capability", "granted", "denied", "processes"]
    for name, c in sorted(report["capabilities"].items()):
        yield [name, c["granted"], c["denied"], " ".join(c["processes"])]


def _signals(report: Report) -> Iterable[list[Any]]:
    yield ["direction", "signal", "origin", "result", "sender_pid", "sender_name", "sender_executable",
           "sender_container", "target_pid", "target_name", "target_container", "count"]
    for s in report["signals"]:
        yield [s["direction"], s["signal"], s["origin"], s["result"], s["sender"]["pid"], s["sender"]["name"],
               s["sender"]["executable"], s["sender_container"], s["target"]["pid"], s["target"]["name"],
               s["target_container"], s["count"]]


TABLES: dict[str, Callable[[Report], Iterable[list[Any]]]] = {
    "processes.csv": _processes,
    "files.csv": _files,
    "network.csv": _network,
    "syscalls.csv": _syscalls,
    "capabilities.csv": _capabilities,
    "signals.csv": _signals,
}


def render_tables(report: Report) -> dict[str, bytes]:
    """File name → CSV bytes (UTF-8; invalid text already shown as \\xNN)."""
    out = {}
    for name, rows in TABLES.items():
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        for row in rows(report):
            writer.writerow([csv_cell(cell) for cell in row])
        out[name] = text.getvalue().encode("utf-8", "backslashreplace")
    return out
