"""The aggregates printed when tracing ends, as a person reads them: per
container, a few aligned tables (files by bytes, UDP peers, capabilities,
syscalls), not dumps of nested objects.  Capability checks that only probe
are counted apart: they are not decisions (docs/events.md, `capability`);
so are, unless shown (`--show-runtime`), the checks of the runtime's set-up.
Every value from a container is escaped; long ones are cut with an ellipsis.
"""

from __future__ import annotations

from typing import Any

from ..context.model import split_checks
from .escape import escape_text

Record = dict[str, Any]
TOP = 10  # rows per table; the rest is summed up in one line
WIDE = 48  # a path or name is cut to this many characters


def render(records: list[Record], show_runtime: bool = False) -> list[str]:
    """Lines for the aggregate records of a trace, grouped by container in the order met."""
    by_container: dict[str, list[Record]] = {}
    for record in records:
        by_container.setdefault(_name(record), []).append(record)
    lines: list[str] = []
    for name, mine in by_container.items():
        kinds: dict[str, list[Record]] = {}
        for record in mine:
            kinds.setdefault(str(record.get("type")), []).append(record)
        lines.append(f"── {name}")
        for kind, group in kinds.items():
            if kind == "capabilities":
                lines += _capabilities(group, show_runtime)
            elif kind == "file_bytes":
                lines += _files(group, show_runtime)
            else:
                lines += _RENDERERS.get(kind, _generic)(group)
    return lines


def _name(record: Record) -> str:
    container = record.get("container") or {}
    return escape_text(str(container.get("name") or str(container.get("id") or "")[:12] or "?"))


def _cut(text: Any, width: int = WIDE) -> str:
    shown = escape_text(str(text))
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def _bytes(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "   " + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return [line(header), *(line(r) for r in rows)]


def _more(total: int) -> list[str]:
    return [f"   … and {total - TOP} more (-f json has them all)"] if total > TOP else []


def _files(records: list[Record], show_runtime: bool = False) -> list[str]:
    runtime = 0 if show_runtime else sum(1 for r in records if r.get("runtime_setup"))
    records = [r for r in records if show_runtime or not r.get("runtime_setup")]
    records = sorted(records, key=lambda r: -((r.get("bytes_read") or 0) + (r.get("bytes_written") or 0)))
    rows = [[_cut((r.get("file") or {}).get("path") or "(opened before the trace)"), _bytes(r.get("bytes_read")),
             _bytes(r.get("bytes_written")), str(r.get("opens") or 0)] for r in records[:TOP]]
    apart = [f"   and {runtime} file{'s' if runtime != 1 else ''} only the runtime's set-up opened "
             "(--show-runtime)"] if runtime else []
    return ["  files, by bytes", *_table(["PATH", "READ", "WRITTEN", "OPENS"], rows, {1, 2, 3}),
            *_more(len(records)), *apart]


def _udp(records: list[Record]) -> list[str]:
    records = sorted(records, key=lambda r: -((r.get("bytes_sent") or 0) + (r.get("bytes_received") or 0)))
    rows = []
    for r in records[:TOP]:
        peer = r.get("destination") or {}
        where = f"{peer.get('ip') or '?'}:{peer.get('port') or '?'}"
        if peer.get("container"):
            where += f" ({peer['container']})"
        rows.append([_cut(where), _bytes(r.get("bytes_sent")), _bytes(r.get("bytes_received"))])
    return ["  UDP peers", *_table(["PEER", "SENT", "RECEIVED"], rows, {1, 2}), *_more(len(records))]


def _capabilities(records: list[Record], show_runtime: bool = False) -> list[str]:
    rows, probes, runtime = [], 0, 0
    for record in records:
        for cap, entry in (record.get("capabilities") or {}).items():
            decided, probing, by_runtime = split_checks(entry.get("checks") or [], show_runtime)
            probes, runtime = probes + probing, runtime + by_runtime
            if not decided:
                continue
            granted = sum(c.get("granted") or 0 for c in decided)
            denied = sum(c.get("denied") or 0 for c in decided)
            who = sorted({str(c.get("process")) for c in decided})
            rows.append([_cut(cap, 24), str(granted), str(denied), _cut(", ".join(who))])
    lines = ["  capabilities checked (decisions; probes apart)",
             *_table(["CAPABILITY", "GRANTED", "DENIED", "BY"], rows, {1, 2})]
    if probes:
        lines.append(f"   and {probes} probe{'s' if probes != 1 else ''} (a kernel function asking, "
                     "never failing a call)")
    if runtime:
        lines.append(f"   and {runtime} check{'s' if runtime != 1 else ''} by the runtime setting the container up "
                     "(--show-runtime)")
    return lines


def _syscalls(records: list[Record]) -> list[str]:
    lines = []
    for record in records:
        counts = sorted((record.get("syscalls") or {}).items(), key=lambda kv: -kv[1])
        lines.append(f"  syscalls: {record.get('total', 0)} calls, {len(counts)} distinct")
        rows = [[_cut(name, 24), str(n)] for name, n in counts[:TOP]]
        lines += _table(["SYSCALL", "CALLS"], rows, {1}) + _more(len(counts))
        runtime = record.get("runtime_syscalls") or {}
        if runtime:
            lines.append(f"   and {sum(runtime.values())} calls of the runtime after its filter "
                         f"({len(runtime)} distinct; -f json lists them)")
    return lines


def _failures(records: list[Record]) -> list[str]:
    lines = []
    for record in records:
        counts = sorted((record.get("eperm") or {}).items(), key=lambda kv: -kv[1])
        lines.append("  calls that returned EPERM")
        lines += _table(["SYSCALL", "CALLS"], [[_cut(k, 24), str(v)] for k, v in counts[:TOP]], {1})
        lines += _more(len(counts))
    return lines


def _generic(records: list[Record]) -> list[str]:
    """A kind without its own table: one line per record, its top-level numbers."""
    lines = []
    for record in records:
        numbers = [f"{escape_text(str(k))} {v}" for k, v in record.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)]
        lines.append(f"  {escape_text(str(record.get('type')))}: " + (", ".join(numbers) or "(see -f json)"))
    return lines


_RENDERERS = {"udp_peers": _udp, "syscalls": _syscalls, "syscall_failures": _failures}
