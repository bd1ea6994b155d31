"""The recording on a terminal (eunomia.report.console): literal, escaped, complete."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from eunomia.report import console, load_recording, select_containers

from ..recording_samples import (API, DB, HOSTILE_LABEL, HOSTILE_PATH, HOSTILE_PEER, MARKUP_PATH, NAMES, SCRIPT_PATH,
                                 WEB, assert_valid_recording, write_recording)


def _render(directory: Path, selectors: tuple[str, ...] = (), color: bool = False) -> str:
    recording = load_recording(directory)
    out = StringIO()
    term = Console(file=out, width=200, force_terminal=color, color_system="truecolor" if color else None,
                   highlight=False)
    console.render(term, recording, select_containers(recording, selectors), rows=50)
    return out.getvalue()


@pytest.fixture
def recording_dir(tmp_path: Path) -> Path:
    directory = write_recording(tmp_path / "rec")
    assert_valid_recording(directory)
    return directory


def test_shows_every_container_and_its_data(recording_dir):
    text = _render(recording_dir)
    for name in NAMES:
        assert f"─ {name} ─" in text
    assert "example/web:1" in text and "a1a1a1a1a1a1" in text
    assert "nginx -g 'daemon off;'" in text                       # argv, quoted as a shell would need it
    assert "then exec: [/bin/cat] cat /etc/hosts" in text        # the second program of pid 102
    assert "CAP_NET_BIND_SERVICE" in text and "CAP_SYS_ADMIN" in text
    assert "epoll_wait" in text and "900" in text
    assert "172.18.0.3:8080" in text and "93.184.216.34:443" in text
    assert "host / outside" in text
    assert "open_read EACCES×3" in text
    assert "42 events written, 0 unwritten, 0 dropped" in text


def test_hostile_text_prints_literally(recording_dir):
    text = _render(recording_dir)
    assert HOSTILE_PATH in text
    assert MARKUP_PATH in text                # Rich markup in data is not interpreted
    assert SCRIPT_PATH in text
    assert HOSTILE_PEER in text
    assert f"{HOSTILE_LABEL[0]}={HOSTILE_LABEL[1]}" in text
    assert "'echo \\x1b[31mred\\x1b[0m \\x07bell'" in text
    assert "'\\xff raw byte'" in text
    assert "\x1b" not in text and "\x07" not in text


def test_markup_is_not_interpreted_on_a_colour_terminal(recording_dir):
    text = _render(recording_dir, color=True)
    assert "[bold red]x[/]" in text
    assert "]8;" not in text                  # no hyperlink escape made from [link=...]
    assert "\x1b[31mred" not in text          # the recorded escape stays escaped


def test_very_long_values_are_cut_visibly(recording_dir):
    text = _render(recording_dir)
    assert "more characters]" in text
    assert "L" * 5000 not in text


def test_only_selected_containers(recording_dir):
    text = _render(recording_dir, (DB,))
    assert f"─ {DB} ─" in text and f"─ {WEB} ─" not in text and f"─ {API} ─" not in text


def test_warnings_and_missing_report_are_visible(tmp_path):
    directory = write_recording(tmp_path / "rec", complete=False, without_report=(API,))
    text = _render(directory)
    assert "warning: the recording is not complete" in text
    assert f"warning: container {API}: it has no report.json" in text
    assert "no report.json in" in text
    assert f"─ {DB} ─" in text                 # the others are still shown
