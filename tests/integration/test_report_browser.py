"""The HTML report in a real browser (Debian's chromium): nothing runs, nothing is fetched, all is shown.

Needs neither root, BPF nor Docker: only chromium and playwright.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from eunomia.report import html as html_view
from eunomia.report import load_recording
from eunomia.report.netmap import HOST_LABEL

from ..recording_samples import (API, DB, HOSTILE_LABEL, HOSTILE_PATH, HOSTILE_PEER, MARKUP_PATH, NAMES, SCRIPT_PATH,
                                 WEB, assert_valid_recording, write_recording)
from .browser import PageResult, chromium_missing, open_page

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def docker_daemon() -> None:
    """This module needs no Docker daemon nor root: it replaces the package's session fixture."""


def _write_page(tmp_path: Path, **kwargs) -> Path:
    directory = write_recording(tmp_path / "rec", **kwargs)
    assert_valid_recording(directory)
    recording = load_recording(directory)
    out = tmp_path / "report.html"
    out.write_text(html_view.render(recording, recording.containers), encoding="utf-8")
    return out


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[PageResult]:
    why = chromium_missing()
    if why:
        pytest.skip(why)
    with open_page(_write_page(tmp_path)) as page:
        yield page


def test_page_runs_nothing_and_fetches_nothing(browser_page):
    assert browser_page.console_errors == []
    assert browser_page.page_errors == []
    assert browser_page.dialogs == []
    assert browser_page.other_requests == []
    assert browser_page.requests == [browser_page.url]
    assert browser_page.count("img") == 0
    assert browser_page.count("script") == 0
    assert browser_page.count("iframe, object, embed, link, image, use, foreignObject") == 0


def test_page_shows_every_container_and_the_hostile_text_literally(browser_page):
    text = browser_page.text
    for name in NAMES:
        assert name in text
    assert HOSTILE_PATH in text
    assert SCRIPT_PATH in text
    assert MARKUP_PATH in text
    assert HOSTILE_PEER in text
    assert f"{HOSTILE_LABEL[0]} = {HOSTILE_LABEL[1]}" in text
    assert "\\x1b[31mred\\x1b[0m \\x07bell" in text
    assert "\x1b" not in text and "\x07" not in text
    assert browser_page.texts("h2") == list(NAMES)


def test_network_map_is_drawn_with_the_container_names(browser_page):
    assert browser_page.count("svg.netmap") == 1
    labels = browser_page.attributes("svg.netmap g.node", "data-name")
    assert set(labels) == {WEB, API, DB, HOST_LABEL, HOSTILE_PEER}
    shown = browser_page.texts("svg.netmap g.node text")
    assert {WEB, API, DB, HOST_LABEL} <= set(shown)
    edges = set(zip(browser_page.attributes("svg.netmap g.edge", "data-from"),
                    browser_page.attributes("svg.netmap g.edge", "data-to")))
    assert (WEB, API) in edges and (API, DB) in edges
    # the drawing has a size: the browser laid it out
    box = browser_page.evaluate("(() => { const r = document.querySelector('svg.netmap').getBoundingClientRect();"
                                " return [r.width, r.height]; })()")
    assert box[0] > 100 and box[1] > 100


def test_charts_and_process_tree_render(browser_page):
    assert browser_page.count("svg.chart") >= 3 * 2
    assert browser_page.count("ul.tree li") >= 3 + 2 + 1
    assert "then exec" in browser_page.text


def test_incomplete_recording_shows_its_warnings(tmp_path):
    why = chromium_missing()
    if why:
        pytest.skip(why)
    with open_page(_write_page(tmp_path, complete=False, without_report=(DB,))) as page:
        assert page.console_errors == [] and page.page_errors == [] and page.dialogs == []
        assert "the recording is not complete" in page.text
        assert f"container {DB}: it has no report.json" in page.text
        assert DB in page.texts("h2")
