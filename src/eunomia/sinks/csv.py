"""CSV: one header line, then one row per event (and per aggregate item).

Every column is the dotted path of a field in the JSON event
(docs/events.md): nested objects are flattened (`process.parent.pid`,
`target.container.name`), lists are joined with spaces, booleans are
`true`/`false`, a missing or null field is an empty cell.  The column set
is fixed (COLUMNS below, the one place that defines it), so the header is
the same whichever trackers run and files of several runs can be
concatenated.  A field no column names (a tracker that grew one) is not
dropped: it goes, as JSON, into the last column, `extra`.

Aggregate records printed when tracing ends have an empty `time`; their
`type` says what the row holds (see docs/events.md, "CSV columns"):
`file_bytes` and `udp_peers` are one row each; `syscalls`, `runtime_syscalls`
and `syscall_failures` one row per (container, syscall) with `syscall` and
`count`; `capabilities` one row per (container, capability, check).

Every cell goes through csv_cell: control characters are shown as escapes
and cells that would start a spreadsheet formula are neutralised.
"""

from __future__ import annotations

import csv
import io
from typing import IO, Any, Callable, Iterator

import orjson

from ..eventpath import flatten
from . import Event
from .escape import csv_cell
from .table import summary_line

Row = dict[str, Any]

# the columns of the first versions, in their order: scripts indexing them keep working
LEGACY = (
    "time", "type", "container.id", "container.name", "container.image", "container.runtime",
    "process.pid", "process.parent.pid", "process.name", "process.executable", "process.args",
    "process.working_directory", "user.id", "result", "process.exit_code", "process.duration_ms",
)
COMMON = (
    "container.pod", "container.namespace", "process.tid", "process.parent.name",
    "process.parent.executable", "process.exit_signal", "group.id", "truncated", "path_partial",
    "process.cap_effective", "process.tty", "process.executable_in_upper_layer", "process.executable_in_memory",
    "user.login_id", "process.runtime_setup",
)
FILE = (
    "file.path", "file.target_path", "file.flags", "file.mode", "file.uid", "file.gid", "file.size",
    "file.inode", "file.device", "file.given_path",
)
NETWORK = (
    "network.transport", "network.direction", "network.type",
    "source.ip", "source.port", "source.container",
    "destination.ip", "destination.port", "destination.container",
    "network.bytes_sent", "network.bytes_received", "network.duration_ms",
    "socket.family", "socket.type", "socket.protocol", "dup.old_fd",
)
SIGNAL = (
    "signal.name", "signal.number", "signal.code", "signal.origin", "signal.group",
    "ptrace.request", "unix.path", "unix.socket_type",
    "target.process.pid", "target.process.tid", "target.process.name", "target.requested_pid",
    "target.container.id", "target.container.name", "target.container.image", "target.container.runtime",
    "target.container.pod", "target.container.namespace",
)
CAPABILITY = (
    "capability.name", "capability.number", "capability.granted", "capability.syscall",
    "capability.credentials", "capability.probe",
)
ATTEMPT = (
    "module.syscall", "module.file", "module.params",
    "mount.syscall", "mount.source", "mount.target", "mount.fstype", "mount.flags",
)
# aggregates printed when tracing ends (besides the columns above they reuse)
AGGREGATE = (
    "bytes_read", "bytes_written", "reads", "writes", "opens", "runtime_setup",  # file_bytes
    "bytes_sent", "bytes_received", "packets_sent", "packets_received",         # udp_peers
    "syscall", "count",                                                         # syscalls
    "granted", "denied",                                                        # capabilities
)
EXTRA = "extra"

COLUMNS: tuple[str, ...] = (*LEGACY, *COMMON, *FILE, *NETWORK, *SIGNAL, *CAPABILITY, *ATTEMPT, *AGGREGATE, EXTRA)
_KNOWN = frozenset(COLUMNS)

# fields of events `trace` never prints (fork records keep the process table)
NOT_SHOWN = frozenset({"process.child.pid"})


def render(value: Any) -> Any:
    """A cell's value before csv_cell: null empty, lists joined, booleans as in JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join("" if v is None else str(render(v)) for v in value)
    if isinstance(value, dict):  # only in `extra`
        return orjson.dumps(value).decode()
    return value


def _flat_row(record: dict[str, Any]) -> Row:
    return dict(flatten(record))


def _syscall_rows(record: dict[str, Any]) -> Iterator[Row]:
    """`syscalls`: one row per syscall of the workload, then per call of the
    runtime (type `runtime_syscalls`); `total` is the sum of the first ones."""
    base = {"container": record.get("container") or {}}
    for key in ("syscalls", "runtime_syscalls"):
        for name, count in (record.get(key) or {}).items():
            yield _flat_row({**base, "type": key, "syscall": name, "count": count})


def _failure_rows(record: dict[str, Any]) -> Iterator[Row]:
    base = {"container": record.get("container") or {}, "type": record.get("type")}
    for name, count in (record.get("eperm") or {}).items():
        yield _flat_row({**base, "syscall": name, "count": count})


def _capability_rows(record: dict[str, Any]) -> Iterator[Row]:
    """`capabilities`: one row per (capability, check); the check's process
    name goes in `process.name`, its counts in `granted` and `denied`."""
    base = {"container": record.get("container") or {}, "type": record.get("type")}
    for cap, totals in (record.get("capabilities") or {}).items():
        checks = totals.get("checks") or [{"granted": totals.get("granted"), "denied": totals.get("denied")}]
        for check in checks:
            yield _flat_row({
                **base,
                "process": {"name": check.get("process")},
                "capability": {"name": cap, "syscall": check.get("syscall"),
                               "credentials": check.get("credentials"), "probe": check.get("probe")},
                "granted": check.get("granted"), "denied": check.get("denied"),
            })


# aggregate type → its rows; every other record is one flattened row
EXPANDED: dict[str, Callable[[dict[str, Any]], Iterator[Row]]] = {
    "syscalls": _syscall_rows,
    "syscall_failures": _failure_rows,
    "capabilities": _capability_rows,
}


def rows_of(record: dict[str, Any]) -> list[Row]:
    """The flat rows (dotted path → value) one event or aggregate record makes."""
    expand = None if "time" in record else EXPANDED.get(record.get("type") or "")
    return list(expand(record)) if expand is not None else [_flat_row(record)]


def cells(row: Row) -> list[Any]:
    """One CSV row in COLUMNS order; fields no column names go to `extra` as JSON."""
    extra = {k: v for k, v in row.items() if k not in _KNOWN and k not in NOT_SHOWN}
    values = [row.get(c) for c in COLUMNS[:-1]]
    values.append(orjson.dumps(extra, option=orjson.OPT_NON_STR_KEYS).decode() if extra else None)
    return [csv_cell(render(v)) for v in values]


class CsvSink:
    def __init__(self, out: IO[bytes], stderr: IO[str] | None = None) -> None:
        self.out = out
        self.stderr = stderr
        self._text = io.StringIO()
        self._writer = csv.writer(self._text)
        self._writer.writerow(COLUMNS)

    def write(self, event: Event) -> None:
        for row in rows_of(event):
            self._writer.writerow(cells(row))
        if self._text.tell() > 1 << 16:
            self.flush()

    def flush(self) -> None:
        self.out.write(self._text.getvalue().encode("utf-8", "backslashreplace"))
        self._text.seek(0)
        self._text.truncate()
        self.out.flush()

    def close(self, summary: dict[str, Any]) -> None:
        self.flush()
        if self.stderr is not None:
            self.stderr.write(summary_line(summary) + "\n")
