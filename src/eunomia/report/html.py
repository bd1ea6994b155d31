"""A recording as ONE self-contained HTML page.

No JavaScript, no external resource of any kind (a Content-Security-Policy
says so to the browser too): inline CSS, inline SVG pictures, <details> for
folding.  All recorded text is escaped where it is placed (see text.h).
"""

from __future__ import annotations

from typing import Optional

from ..sinks.escape import format_argv
from .html_container import block, facts, section, table
from .model import ContainerRecording, Recording
from .netmap import build_map
from .svg import network_svg
from .text import h, hcell, safe

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#111827;background:#fff;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{display:inline;font-size:1.2rem;margin:0}h3{margin:1.5rem 0 .5rem}
h4{margin:.8rem 0 .3rem}
code,.argv{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere;white-space:pre-wrap}
table{border-collapse:collapse;margin:.3rem 0 .8rem;font-size:.9rem}
th,td{border:1px solid #d1d5db;padding:.2rem .5rem;text-align:left;vertical-align:top;overflow-wrap:break-word;
max-width:60rem}
th{background:#f3f4f6;white-space:nowrap}td.num,th.num{text-align:right;white-space:nowrap}
.warning{background:#fef3c7;border:1px solid #f59e0b;padding:.5rem .8rem;margin:.5rem 0}
.warnings li{margin:.2rem 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}
dl.facts dt{font-weight:bold}dl.facts dd{margin:0;overflow-wrap:anywhere}
section.container{border:1px solid #93c5fd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
section.missing{border-color:#f59e0b}
summary{cursor:pointer;margin:.4rem 0;font-weight:600}
.image{color:#4b5563;margin-left:.5rem}
.charts svg{display:block;margin:.5rem 0;max-width:100%;height:auto}
svg.netmap{max-width:100%;height:auto;border:1px solid #e5e7eb;background:#fafafa}
ul.tree,ul.tree ul{list-style:none;padding-left:1.2rem;border-left:1px dotted #9ca3af;margin:0}
ul.tree{border-left:none;padding-left:0}
.pid{font-weight:bold;color:#1d4ed8}.then{color:#6b7280;margin-left:1rem}.meta{color:#6b7280;font-size:.85em}
.denied{color:#b91c1c;font-weight:bold}.more,.stats{color:#4b5563;font-size:.9em}
.labels{margin:0;padding-left:1rem}.time,code.id{white-space:nowrap}
"""


def render(recording: Recording, containers: list[ContainerRecording]) -> str:
    """The page for `containers` (a selection of the recording's containers)."""
    title = f"Eunomia recording — {safe(recording.host.get('hostname'))}"
    body = [f"<h1>{hcell(title, 300)}</h1>", _run(recording), _warnings(recording.warnings),
            _inventory(containers), _network(recording, containers)]
    body += [section(c) for c in containers]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{h(CSP)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>{hcell(title, 300)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(part for part in body if part) + "\n</body></html>\n")


def _run(recording: Recording) -> str:
    host = recording.host
    s = recording.stats
    pairs = [
        ("directory", f"<code>{hcell(str(recording.path))}</code>"),
        ("host", f"{hcell(host.get('hostname'))} (kernel {h(host.get('kernel'))}, {h(host.get('machine'))})"),
        ("window", f"{h(recording.window[0])} → {h(recording.window[1], 'still recording')}"),
        ("complete", "yes" if recording.complete else "<strong>no</strong>: still being written, or the "
                                                      "recorder was stopped"),
        ("trackers", h(", ".join(recording.trackers))),
        ("scope", h((", ".join(recording.scope_containers) or "all containers")
                    + (" and the host" if recording.scope_host else ""))),
        ("events", f"{s.events} written, {s.unwritten} unwritten, {s.lost} lost in the kernel, "
                   f"{s.undecodable} undecodable"),
        ("recorded by", f"eunomia {h(recording.tool_version)}"),
    ]
    if recording.command is not None:
        argv, code = recording.command
        pairs.append(("command", f"<code>{hcell(format_argv(list(argv)))}</code> (exit {h(code)})"))
    return facts(pairs)


def _warnings(warnings: list[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{hcell(w)}</li>" for w in warnings)
    return f'<div class="warning warnings"><strong>Warnings</strong><ul>{items}</ul></div>'


def _inventory(containers: list[ContainerRecording]) -> str:
    rows = []
    for c in containers:
        r = c.report
        info = r.container if r else None
        rows.append([
            f'<a href="#{h("c-" + c.entry.folder)}">{hcell(c.display_name, 200)}</a>',
            f"<code class=\"id\">{h(c.short_id)}</code>", hcell(c.image, 200),
            _time(info.started if info else None), _time(info.exited if info else None),
            h(info.exit_code if info else None), str(c.entry.events), str(c.entry.unwritten),
            _count(r and len(r.processes)), _count(r and len(r.files)), _count(r and len(r.connections)),
            "complete" if r and r.complete else ("checkpoint" if r else "<strong>report missing</strong>"),
        ])
    return "<h3>Containers</h3>" + table(
        ["container", "id", "image", "started", "exited", "exit code", "events", "unwritten", "programs", "files",
         "connections", "report"], rows, numeric=(5, 6, 7, 8, 9, 10))


def _time(value: Optional[str]) -> str:
    return f'<span class="time">{h(value)}</span>'


def _count(n: Optional[int]) -> str:
    return "—" if n is None else str(n)


def _network(recording: Recording, containers: list[ContainerRecording]) -> str:
    selected = None if len(containers) == len(recording.containers) else containers
    graph = build_map(recording.containers, selected)
    if not graph.edges:
        note = '<p class="more">No connection between containers, or to the host or outside, was recorded.</p>'
        return f'<h3>Network map</h3>{note}' + (network_svg(graph) if graph.nodes else "")
    rows = [[hcell(graph.label(e.src), 200), "→" if e.directed else "—", hcell(graph.label(e.dst), 200),
             h(", ".join(e.service_labels())), str(e.count)] for e in graph.edges]
    edges = table(["from", "", "to", "services", "count"], rows, numeric=(4,))
    legend = ('<p class="more">Arrows go from the side that connected to the side that accepted. Dashed: a peer '
              'that was not recorded, or whose report is missing.</p>')
    return f'<h3>Network map</h3>{network_svg(graph)}{legend}' + block("Connections on the map", edges, False)
