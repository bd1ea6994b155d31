"""A recording on the terminal, with Rich: one panel per container.

Container-supplied text is never given to Rich as markup: every value is a
rich.text.Text built from escape_text/format_argv output, so `[bold]` in a
path prints as typed and control characters show as \\xNN.
"""

from __future__ import annotations

from typing import Iterable, Optional

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..sinks.escape import format_argv
from .model import ContainerRecording, Recording, Report
from .text import (NONE, argv_text, cell, errno_text, exit_text, failed_text, human_bytes, joined, operations_text,
                   plural, ref_text, result_text, safe, top)
from .tree import count, process_forest, walk

PROCESS_LIMIT = 200  # process nodes shown per container


def render(console: Console, recording: Recording, containers: list[ContainerRecording], rows: int = 15) -> None:
    console.print(_header(recording))
    for warning in recording.warnings:
        console.print(Text(f"warning: {warning}", style="bold yellow"))
    if not containers:
        console.print(Text("no containers in this recording", style="italic"))
    for c in containers:
        console.print(_container(c, rows))


CELL = 300           # characters of one value in a terminal cell


def _t(value: object, style: str = "", default: str = NONE) -> Text:
    return Text(cell(value, CELL, default), style=style)


def _grid(pairs: Iterable[tuple[str, object]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in pairs:
        grid.add_row(Text(key), value if isinstance(value, Text) else _t(value))
    return grid


def _table(title: str, *columns: str, right: Iterable[str] = ()) -> Table:
    table = Table(title=Text(title, style="bold"), title_justify="left", expand=False, show_edge=False)
    numeric = set(right)
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left",
                         overflow="fold", no_wrap=column in numeric)
    return table


def _header(recording: Recording) -> Panel:
    host = recording.host
    pairs: list[tuple[str, object]] = [
        ("directory", str(recording.path)),
        ("host", f"{host.get('hostname')} (kernel {host.get('kernel')}, {host.get('machine')})"),
        ("window", f"{safe(recording.window[0])} → {safe(recording.window[1], 'still recording')}"),
        ("complete", "yes" if recording.complete else "NO (still being written, or the recorder was stopped)"),
        ("trackers", ", ".join(recording.trackers) or NONE),
        ("scope", (", ".join(recording.scope_containers) or "all containers")
         + (" and the host" if recording.scope_host else "")),
    ]
    if recording.command is not None:
        argv, code = recording.command
        pairs.append(("command", Text(cell(format_argv(list(argv)), CELL) + f"  (exit {safe(code)})")))
    s = recording.stats
    pairs.append(("events", f"{s.events} written, {s.unwritten} unwritten, {s.lost} lost in the kernel, "
                            f"{s.undecodable} undecodable"))
    if s.error:
        pairs.append(("error", s.error))
    return Panel(_grid(pairs), title=Text(f"eunomia recording ({recording.tool_version})"), title_align="left")


def _container(c: ContainerRecording, rows: int) -> Panel:
    title = Text(cell(c.display_name, 120), style="bold cyan")
    if c.report is None:
        body: RenderableType = Group(
            _grid([("id", c.short_id), ("image", c.image), ("events", c.entry.events),
                   ("unwritten", c.entry.unwritten)]),
            Text(f"no report.json in {safe(str(c.path))}: nothing more to show", style="yellow"))
        return Panel(body, title=title, title_align="left", border_style="yellow")
    r = c.report
    parts: list[RenderableType] = [_identity(c, r)]
    parts += [p for p in (_processes(r), _files(r, rows), _connections(r, rows), _listening(r), _signals(r, rows),
                          _ptrace(r, rows), _unix(r, rows), _capabilities(r), _syscalls(r, rows)) if p is not None]
    parts.append(Text(f"stats: {r.events} events written, {r.unwritten} unwritten, "
                      f"{r.dropped} dropped by the kernel (all containers)", style="dim"))
    return Panel(Group(*parts), title=title, title_align="left",
                 border_style="cyan" if r.complete else "yellow")


def _identity(c: ContainerRecording, r: Report) -> Table:
    info = r.container
    pairs: list[tuple[str, object]] = [("name", c.name), ("id", c.short_id), ("image", c.image),
                                       ("runtime", info.runtime)]
    if info.pod or info.namespace:
        pairs.append(("pod", f"{safe(info.namespace)}/{safe(info.pod)}"))
    if info.labels:
        pairs.append(("labels", _t(", ".join(f"{safe(k)}={safe(v, '')}" for k, v in info.labels.items()))))
    pairs += [("started", info.started), ("exited", info.exited), ("exit code", info.exit_code)]
    return _grid(pairs)


def _processes(r: Report) -> Optional[Tree]:
    if not r.processes:
        return None
    forest = process_forest(r.processes)
    total = count(forest)
    tree = Tree(Text(f"processes ({plural(len(r.processes), 'program')} in {plural(total, 'process')})", style="bold"))
    stack: list[Tree] = [tree]
    for depth, node in walk(forest, PROCESS_LIMIT):
        del stack[depth + 1:]
        label = Text()
        for i, p in enumerate(node.programs):
            if i:
                label.append("\n  then exec: ", style="dim")
            else:
                label.append(f"{node.pid} ", style="bold")
            label.append(cell(argv_text(p), CELL))
            details = [f"uid {p.user_id}" if p.user_id is not None else "", exit_text(p)]
            if p.working_directory:
                details.insert(0, f"cwd {cell(safe(p.working_directory), 200)}")
            label.append(f"  ({', '.join(d for d in details if d)})", style="dim")
        stack.append(stack[-1].add(label))
    if total > PROCESS_LIMIT:
        tree.add(Text(f"… {total - PROCESS_LIMIT} more processes (see processes.csv)", style="dim"))
    return tree


def _files(r: Report, rows: int) -> Optional[Table]:
    if not r.files:
        return None
    table = _table(f"files (top {min(rows, len(r.files))} of {len(r.files)}, by bytes then operations)",
                   "path", "operations", "failed", "read", "written", "opens", right=("read", "written", "opens"))
    for f in top(r.files, lambda f: (f.total_bytes, f.operation_count), rows):
        table.add_row(_t(f.path, default="(opened before the recording)"), Text(operations_text(f)),
                      Text(failed_text(f.failed), style="red"), Text(human_bytes(f.bytes_read)),
                      Text(human_bytes(f.bytes_written)), Text(str(f.opens)))
    return table


def _connections(r: Report, rows: int) -> Optional[Table]:
    if not r.connections:
        return None
    table = _table(f"network connections ({len(r.connections)})", "direction", "peer container", "source",
                   "destination", "count", "failed", "sent / received", right=("count", "sent / received"))
    for c in top(r.connections, lambda c: (c.count, c.bytes_sent + c.bytes_received), rows):
        table.add_row(Text(f"{c.direction or '?'} {c.transport}"), _t(c.peer_container, default="host / outside"),
                      _t(c.source.address), _t(c.destination.address), Text(str(c.count)),
                      Text(errno_text(c.failed), style="red"),
                      Text(f"{human_bytes(c.bytes_sent)} / {human_bytes(c.bytes_received)}"))
    return table


def _listening(r: Report) -> Optional[Table]:
    if not r.listening:
        return None
    table = _table("listening", "transport", "address", "port")
    for x in r.listening:
        table.add_row(Text(x.transport), _t(x.ip, default="*"), _t(x.port, default="?"))
    return table


def _signals(r: Report, rows: int) -> Optional[Table]:
    if not r.signals:
        return None
    table = _table(f"signals ({len(r.signals)})", "direction", "signal", "sender", "target", "origin", "result",
                   "count", right=("count",))
    for s in top(r.signals, lambda s: s.count, rows):
        table.add_row(Text(s.direction), _t(s.signal), _t(ref_text(s.sender, s.sender_container)),
                      _t(ref_text(s.target, s.target_container)), _t(s.origin),
                      Text(result_text(s.result)), Text(str(s.count)))
    return table


def _ptrace(r: Report, rows: int) -> Optional[Table]:
    if not r.ptrace:
        return None
    table = _table(f"ptrace ({len(r.ptrace)})", "request", "tracer", "target", "result", "count", right=("count",))
    for p in top(r.ptrace, lambda p: p.count, rows):
        table.add_row(_t(p.request), _t(ref_text(p.tracer)),
                      _t(ref_text(p.target, p.target_container)), Text(result_text(p.result)),
                      Text(str(p.count)))
    return table


def _unix(r: Report, rows: int) -> Optional[Table]:
    if not r.unix_connects:
        return None
    table = _table(f"unix socket connects ({len(r.unix_connects)})", "path", "type", "process", "peer container",
                   "result", "count", right=("count",))
    for u in top(r.unix_connects, lambda u: u.count, rows):
        table.add_row(_t(u.path), _t(u.socket_type), _t(ref_text(u.process)), _t(u.target_container),
                      Text(result_text(u.result)), Text(str(u.count)))
    return table


def _capabilities(r: Report) -> Optional[Table]:
    if not r.capabilities:
        return None
    table = _table("capabilities", "capability", "granted", "denied", "processes", right=("granted", "denied"))
    for cap in sorted((c for c in r.capabilities if c.used), key=lambda c: c.name):  # probes, runc's: apart
        table.add_row(_t(cap.name), Text(str(cap.granted)), Text(str(cap.denied), style="red" if cap.denied else ""),
                      _t(joined(cap.processes)))
    return table


def _syscalls(r: Report, rows: int) -> Optional[Table]:
    if not r.syscalls:
        return None
    total = sum(r.syscalls.values())
    table = _table(f"syscalls (top {min(rows, len(r.syscalls))} of {len(r.syscalls)}, {total} calls)",
                   "syscall", "calls", "", right=("calls",))
    ranked = top(r.syscalls.items(), lambda kv: kv[1], rows)
    biggest = ranked[0][1] or 1
    for name, n in ranked:
        table.add_row(_t(name), Text(str(n)), Text("█" * max(1, round(30 * n / biggest)) if n else "",
                                                   style="blue"))
    return table
