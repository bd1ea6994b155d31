"""Command-line usage and errors (eunomia.cli), without root or BPF."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

import eunomia.cli.errors
from eunomia.cli import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _all_output(result) -> str:
    text = result.output
    try:
        stderr = result.stderr
    except (ValueError, AttributeError):  # older click: stderr not captured separately
        stderr = ""
    return text + (stderr if stderr and stderr not in text else "")


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps help text at the terminal width


def test_help_lists_commands(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "trace" in result.output
    assert "doctor" in result.output


def test_no_arguments_shows_help(runner):
    result = runner.invoke(app, [])
    assert "trace" in _all_output(result)
    assert "Traceback" not in _all_output(result)


def test_trace_help_shows_examples(runner):
    result = runner.invoke(app, ["trace", "--help"])
    assert result.exit_code == 0
    text = _flat(result.output)
    assert "eunomia trace exec -c web" in text
    assert "eunomia trace exec -c web -c db -o events.jsonl" in text
    assert "--container" in text and "--host" in text and "--format" in text
    known = text.split("Known:", 1)[1]
    assert "exec" in known and "syscall" in known


def test_short_help_option(runner):
    result = runner.invoke(app, ["trace", "-h"])
    assert result.exit_code == 0
    assert "eunomia trace exec -c web" in _flat(result.output)


def test_unknown_tracker_is_a_usage_error(runner):
    result = runner.invoke(app, ["trace", "nosuchtracker"])
    out = _all_output(result)
    assert result.exit_code == 2
    assert "eunomia: error: unknown tracker 'nosuchtracker'; choose from: " in out
    assert "exec" in out.split("choose from: ", 1)[1]
    assert "Traceback" not in out


def test_internal_tracker_is_not_selectable(runner):
    result = runner.invoke(app, ["trace", "cgroup"])
    assert result.exit_code == 2
    assert "unknown tracker 'cgroup'" in _all_output(result)


def test_unknown_format_is_a_usage_error(runner):
    result = runner.invoke(app, ["trace", "-f", "xml"])
    out = _all_output(result)
    assert result.exit_code == 2
    assert "unknown format 'xml'" in out
    assert "table, json, csv" in out
    assert "Traceback" not in out


def test_unknown_option_is_a_usage_error(runner):
    result = runner.invoke(app, ["trace", "--nosuchoption"])
    assert result.exit_code == 2
    assert "Traceback" not in _all_output(result)


@pytest.fixture
def not_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(eunomia.cli.errors, "_has_bpf_caps", lambda: False)


def test_trace_without_root(runner, not_root):
    result = runner.invoke(app, ["trace", "exec"])
    out = _all_output(result)
    assert result.exit_code == 1
    assert "eunomia: error: eunomia trace needs root to load BPF programs: run it with sudo" in out
    assert "Traceback" not in out


def test_usage_errors_come_before_the_root_check(runner, not_root):
    result = runner.invoke(app, ["trace", "nosuchtracker"])
    assert result.exit_code == 2
    assert "needs root" not in _all_output(result)


def test_trace_with_bpf_capabilities_passes_the_root_check(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(eunomia.cli.errors, "_has_bpf_caps", lambda: True)
    eunomia.cli.errors.require_root("eunomia trace")  # no exception
    monkeypatch.setattr(eunomia.cli.errors, "_has_bpf_caps", lambda: False)
    with pytest.raises(eunomia.cli.errors.RuntimeFailure, match="needs root"):
        eunomia.cli.errors.require_root("eunomia trace")


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"eunomia {eunomia.__version__}"
