"""The recording as one HTML page (eunomia.report.html): escaped, self-contained, with its pictures."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path

import pytest

from eunomia.report import html as html_view
from eunomia.report import load_recording, select_containers
from eunomia.report.netmap import HOST_LABEL, build_map
from eunomia.sinks.escape import format_argv

from ..recording_samples import (API, DB, HOSTILE_ARGV, HOSTILE_LABEL, HOSTILE_PATH, HOSTILE_PEER, MARKUP_PATH, NAMES,
                                 SCRIPT_PATH, WEB, assert_valid_recording, sample_reports, write_recording)


class Elements(HTMLParser):
    """Every element the browser would build: (tag, attributes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def _elements(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser.elements


def _page(directory: Path, selectors: tuple[str, ...] = ()) -> str:
    recording = load_recording(directory)
    return html_view.render(recording, select_containers(recording, selectors))


@pytest.fixture
def recording_dir(tmp_path: Path) -> Path:
    directory = write_recording(tmp_path / "rec")
    assert_valid_recording(directory)
    return directory


@pytest.fixture
def page(recording_dir) -> str:
    return _page(recording_dir)


def test_hostile_text_is_escaped(page):
    assert html.escape(HOSTILE_PATH, quote=True) in page
    assert "<img" not in page
    assert "<script" not in page and "</script>" not in page
    assert html.escape(SCRIPT_PATH, quote=True) in page
    assert "<svg onload" not in page and html.escape(HOSTILE_PEER, quote=True) in page
    assert html.escape(MARKUP_PATH, quote=True) in page
    assert html.escape(HOSTILE_LABEL[1], quote=True) in page
    # control characters shown as \xNN, never raw
    assert html.escape(format_argv(HOSTILE_ARGV), quote=True) in page
    assert "\\x1b[31mred" in page and "\\x07bell" in page and "\\xff raw byte" in page
    assert not any(ch in page for ch in "\x1b\x07\x00")


def test_page_is_self_contained_and_script_free(page):
    assert '<meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;; ' \
           'style-src &#x27;unsafe-inline&#x27;; img-src data:">' in page
    elements = _elements(page)
    tags = {tag for tag, _ in elements}
    assert not tags & {"script", "img", "iframe", "object", "embed", "link", "image", "use", "foreignobject",
                       "audio", "video", "source", "form", "base"}
    for tag, attrs in elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#"), (tag, attrs)
        assert "url(" not in (attrs.get("style") or "")
    assert "@import" not in page and "@font-face" not in page


def test_inventory_and_sections(page):
    elements = _elements(page)
    anchors = [attrs["href"] for tag, attrs in elements if tag == "a"]
    sections = [attrs["id"] for tag, attrs in elements if tag == "section"]
    assert anchors == [f"#{s}" for s in sections] and len(sections) == 3
    for name in NAMES:
        assert f"<h2>{name}</h2>" in page


def _edges(page: str) -> set[tuple[str, str]]:
    return {(attrs["data-from"], attrs["data-to"]) for tag, attrs in _elements(page)
            if tag == "g" and "edge" in (attrs.get("class") or "").split()}


def test_network_map_edges(page):
    assert '<svg class="netmap"' in page
    assert _edges(page) == {(WEB, API), (API, DB), (WEB, HOST_LABEL), (HOSTILE_PEER, API)}
    nodes = {attrs["data-name"] for tag, attrs in _elements(page)
             if tag == "g" and "node" in (attrs.get("class") or "").split()}
    assert nodes == {WEB, API, DB, HOST_LABEL, HOSTILE_PEER}
    assert "tcp/5432 ×12" in page and "tcp/8080 ×7" in page


def test_network_map_uses_inbound_connections_when_the_peer_has_no_report(tmp_path):
    directory = write_recording(tmp_path / "rec", without_report=(API,))
    edges = _edges(_page(directory))
    assert (API, DB) in edges                   # from db's inbound connection
    assert (WEB, API) in edges                  # from web's outbound connection
    assert (HOSTILE_PEER, API) not in edges     # only api's report knew that one


def test_network_map_of_a_selection_keeps_the_peers(recording_dir):
    recording = load_recording(recording_dir)
    graph = build_map(recording.containers, select_containers(recording, [DB]))
    assert {n.label for n in graph.nodes.values()} == {API, DB}
    assert [(graph.label(e.src), graph.label(e.dst)) for e in graph.edges] == [(API, DB)]


def test_self_connections_are_not_drawn(tmp_path):
    reports = sample_reports()
    reports[DB]["network"]["connections"].append({
        "direction": "outbound", "transport": "tcp", "peer_container": DB, "count": 1, "failed": {},
        "source": {"ip": "127.0.0.1", "port": 1, "container": DB},
        "destination": {"ip": "127.0.0.1", "port": 5432, "container": DB}, "bytes_sent": 0, "bytes_received": 0})
    recording = load_recording(write_recording(tmp_path / "rec", reports=reports))
    graph = build_map(recording.containers)
    assert all(e.src != e.dst for e in graph.edges)


def test_node_positions_are_inside_the_picture(recording_dir):
    graph = build_map(load_recording(recording_dir).containers)
    for node in graph.nodes.values():
        assert 0 < node.x < graph.width and 0 < node.y < graph.height


def test_charts_and_process_tree(page):
    assert "Top 5 syscalls of 5 (1679 calls)" in page
    assert "Files by bytes" in page and "Files by operations" in page
    # chart labels are cut, the whole value is in the tooltip
    long_label = html.escape(SCRIPT_PATH, quote=True)
    assert f"<title>{long_label}: 10 B</title>" in page
    # nested list: pid 102 inside 101 inside 100
    i100, i101, i102 = (page.index(f'<span class="pid">{p}</span>') for p in (100, 101, 102))
    assert i100 < i101 < i102
    between = page[i100:i102]
    assert between.count("<ul>") == 2 and "</ul>" not in between
    assert '<span class="then">then exec</span>' in page


def test_capabilities_table(page):
    assert "<td>CAP_SYS_ADMIN</td><td class=num>0</td><td class=num><span class=\"denied\">2</span></td>" in page


def test_very_long_values_are_cut(page):
    assert "L" * 4000 in page                  # tables keep 4096 characters
    assert "L" * 4097 not in page
    assert "more characters]" in page


def test_missing_report_and_incomplete_recording_are_visible(tmp_path):
    directory = write_recording(tmp_path / "rec", complete=False, without_report=(DB,))
    page = _page(directory)
    assert 'class="warning warnings"' in page
    assert "the recording is not complete" in page
    assert f"container {DB}: it has no report.json" in page
    assert '<section class="container missing"' in page
    assert "<strong>report missing</strong>" in page


def test_selection_renders_only_those_containers(recording_dir):
    page = _page(recording_dir, (API,))
    assert "<h2>api</h2>" in page and "<h2>web</h2>" not in page and "<h2>db</h2>" not in page


def test_lone_surrogates_are_shown_escaped(tmp_path):
    reports = sample_reports()
    reports[DB]["files"][0]["path"] = "/data/\udcff\u202ename"
    directory = tmp_path / "rec"
    write_recording(directory, reports=reports)   # json.dumps writes "\udcff" as an escape
    page = _page(directory)
    page.encode("utf-8")                          # strict: no lone surrogate left in the page
    assert "/data/\\udcff\\u202ename" in page


def test_capability_decisions_are_the_workloads_and_probes_and_runc_are_apart():
    from types import SimpleNamespace

    from eunomia.report.html_container import _capabilities
    from eunomia.report.model import Capability

    admin = Capability.of("CAP_SYS_ADMIN", {"granted": 46, "denied": 538, "processes": ["dd", "sh", "runc:[2:INIT]"],
                                            "checks": [
        {"process": "sh", "syscall": "brk", "credentials": "own", "probe": True, "granted": 0, "denied": 538},
        {"process": "runc:[2:INIT]", "syscall": "mount", "credentials": "own", "probe": False, "granted": 40,
         "denied": 0},
        {"process": "dd", "syscall": "openat", "credentials": "borrowed", "probe": False, "granted": 6, "denied": 0}]})
    assert (admin.granted, admin.denied, admin.processes, admin.probes, admin.runtime) == (6, 0, ("dd",), 538, 40)
    setpcap = Capability.of("CAP_SETPCAP", {"granted": 55, "denied": 0, "processes": ["runc:[2:INIT]"], "checks": [
        {"process": "runc:[2:INIT]", "syscall": "prctl", "credentials": "own", "probe": False, "granted": 55,
         "denied": 0}]})
    assert not setpcap.used  # only runc's set-up asked for it
    html = _capabilities(SimpleNamespace(capabilities=(admin, setpcap)))
    assert "Capabilities used: 1" in html and "CAP_SETPCAP" not in html
    assert "<td>CAP_SYS_ADMIN</td><td class=num>6</td>" in html
    assert ("Not counted above: 538 probe checks (a kernel function asking, never failing a call) and 95 checks "
            "by the runtime setting the container up; report.json has them.") in html
