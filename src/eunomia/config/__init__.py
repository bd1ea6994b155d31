"""The configuration of `eunomia run`: a YAML file checked against a JSON Schema.

    config = load_config(Path("/etc/eunomia/config.yaml"))   # or ConfigError, one line

What is wrong is said in one line naming the file, the key and the fix
(docs/config.md).  Values are checked for their form here; whether a
tracker, a sink kind or an address exists is checked by whoever uses it,
with the same one-line errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..inputs import read_small_file, why_unreadable

MAX_BYTES = 1 << 20


class ConfigError(ValueError):
    """The file cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Config:
    trackers: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    host: bool = False
    metrics: str | None = None            # None: the command line's default
    sinks: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    default_rules: bool = True
    baselines: tuple[str, ...] = ()
    resolve_names: str | None = None
    format: str | None = None
    events: bool = False
    exited_series_seconds: float | None = None
    api: str | None = None                # HOST:PORT, "on" or "off"; None: the command line's default
    api_token_file: str | None = None
    data_dir: str | None = None
    source: Path | None = field(default=None, compare=False)


def schema() -> dict[str, Any]:
    return json.loads(resources.files(__name__).joinpath("schema.json").read_text())


def load_config(path: Path) -> Config:
    try:
        raw = read_small_file(path, MAX_BYTES)
    except OSError as exc:
        raise ConfigError(f"{path}: {why_unreadable(exc)}; give a readable YAML file of a few lines") from None
    try:
        document = yaml.safe_load(raw) if raw.strip() else {}
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply; a configuration is a flat mapping") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}{where}: {problem}; fix the YAML there") from None
    if document is None:
        document = {}
    return config_from(document, path)


def config_from(document: Any, path: Path) -> Config:
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if errors:
        raise ConfigError(f"{path}: {_explain(errors[0])}")
    limits = document.get("limits") or {}
    metrics = document.get("metrics")
    api = document.get("api")
    return Config(
        trackers=tuple(document.get("trackers", ())), containers=tuple(document.get("containers", ())),
        host=document.get("host", False), metrics="off" if metrics is False else metrics, sinks=tuple(document.get("sinks", ())),
        rules=tuple(document.get("rules", ())), default_rules=document.get("default_rules", True),
        baselines=tuple(document.get("baseline", ())), resolve_names=document.get("resolve_names"),
        format=document.get("format"), events=document.get("events", False),
        exited_series_seconds=limits.get("exited_series_seconds"),
        api={True: "on", False: "off"}.get(api, api) if api is not None else None,  # type: ignore[arg-type]
        api_token_file=document.get("api_token_file"), data_dir=document.get("data_dir"), source=path)


def _explain(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    known = sorted((error.schema.get("properties") or {}) if isinstance(error.schema, dict) else {})
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
        where = f"in {key}: " if error.absolute_path else ""
        return f"{where}unknown key {extra[0]!r}; known keys: {', '.join(known)}"
    if error.validator == "oneOf" and key == "metrics":
        return f"metrics: {_shown(error.instance)} is not HOST:PORT or off; give e.g. 127.0.0.1:9464"
    if error.validator == "oneOf" and key == "api":
        return f"api: {_shown(error.instance)} is not HOST:PORT, true or false; give e.g. 127.0.0.1:8527"
    if error.validator == "type":
        hint = " (quote it: YAML reads yes, no, on, off as true or false)" if isinstance(error.instance, bool) \
            and error.validator_value == "string" else ""
        return f"{key}: {_shown(error.instance)} is not {_article(error.validator_value)}; " \
               f"give {_article(error.validator_value)}{hint}"
    if error.validator == "enum":
        return f"{key}: {_shown(error.instance)} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "uniqueItems":
        return f"{key}: an item is given twice; give each once"
    if error.validator in ("minimum", "maximum"):
        return f"{key}: {_shown(error.instance)} is out of range; give a number from " \
               f"{error.schema.get('minimum')} to {error.schema.get('maximum')}"
    if error.validator in ("minLength", "pattern"):
        return f"{key}: an empty value; give a name"
    return f"{key}: {error.message}"


def _article(kind: Any) -> str:
    names = {"array": "a list", "object": "a mapping", "string": "a string", "boolean": "true or false",
             "number": "a number", "integer": "a whole number"}
    return names.get(str(kind), str(kind))


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
