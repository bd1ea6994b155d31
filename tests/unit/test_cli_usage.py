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


def _one_error_line(result) -> str:
    lines = [line for line in _all_output(result).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("eunomia: error: ") and "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e99", "-1", "31622401"])
@pytest.mark.parametrize("command", [["trace", "exec"], ["record", "-d", "{tmp}/rec"], ["run"],
                                     ["advise", "verify", "{tmp}/rec", "-c", "app"]])
def test_timeouts_that_are_not_a_number_of_seconds_are_usage_errors(runner, tmp_path, command, value):
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command] + ["-T", value]
    if command[0] == "advise":
        args += ["--", "docker", "run", "--rm", "busybox"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert line.startswith(f"eunomia: error: -T {float(value):g} is not a usable number of seconds; "
                           "give a finite number from ")
    assert not (tmp_path / "rec").exists()  # refused before anything was made


def test_record_with_dashdash_but_no_command_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(app, ["record", "-d", str(tmp_path / "rec"), "-T", "5", "--"])
    assert result.exit_code == 2
    assert "no COMMAND after `--`" in _one_error_line(result)
    assert not (tmp_path / "rec").exists()


@pytest.mark.parametrize("command", ["trace", "record", "run"])
@pytest.mark.parametrize("selector", ["", "  "])
def test_an_empty_container_name_is_a_usage_error(runner, tmp_path, command, selector):
    result = runner.invoke(app, [command, "-c", selector, "-T", "1"] +
                           (["-d", str(tmp_path / "rec")] if command == "record" else []))
    assert result.exit_code == 2
    assert f"-c {selector!r} names no container; give a container name, id or id prefix" in \
        _one_error_line(result)


def test_record_into_an_existing_file_says_what_is_wrong(runner, tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    result = runner.invoke(app, ["record", "-d", str(existing), "-T", "1"])
    assert result.exit_code == 2
    assert _one_error_line(result) == (f"eunomia: error: {existing} exists and is not a directory; "
                                       "choose a new directory with -d")
    assert existing.read_text() == "mine"


def test_record_names_the_container_of_a_foreground_docker_run(tmp_path):
    from pathlib import Path

    from eunomia.advise.verify import RunOptions, with_cidfile

    options = RunOptions({"--name": True, "--rm": False, "--detach": False, "--cidfile": True, "--env": True},
                         {"-d": "--detach", "-e": "--env"})
    cid = tmp_path / "command.cid"
    assert with_cidfile(["docker", "run", "--rm", "-e", "-d", "img", "-d"], options, cid) == (
        ["docker", "run", "--cidfile", str(cid), "--rm", "-e", "-d", "img", "-d"], cid)  # -d: -e's value, img's arg
    assert with_cidfile(["/usr/bin/docker", "container", "run", "img"], options, cid) == (
        ["/usr/bin/docker", "container", "run", "--cidfile", str(cid), "img"], cid)
    assert with_cidfile(["docker", "run", "--cidfile=/x/id", "img"], options, cid) == (
        ["docker", "run", "--cidfile=/x/id", "img"], Path("/x/id"))  # its own
    assert with_cidfile(["docker", "run", "-d", "img"], options, cid) is None  # detached: outlives it by design
    assert with_cidfile(["docker", "run", "--detach=true", "img"], options, cid) is None
    assert with_cidfile(["docker", "run", "--bogus", "img"], options, cid) is None  # docker will say so
    assert with_cidfile(["sh", "-c", "docker run img"], options, cid) is None


@pytest.mark.parametrize("args, message", [
    (["--metrics", "9464"], "--metrics '9464': give HOST:PORT, e.g. 127.0.0.1:9464"),
    (["--metrics", "example.com:9464"], "the host must be an IP address"),
    (["--sink", "kafka:x"], "--sink 'kafka:x': give KIND:TARGET, one of: influxdb:http://HOST:PORT/DATABASE; jsonl:PATH"),
    (["--sink", "jsonl:"], "the target is missing"),
    (["-f", "csv"], "unknown format 'csv'; choose from table, json"),
    (["-f", "table", "--events"], "--events writes JSON lines: give -f json too"),
    (["-t", "nosuch"], "nosuch"),
])
def test_run_refuses_bad_input_in_one_line(runner, args, message):
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 2
    assert message in _one_error_line(result)


def test_run_help_shows_examples_and_the_default_metrics_address(runner):
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    text = _flat(result.output)
    assert "eunomia run --sink jsonl:/var/log/eunomia/events.jsonl" in text
    assert "127.0.0.1:9464" in text


def test_rules_check_counts_per_file_the_defaults_first(runner, tmp_path):
    import yaml

    from eunomia.rules.ruleset import DEFAULT_RULES

    from ..reference import reference_file

    items = yaml.safe_load(DEFAULT_RULES.read_text())
    kinds = [next(k for k in ("list", "macro", "rule", "required_engine_version") if k in i) for i in items]
    falco = reference_file("falco_rules.yaml")
    result = runner.invoke(app, ["rules", "check", str(falco)])
    assert result.exit_code == 0, _all_output(result)
    lines = result.output.splitlines()
    assert lines[0] == (f"default rules: compiled {kinds.count('list')} lists, {kinds.count('macro')} macros, "
                        f"{kinds.count('rule')} rules: {kinds.count('rule')} run, 0 disabled")
    assert lines[1] == f"{falco}: compiled 49 lists, 87 macros, 25 rules: 25 run, 0 disabled"
    assert len([line for line in lines if line.startswith("  disabled: ")]) == 0

    alone = runner.invoke(app, ["rules", "check", "--no-default-rules", str(falco)])
    assert alone.exit_code == 0 and not alone.output.startswith("default rules")

    nothing = runner.invoke(app, ["rules", "check", "--no-default-rules"])
    assert nothing.exit_code == 2
    assert "--no-default-rules leaves nothing to check: give rule files too" in _all_output(nothing)

    broken = tmp_path / "broken.yaml"
    broken.write_text("- rule: r\n  condition: proc.name =\n  output: x\n  priority: INFO\n")
    bad = runner.invoke(app, ["rules", "check", str(broken)])
    assert bad.exit_code == 2 and f"{broken}:" in _all_output(bad) and "Traceback" not in _all_output(bad)


def test_the_default_rules_can_be_switched_off_one_by_one(tmp_path):
    from eunomia.rules.ruleset import load_rule_set

    off = tmp_path / "off.yaml"
    off.write_text("- rule: Package manager run in a container\n  enabled: false\n"
                   "- list: eunomia_package_managers\n  items: [brew]\n  append: true\n")
    rule_set = load_rule_set([off], defaults=True)
    disabled = {r.rule.name: r.disabled for r in rule_set.disabled}
    assert list(disabled) == ["Package manager run in a container"]
    assert "brew" in rule_set.files.lists["eunomia_package_managers"].items
