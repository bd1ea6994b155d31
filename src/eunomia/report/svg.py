"""Inline SVG pictures for the HTML report: the network map and bar charts.

No script, no external reference: every label goes through `h` (escaped
text and attributes); long labels are cut, the whole value in a <title>
tooltip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .netmap import NODE_H, NODE_W, Edge, NetworkMap, Node
from .text import clip, h, safe

LABEL_CHARS = 40       # characters of a chart label before it is cut
NODE_CHARS = 22
TOOLTIP_LIMIT = 4096   # characters kept in a tooltip
BEND = 0.18            # how far an edge bows from the straight line, as a share of its length

NODE_FILL = {"container": "#dbeafe", "missing": "#fde68a", "peer": "#e5e7eb", "host": "#fce7f3"}
NODE_STROKE = {"container": "#1d4ed8", "missing": "#b45309", "peer": "#6b7280", "host": "#be185d"}


def _tip(text: str) -> str:
    return h(clip(safe(text, ""), TOOLTIP_LIMIT), "")


def network_svg(graph: NetworkMap) -> str:
    parts = [f'<svg class="netmap" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {graph.width:.0f} {graph.height:.0f}" width="{graph.width:.0f}" '
             f'height="{graph.height:.0f}" font-family="sans-serif" font-size="12">',
             '<title>Network map: connections between the containers of this recording</title>',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#374151"/>'
             '</marker></defs>']
    for edge in graph.edges:
        parts.append(_edge(graph, edge))
    for node in graph.nodes.values():
        parts.append(_node(node))
    parts.append("</svg>")
    return "".join(parts)


def _node(node: Node) -> str:
    x, y = node.x - NODE_W / 2, node.y - NODE_H / 2
    dash = ' stroke-dasharray="5 3"' if node.kind in ("peer", "missing") else ""
    note = {"peer": " (not recorded)", "missing": " (report.json missing)", "host": ""}.get(node.kind, "")
    return (f'<g class="node node-{node.kind}" data-name="{_tip(node.label)}">'
            f'<title>{_tip(node.label + note)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="8" '
            f'fill="{NODE_FILL[node.kind]}" stroke="{NODE_STROKE[node.kind]}" stroke-width="1.5"{dash}/>'
            f'<text class="node-label" x="{node.x:.1f}" y="{node.y + 4:.1f}" text-anchor="middle" '
            f'font-weight="bold">{h(clip(safe(node.label), NODE_CHARS))}</text></g>')


def _edge(graph: NetworkMap, edge: Edge) -> str:
    a, b = graph.nodes[edge.src], graph.nodes[edge.dst]
    dx, dy = b.x - a.x, b.y - a.y
    # control point: bowed to the right of the travel direction, so a→b and b→a do not overlap
    cx = (a.x + b.x) / 2 - dy * BEND
    cy = (a.y + b.y) / 2 + dx * BEND
    sx, sy = _border(a, cx, cy)
    ex, ey = _border(b, cx, cy)
    mx, my = 0.25 * sx + 0.5 * cx + 0.25 * ex, 0.25 * sy + 0.5 * cy + 0.25 * ey
    services = edge.service_labels()
    shown = ", ".join(services[:3]) + (f" +{len(services) - 3}" if len(services) > 3 else "")
    width = 1.2 + min(3.5, math.log10(edge.count + 1))
    arrow = ' marker-end="url(#arrow)"' if edge.directed else ""
    summary = f"{a.label} → {b.label}" if edge.directed else f"{a.label} — {b.label}"
    return (f'<g class="edge" data-from="{_tip(a.label)}" data-to="{_tip(b.label)}">'
            f'<title>{_tip(summary + ": " + ", ".join(services))}</title>'
            f'<path d="M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}" fill="none" '
            f'stroke="#374151" stroke-width="{width:.1f}"{arrow}/>'
            f'<text class="edge-label" x="{mx:.1f}" y="{my:.1f}" text-anchor="middle" font-size="11" '
            f'stroke="#ffffff" stroke-width="4" paint-order="stroke" fill="#111827">{h(shown)}</text></g>')


def _border(node: Node, tx: float, ty: float) -> tuple[float, float]:
    """Where the ray from the node's centre toward (tx, ty) leaves its box (plus a small gap)."""
    dx, dy = tx - node.x, ty - node.y
    if dx == 0 and dy == 0:
        return node.x, node.y
    scale = min((NODE_W / 2 + 3) / abs(dx) if dx else math.inf, (NODE_H / 2 + 3) / abs(dy) if dy else math.inf)
    return node.x + dx * scale, node.y + dy * scale


@dataclass(frozen=True)
class Series:
    name: str
    color: str


def bar_chart(title: str, rows: Sequence[tuple[str, Sequence[int]]], series: Sequence[Series],
              unit: str = "", value_text=None) -> str:
    """A horizontal bar chart: one row per label, stacked bars of the series' values."""
    label_w, bar_w, value_w, row_h, top = 310, 420, 110, 20, 30
    width = label_w + bar_w + value_w
    height = top + row_h * len(rows) + 10
    biggest = max((sum(values) for _, values in rows), default=0) or 1
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<title>{h(title)}</title>',
             f'<text x="0" y="16" font-weight="bold">{h(title)}</text>']
    if len(series) > 1:
        x = label_w
        for s in series:
            parts.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{s.color}"/>'
                         f'<text x="{x + 14}" y="15">{h(s.name)}</text>')
            x += 20 + 8 * len(s.name)
    for i, (label, values) in enumerate(rows):
        y = top + i * row_h
        total = sum(values)
        text = value_text(total) if value_text else f"{total}{unit}"
        parts.append(f'<g class="bar"><title>{_tip(label)}: {h(text)}</title>'
                     f'<text class="bar-label" x="{label_w - 8}" y="{y + 14}" text-anchor="end">'
                     f'{h(clip(safe(label), LABEL_CHARS))}</text>')
        x = float(label_w)
        for value, s in zip(values, series):
            w = bar_w * value / biggest
            if w > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                             f'fill="{s.color}"/>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 14}">{h(text)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
