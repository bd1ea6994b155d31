"""`eunomia report` on the command line: output, --html, -c, and one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eunomia.cli import app

from ..recording_samples import API, DB, FOLDERS, HOSTILE_PATH, NAMES, WEB, assert_valid_recording, write_recording


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def recording_dir(tmp_path: Path) -> Path:
    directory = write_recording(tmp_path / "rec")
    assert_valid_recording(directory)
    return directory


def _stderr(result) -> str:
    try:
        return result.stderr
    except (ValueError, AttributeError):
        return result.output


def _error_line(result) -> str:
    """The one line a failing command prints."""
    lines = [line for line in _stderr(result).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in result.output
    return lines[0]


def test_help_shows_examples(runner):
    result = runner.invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "eunomia report rec/ --html rec.html" in text
    assert "--html" in text and "--container" in text


def test_report_is_listed(runner):
    assert "report" in runner.invoke(app, ["--help"]).output


def test_prints_every_container(runner, recording_dir):
    result = runner.invoke(app, ["report", str(recording_dir)])
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert f"─ {name} ─" in result.output
    assert "\x1b" not in result.output


def test_only_selected_container(runner, recording_dir):
    result = runner.invoke(app, ["report", str(recording_dir), "-c", API])
    assert result.exit_code == 0
    assert f"─ {API} ─" in result.output and f"─ {WEB} ─" not in result.output


def test_html_writes_the_page_and_prints_its_path(runner, recording_dir, tmp_path):
    out = tmp_path / "page.html"
    result = runner.invoke(app, ["report", str(recording_dir), "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and HOSTILE_PATH not in page
    assert not list(tmp_path.glob(".page.html.*"))      # no temporary file left


def test_html_warnings_go_to_stderr(runner, tmp_path):
    directory = write_recording(tmp_path / "rec", complete=False, without_report=(DB,))
    result = runner.invoke(app, ["report", str(directory), "--html", str(tmp_path / "p.html")])
    assert result.exit_code == 0
    assert "eunomia: warning: the recording is not complete" in _stderr(result)
    assert f"eunomia: warning: container {DB}: it has no report.json" in _stderr(result)


def test_unwritable_html_path(runner, recording_dir, tmp_path):
    result = runner.invoke(app, ["report", str(recording_dir), "--html", str(tmp_path / "no" / "such" / "p.html")])
    assert result.exit_code == 2
    assert "choose a writable path for --html" in _error_line(result)


def test_missing_directory(runner, tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert _error_line(result).startswith("eunomia: error: ")
    assert "no such directory" in _error_line(result)


def test_not_a_directory(runner, recording_dir):
    result = runner.invoke(app, ["report", str(recording_dir / "index.json")])
    assert result.exit_code == 2
    assert "is not a directory" in _error_line(result)


def test_no_index(runner, tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "it has no index.json" in _error_line(result)


def test_invalid_report(runner, recording_dir):
    path = recording_dir / FOLDERS[WEB] / "report.json"
    doc = json.loads(path.read_text())
    doc["files"][0]["operations"]["explode"] = 1
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["report", str(recording_dir)])
    assert result.exit_code == 2
    line = _error_line(result)
    assert "report.json: invalid at /files/0/operations: " in line
    assert "record again, or repair the file" in line


def test_unknown_container(runner, recording_dir):
    result = runner.invoke(app, ["report", str(recording_dir), "-c", "nginx"])
    assert result.exit_code == 2
    assert "no container 'nginx' in this recording" in _error_line(result)
