"""One container's section of the HTML report.

Every value is escaped with `h`/`hcell` where it is put in the page; the
helpers here take already-escaped HTML for cells.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from .model import ContainerRecording, Report
from .svg import Series, bar_chart
from .text import (argv_text, errno_text, exit_text, failed_text, h, hcell, human_bytes, joined, operations_text,
                   ref_text, result_text, safe, top)
from .tree import count, process_forest, walk

PROCESS_LIMIT = 5000  # process nodes in a page
TABLE_ROWS = 200      # rows of a table before "… more"
CHART_ROWS = 15


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = (),
          total: Optional[int] = None) -> str:
    """A table from escaped cells; `total` notes rows that were left out."""
    right = set(numeric)
    head = "".join(f'<th{" class=num" if i in right else ""}>{h(t, "")}</th>' for i, t in enumerate(headers))
    body = []
    for row in rows:
        body.append("<tr>" + "".join(f'<td{" class=num" if i in right else ""}>{v}</td>'
                                     for i, v in enumerate(row)) + "</tr>")
    more = ""
    if total is not None and total > len(body):
        more = f'<p class="more">… {total - len(body)} more rows (see the CSV files of the recording)</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def block(title: str, content: str, open_: bool = True) -> str:
    return f'<details{" open" if open_ else ""}><summary>{h(title)}</summary>{content}</details>'


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{h(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def section(c: ContainerRecording) -> str:
    anchor = h("c-" + c.entry.folder)
    head = (f'<summary><h2>{hcell(c.display_name, 300)}</h2> '
            f'<span class="image">{hcell(c.image, 300)}</span></summary>')
    if c.report is None:
        body = (facts([("id", h(c.id)), ("events", str(c.entry.events)), ("unwritten", str(c.entry.unwritten))])
                + f'<p class="warning">No report.json in {hcell(str(c.path))}: the recorder stopped before '
                f'writing it; only the counts of index.json are known.</p>')
        return f'<section class="container missing" id="{anchor}"><details open>{head}{body}</details></section>'
    r = c.report
    parts = [_identity(c, r), _charts(r), _processes(r), _files(r), _network(r), _signals(r), _capabilities(r),
             _stats(r)]
    incomplete = "" if r.complete else ('<p class="warning">This report.json is a checkpoint (complete=false): '
                                        'the last events may be missing.</p>')
    return (f'<section class="container" id="{anchor}"><details open>{head}{incomplete}'
            f'{"".join(p for p in parts if p)}</details></section>')


def _identity(c: ContainerRecording, r: Report) -> str:
    info = r.container
    labels = "".join(f"<li><code>{hcell(k)}</code> = <code>{hcell(v, default='')}</code></li>"
                     for k, v in sorted(info.labels.items()))
    pairs = [("name", hcell(c.name)), ("id", h(c.id)), ("image", hcell(c.image)), ("runtime", h(info.runtime))]
    if info.pod or info.namespace:
        pairs.append(("pod", f"{h(info.namespace)}/{h(info.pod)}"))
    pairs += [("started", h(info.started)), ("exited", h(info.exited)), ("exit code", h(info.exit_code)),
              ("window", f"{h(r.window[0])} → {h(r.window[1])}")]
    if labels:
        pairs.append(("labels", f'<ul class="labels">{labels}</ul>'))
    return facts(pairs)


def _charts(r: Report) -> str:
    charts = []
    if r.syscalls:
        rows = [(name, [n]) for name, n in top(r.syscalls.items(), lambda kv: kv[1], CHART_ROWS)]
        charts.append(bar_chart(f"Top {len(rows)} syscalls of {len(r.syscalls)} ({sum(r.syscalls.values())} calls)",
                                rows, [Series("calls", "#2563eb")]))
    files = [f for f in r.files if f.total_bytes]
    if files:
        rows = [(safe(f.path, "(opened before the recording)"), [f.bytes_read, f.bytes_written])
                for f in top(files, lambda f: f.total_bytes, CHART_ROWS)]
        charts.append(bar_chart("Files by bytes", rows, [Series("read", "#059669"), Series("written", "#dc2626")],
                                value_text=human_bytes))
    if r.files:
        rows = [(safe(f.path, "(opened before the recording)"), [sum(f.operations.values()), f.failures])
                for f in top(r.files, lambda f: f.operation_count, CHART_ROWS)]
        charts.append(bar_chart("Files by operations", rows, [Series("succeeded", "#7c3aed"),
                                                              Series("failed", "#f59e0b")]))
    return f'<div class="charts">{"".join(charts)}</div>' if charts else ""


def _processes(r: Report) -> str:
    if not r.processes:
        return ""
    forest = process_forest(r.processes)
    total = count(forest)
    out = ['<ul class="tree">']
    prev = -1
    for depth, node in walk(forest, PROCESS_LIMIT):
        if depth > prev and prev >= 0:
            out.append("<ul>")
        elif prev >= 0:
            out.append("</li>" + "</ul></li>" * (prev - depth))
        out.append(f"<li>{_node_label(node.pid, node.programs)}")
        prev = depth
    if prev >= 0:
        out.append("</li>" + "</ul></li>" * prev)
    out.append("</ul>")
    if total > PROCESS_LIMIT:
        out.append(f'<p class="more">… {total - PROCESS_LIMIT} more processes (see processes.csv)</p>')
    return block(f"Processes: {len(r.processes)} programs in {total} processes", "".join(out))


def _node_label(pid: int, programs: list) -> str:
    lines = []
    for i, p in enumerate(programs):
        meta = [f"uid {p.user_id}" if p.user_id is not None else "", exit_text(p)]
        if p.working_directory:
            meta.insert(0, f"cwd {safe(p.working_directory)}")
        lead = f'<span class="pid">{pid}</span> ' if i == 0 else '<span class="then">then exec</span> '
        lines.append(f'<div class="prog">{lead}<code class="argv">{hcell(argv_text(p))}</code> '
                     f'<span class="meta">({hcell(", ".join(m for m in meta if m))})</span></div>')
    return "".join(lines)


def _files(r: Report) -> str:
    if not r.files:
        return ""
    ranked = top(r.files, lambda f: (f.total_bytes, f.operation_count), TABLE_ROWS)
    rows = [[f'<code>{hcell(f.path, default="(opened before the recording)")}</code>', h(operations_text(f)),
             h(failed_text(f.failed), ""), h(human_bytes(f.bytes_read)), h(human_bytes(f.bytes_written)),
             str(f.reads), str(f.writes), str(f.opens)] for f in ranked]
    return block(f"Files: {len(r.files)}", table(
        ["path", "operations", "failed", "read", "written", "reads", "writes", "opens"], rows,
        numeric=(3, 4, 5, 6, 7), total=len(r.files)))


def _network(r: Report) -> str:
    if not r.connections and not r.listening:
        return ""
    ranked = top(r.connections, lambda c: (c.count, c.bytes_sent + c.bytes_received), TABLE_ROWS)
    rows = [[h(c.direction or "?"), h(c.transport), hcell(c.peer_container, default="host / outside"),
             hcell(c.source.address), hcell(c.destination.address), str(c.count), h(errno_text(c.failed), ""),
             h(human_bytes(c.bytes_sent)), h(human_bytes(c.bytes_received))] for c in ranked]
    content = ""
    if rows:
        content += table(["direction", "transport", "peer container", "source", "destination", "count", "failed",
                          "sent", "received"], rows, numeric=(5, 7, 8), total=len(r.connections))
    if r.listening:
        content += "<h4>Listening</h4>" + table(
            ["transport", "address", "port"],
            [[h(x.transport), h(x.ip, "*"), h(x.port, "?")] for x in r.listening], numeric=(2,))
    return block(f"Network: {len(r.connections)} connections, {len(r.listening)} listening", content)


def _signals(r: Report) -> str:
    content = ""
    if r.signals:
        rows = [[h(s.direction), h(s.signal), hcell(ref_text(s.sender, s.sender_container)),
                 hcell(ref_text(s.target, s.target_container)), h(s.origin), h(result_text(s.result)), str(s.count)]
                for s in top(r.signals, lambda s: s.count, TABLE_ROWS)]
        content += "<h4>Signals</h4>" + table(
            ["direction", "signal", "sender", "target", "origin", "result", "count"], rows, numeric=(6,),
            total=len(r.signals))
    if r.ptrace:
        rows = [[h(p.request), hcell(ref_text(p.tracer)), hcell(ref_text(p.target, p.target_container)),
                 h(result_text(p.result)), str(p.count)] for p in top(r.ptrace, lambda p: p.count, TABLE_ROWS)]
        content += "<h4>ptrace</h4>" + table(["request", "tracer", "target", "result", "count"], rows,
                                             numeric=(4,), total=len(r.ptrace))
    if r.unix_connects:
        rows = [[f"<code>{hcell(u.path)}</code>", h(u.socket_type), hcell(ref_text(u.process)),
                 hcell(u.target_container), h(result_text(u.result)), str(u.count)]
                for u in top(r.unix_connects, lambda u: u.count, TABLE_ROWS)]
        content += "<h4>Unix socket connects</h4>" + table(
            ["path", "type", "process", "peer container", "result", "count"], rows, numeric=(5,),
            total=len(r.unix_connects))
    if not content:
        return ""
    return block(f"Signals and process interactions: {len(r.signals) + len(r.ptrace) + len(r.unix_connects)}",
                  content)


def _capabilities(r: Report) -> str:
    if not r.capabilities:
        return ""
    used = sorted((c for c in r.capabilities if c.used), key=lambda c: c.name)
    rows = [[h(c.name), str(c.granted), f'<span class="{"denied" if c.denied else ""}">{c.denied}</span>',
             hcell(joined(c.processes, 50))] for c in used]
    probes, runtime = sum(c.probes for c in r.capabilities), sum(c.runtime for c in r.capabilities)
    apart = [f"{probes} probe check{'s' if probes != 1 else ''} (a kernel function asking, never failing a call)"
             if probes else "",
             f"{runtime} check{'s' if runtime != 1 else ''} by the runtime setting the container up" if runtime else ""]
    note = " and ".join(a for a in apart if a)
    content = table(["capability", "granted", "denied", "processes"], rows, numeric=(1, 2)) if rows else ""
    if note:
        content += f'<p class="stats">Not counted above: {h(note)}; report.json has them.</p>'
    return block(f"Capabilities used: {len(used)}", content)


def _stats(r: Report) -> str:
    return (f'<p class="stats">{r.events} events written, {r.unwritten} unwritten, {r.dropped} dropped by the '
            f'kernel during the recording (all containers together).</p>')
