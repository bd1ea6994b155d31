"""What `eunomia run` runs with: the command line over the config file over
the defaults, and what it loads from them (rules, baselines)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import trackers as tracker_registry
from ..api import DEFAULT_API_ADDRESS
from ..baseline.drift import BaselineError, DriftDetector, load_baselines
from ..config import Config, ConfigError, load_config
from ..metrics.activity import DEFAULT_GRACE_SECONDS
from ..metrics.server import DEFAULT_ADDRESS, MetricsAddressError, parse_address
from ..rules.engine import RulesEngine
from ..rules.names import MODES as NAME_MODES
from ..rules.ruleset import RuleSetError, load_rule_set
from .errors import UsageError

# what a SIGHUP cannot change while the probes stay attached
DEFAULT_DATA_DIR = "/var/lib/eunomia"
RESTART_TO_CHANGE = ("trackers", "containers", "host", "metrics", "format", "resolve", "api", "api_token_file", "data_dir")


@dataclass(frozen=True)
class Settings:
    """What the monitor runs with: the command line over the config file over the defaults."""

    trackers: tuple[str, ...]
    containers: tuple[str, ...]
    host: bool
    metrics: str
    sinks: tuple[str, ...]
    rules: tuple[str, ...]
    default_rules: bool
    baselines: tuple[str, ...]
    resolve: str
    format: str
    events: bool
    exited_series_seconds: float
    api: str = "off"                 # HOST:PORT of the HTTP API, on (its default address) or off
    api_token_file: str | None = None
    data_dir: str = DEFAULT_DATA_DIR  # what the agent keeps: the API's recordings

    @classmethod
    def merge(cls, cli: dict[str, Any], config: Config) -> "Settings":
        fmt = cli["format"] or config.format or ("table" if sys.stdout.isatty() else "json")
        grace = config.exited_series_seconds
        return cls(trackers=tuple(cli["trackers"]) or config.trackers,
                   containers=tuple(cli["containers"]) or config.containers,
                   host=config.host if cli["host"] is None else cli["host"],
                   metrics=cli["metrics"] or config.metrics or DEFAULT_ADDRESS,
                   sinks=tuple(cli["sinks"]) or config.sinks, rules=tuple(cli["rules"]) or config.rules,
                   default_rules=config.default_rules and not cli["no_default_rules"],
                   baselines=tuple(cli["baselines"]) or config.baselines,
                   resolve=cli["resolve"] or config.resolve_names or "hosts",
                   format=fmt,
                   events=config.events if cli["events"] is None else cli["events"],
                   exited_series_seconds=DEFAULT_GRACE_SECONDS if grace is None else grace,
                   api=cli.get("api") or config.api or "off",
                   api_token_file=cli.get("api_token_file") or config.api_token_file,
                   data_dir=cli.get("data_dir") or config.data_dir or DEFAULT_DATA_DIR)

    def check(self) -> tuple[list[tracker_registry.TrackerDef], tuple[str, int] | None]:
        """The trackers and the metrics address, or a UsageError naming the fix."""
        chosen = tracker_registry.select(list(self.trackers))
        for selector in self.containers:
            if not selector.strip():
                raise UsageError(f"-c {selector!r} names no container; give a container name, id or id prefix")
        if self.format not in ("table", "json"):
            raise UsageError(f"unknown format {self.format!r}; choose from table, json")
        if self.resolve not in NAME_MODES:
            raise UsageError(f"unknown --resolve {self.resolve!r}; choose from {', '.join(NAME_MODES)}")
        if self.events and self.format != "json":
            raise UsageError("--events writes JSON lines: give -f json too")
        try:
            return chosen, None if self.metrics == "off" else parse_address(self.metrics)
        except MetricsAddressError as exc:
            raise UsageError(str(exc)) from None

    def api_address(self) -> tuple[str, int] | None:
        """Where the API serves (None: off), or a UsageError naming the fix."""
        if self.api == "off":
            if self.api_token_file is not None:
                raise UsageError("--api-token-file is the API's: give --api HOST:PORT (or --api on) too")
            return None
        try:
            return parse_address(DEFAULT_API_ADDRESS if self.api == "on" else self.api, "--api", DEFAULT_API_ADDRESS)
        except MetricsAddressError as exc:
            raise UsageError(f"{exc}; or --api on for {DEFAULT_API_ADDRESS}") from None



def read_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        return load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def load_rules(paths: tuple[str, ...], defaults: bool) -> RulesEngine | None:
    if not paths and not defaults:
        return None
    try:
        return RulesEngine(load_rule_set([Path(p) for p in paths], defaults=defaults).rules)
    except RuleSetError as exc:
        raise UsageError(str(exc)) from None




def load_drift(directories: tuple[str, ...]) -> DriftDetector | None:
    if not directories:
        return None
    try:
        return DriftDetector(load_baselines([Path(d) for d in directories]))
    except BaselineError as exc:
        raise UsageError(str(exc)) from None
