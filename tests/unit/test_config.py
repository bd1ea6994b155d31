"""`eunomia run --config FILE` (eunomia.config): the schema and its one-line errors."""

from __future__ import annotations

import json

import jsonschema
import pytest

from eunomia.config import Config, ConfigError, load_config, schema


def _load(tmp_path, text: str) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path)


def test_a_full_configuration(tmp_path) -> None:
    config = _load(tmp_path, """
trackers: [exec, file]
containers: [web, db]
host: true
metrics: 0.0.0.0:9464
sinks:
  - jsonl:/var/log/eunomia/events.jsonl
format: json
events: true
limits:
  exited_series_seconds: 60
""")
    assert config == Config(trackers=("exec", "file"), containers=("web", "db"), host=True, metrics="0.0.0.0:9464",
                            sinks=("jsonl:/var/log/eunomia/events.jsonl",), format="json", events=True,
                            exited_series_seconds=60)


@pytest.mark.parametrize("text, api", [("api: true\n", "on"), ("api: false\n", "off"),
                                       ("api: 0.0.0.0:8527\napi_token_file: /etc/eunomia/token\n", "0.0.0.0:8527")])
def test_the_api_key(tmp_path, text, api) -> None:
    config = _load(tmp_path, text)
    assert config.api == api
    assert config.api_token_file == ("/etc/eunomia/token" if "token" in text else None)


@pytest.mark.parametrize("text", ["", "# nothing set\n", "{}\n"])
def test_an_empty_file_is_the_defaults(tmp_path, text) -> None:
    assert _load(tmp_path, text) == Config()


@pytest.mark.parametrize("text, message", [
    ("trakers: [exec]\n", "unknown key 'trakers'; known keys: api, api_token_file, baseline, containers, data_dir, default_rules, events, format, "
                          "host, limits, metrics, resolve_names, rules, sinks, trackers"),
    ("api: 8527\n", "api: 8527 is not HOST:PORT, true or false; give e.g. 127.0.0.1:8527"),
    ("limits: {grace: 1}\n", "in limits: unknown key 'grace'; known keys: exited_series_seconds"),
    ("containers: web\n", 'containers: "web" is not a list; give a list'),
    ("host: yes please\n", 'host: "yes please" is not true or false; give true or false'),
    ("format: csv\n", 'format: "csv" is not one of table, json'),
    ("containers: [web, web]\n", "containers: an item is given twice; give each once"),
    ("containers: ['  ']\n", "containers.0: an empty value; give a name"),
    ("limits: {exited_series_seconds: -1}\n", "limits.exited_series_seconds: -1 is out of range; give a number "
                                              "from 0 to 86400"),
    ("- a list\n", '(top level): ["a list"] is not a mapping; give a mapping'),
    ("trackers: [exec\n", ":2:1: expected ',' or ']', but got '<stream end>'; fix the YAML there"),
])
def test_errors_name_the_file_the_key_and_the_fix(tmp_path, text, message) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    line = str(caught.value)
    assert line.startswith(str(tmp_path / "config.yaml")) and message in line, line
    assert "\n" not in line


def test_unreadable_and_oversized_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read it: No such file or directory; give a readable YAML file"):
        load_config(tmp_path / "missing.yaml")
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_config(big)


def test_hostile_values_are_shown_escaped_and_short(tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, 'format: "\\e[31mred\\u202e' + "y" * 80 + '"\n')
    line = str(caught.value)
    assert "\x1b" not in line and "\u202e" not in line and "..." in line


def test_the_shipped_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert json.dumps(schema())  # plain JSON, as docs/config.md shows


def test_yaml_off_and_no_are_understood_or_explained(tmp_path) -> None:
    assert _load(tmp_path, "metrics: off\n").metrics == "off"  # YAML 1.1: a bare off is false
    with pytest.raises(ConfigError, match=r"containers.0: false is not a string; give a string \(quote it"):
        _load(tmp_path, "containers: [no]\n")
    with pytest.raises(ConfigError, match="metrics: 9464 is not HOST:PORT or off"):
        _load(tmp_path, "metrics: 9464\n")


def test_deeply_nested_yaml_is_one_line(tmp_path) -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        _load(tmp_path, "limits: " + "[" * 100000 + "]" * 100000 + "\n")
