"""`eunomia run`: the always-on monitor."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from prometheus_client.core import Metric
from rich.text import Text

from .. import outputs
from .. import trackers as tracker_registry
from ..bpf import features
from ..config import Config, ConfigError, load_config
from ..metrics.activity import DEFAULT_GRACE_SECONDS, Activity
from ..metrics.collector import EunomiaCollector, PipelineState, rule_metrics, sink_metrics
from ..metrics.server import DEFAULT_ADDRESS, MetricsAddressError, MetricsServer, parse_address
from ..pipeline.runner import Runner, Signals
from ..pipeline.scope import Scope
from ..rules.engine import FieldContext, RulesEngine
from ..rules.ruleset import RuleSetError, load_rule_set
from ..sinks import KindSink, Sink, SinkError, open_sink
from ..sinks.escape import escape_text
from ..sinks.jsonl import JsonLinesSink
from ..sinks.table import summary_line
from . import app
from .context import build_context
from .errors import (RuntimeFailure, UsageError, check_seconds, describe_failure, handle_errors, require_root,
                     warn)
from .live import LiveView
from .ready import announce_ready, check_ready_file
from .trace import describe_scope

PRUNE_SECONDS = (1.0, 10.0)  # exited containers are looked for every grace/10, within these bounds
# what a SIGHUP cannot change while the probes stay attached
RESTART_TO_CHANGE = ("trackers", "containers", "host", "metrics", "format")

EXAMPLES = f"""
Examples:

  eunomia run                                  # every container; metrics on {DEFAULT_ADDRESS}

  eunomia run -c web --metrics 0.0.0.0:9464    # one container, metrics for a remote Prometheus

  eunomia run --sink jsonl:/var/log/eunomia/events.jsonl     # keep every event, rotated by size

  eunomia run --rules falco_rules.yaml         # Falco's rules after Eunomia's defaults (--no-default-rules: only them)

  eunomia run --config /etc/eunomia/config.yaml              # the same from a file; SIGHUP re-reads it

  eunomia run -f json --events -T 60 | jq .type              # every event as JSON, for a minute
"""


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
    format: str
    events: bool
    exited_series_seconds: float

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
                   format=fmt,
                   events=config.events if cli["events"] is None else cli["events"],
                   exited_series_seconds=DEFAULT_GRACE_SECONDS if grace is None else grace)

    def check(self) -> tuple[list[tracker_registry.TrackerDef], tuple[str, int] | None]:
        """The trackers and the metrics address, or a UsageError naming the fix."""
        chosen = tracker_registry.select(list(self.trackers))
        for selector in self.containers:
            if not selector.strip():
                raise UsageError(f"-c {selector!r} names no container; give a container name, id or id prefix")
        if self.format not in ("table", "json"):
            raise UsageError(f"unknown format {self.format!r}; choose from table, json")
        if self.events and self.format != "json":
            raise UsageError("--events writes JSON lines: give -f json too")
        try:
            return chosen, None if self.metrics == "off" else parse_address(self.metrics)
        except MetricsAddressError as exc:
            raise UsageError(str(exc)) from None


@app.command(epilog=EXAMPLES)
@handle_errors
def run(
    container: list[str] = typer.Option([], "-c", "--container", metavar="NAME|ID",
                                         help="Only this container (name, id or id prefix, also one that "
                                              "starts later); repeat for more. Default: every container."),
    host: Optional[bool] = typer.Option(None, "--host/--no-host", show_default=False,
                                        help="Include processes that run outside containers (default: no)."),
    tracker: list[str] = typer.Option([], "-t", "--tracker", metavar="NAME",
                                       help="Run this tracker (repeat); default: every streaming one."),
    metrics: Optional[str] = typer.Option(None, "--metrics", metavar="HOST:PORT|off",
                                          help=f"Serve Prometheus metrics at http://HOST:PORT/metrics "
                                               f"[default: {DEFAULT_ADDRESS}]; off: none.", show_default=False),
    sink: list[str] = typer.Option([], "--sink", metavar="KIND:TARGET",
                                   help="Send every event to this sink too (repeat), e.g. jsonl:PATH."),
    rules: list[Path] = typer.Option([], "--rules", metavar="FILE",
                                     help="Raise alerts from this rules file in Falco's syntax (repeat: loaded in "
                                          "order); see `eunomia rules check`."),
    no_default_rules: bool = typer.Option(False, "--no-default-rules",
                                          help="Only the --rules files: leave Eunomia's default rules out "
                                               "(docs/rules.md)."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="FILE",
                                          help="Read these settings from a YAML file (docs/config.md); the "
                                               "options given here win. SIGHUP re-reads it."),
    timeout: Optional[float] = typer.Option(None, "-T", "--timeout", metavar="SECONDS",
                                            help="Stop after this many seconds (default: run until stopped)."),
    fmt: Optional[str] = typer.Option(None, "-f", "--format", metavar="table|json",
                                      help="table: a live view per container (default on a terminal); "
                                           "json: JSON lines on standard output (default when piped)."),
    events: Optional[bool] = typer.Option(None, "--events/--no-events", show_default=False,
                                          help="With -f json: write every event as a JSON line "
                                               "(default: only the summary line at the end)."),
    ready_file: Optional[Path] = typer.Option(
        None, "--ready-file", metavar="FILE",
        help="Create FILE (holding eunomia's pid) once every probe is attached and metrics are served."),
    debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks."),
) -> None:
    """Watch containers all the time: a live view, Prometheus metrics, sinks.

    SIGTERM or Ctrl-C flushes every sink and exits 0.  Counts the kernel
    keeps (bytes per file, syscalls) are read from its maps when Prometheus
    scrapes; the summary line at the end says what was received and lost.
    """
    check_seconds(timeout)
    cli = {"trackers": tracker, "containers": container, "host": host, "metrics": metrics, "sinks": sink,
           "rules": [str(r) for r in rules], "no_default_rules": no_default_rules, "format": fmt, "events": events}
    settings = Settings.merge(cli, _read_config(config))
    chosen, address = settings.check()
    engine = _load_rules(settings.rules, settings.default_rules)
    check_ready_file(ready_file)
    require_root("eunomia run")
    btf = features.probe("btf")
    if not btf.available:
        raise RuntimeFailure(f"no kernel BTF: {btf.detail}")
    monitor = Monitor(settings, cli, config, engine)
    try:
        monitor.run(chosen, address, timeout, ready_file)
    finally:
        monitor.close_sinks(None)


def _read_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        return load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _load_rules(paths: tuple[str, ...], defaults: bool) -> RulesEngine | None:
    if not paths and not defaults:
        return None
    try:
        return RulesEngine(load_rule_set([Path(p) for p in paths], defaults=defaults).rules)
    except RuleSetError as exc:
        raise UsageError(str(exc)) from None


def _open_sinks(specs: tuple[str, ...]) -> list[KindSink]:
    sinks: list[KindSink] = []
    try:
        for spec in specs:
            sinks.append(open_sink(spec))
    except SinkError as exc:
        for opened in sinks:
            opened.close(None)
        raise UsageError(str(exc)) from None
    return sinks


class Monitor:
    """The monitor's outputs: the live view or standard output, the sinks, the metrics."""

    def __init__(self, settings: Settings, cli: dict[str, Any], config_path: Path | None,
                 engine: RulesEngine | None = None) -> None:
        self.settings, self.cli, self.config_path = settings, cli, config_path
        self.engine = engine
        self.field_context = FieldContext()
        self.view: LiveView | None = None
        self._gone_since: dict[str, float] = {}  # exited containers without series → since when
        self.activity = Activity(grace=settings.exited_series_seconds)
        self.sinks = _open_sinks(settings.sinks)
        self.stdout = JsonLinesSink(outputs.stdout()) if settings.format == "json" else None
        self.printed: dict[str, set[str] | None] = {}

    def _streams(self) -> list[Sink]:
        return [*self.sinks, *([self.stdout] if self.stdout is not None and self.settings.events else [])]

    def emit(self, tracker: tracker_registry.TrackerDef, event: dict[str, Any]) -> None:
        self.activity.observe(event)
        kinds = self.printed.get(tracker.name)
        if kinds is None or event["type"] in kinds:
            for out in self.streams:
                out.write(event)
            if self.engine is not None:
                for alert in self.engine.evaluate(event):
                    self.alert(alert)

    def alert(self, alert: dict[str, Any]) -> None:
        """To standard output (JSON, or a line above the live view) and every sink."""
        self.activity.observe_alert(alert["container"])
        for out in self.sinks:
            out.write(alert)
        if self.stdout is not None:
            self.stdout.write(alert)
        elif self.view is not None:
            self.view.print(Text(f"{alert['time']} {alert['priority']} {escape_text(alert['rule'])}: "
                                 f"{escape_text(alert['output'])}"))

    def flush(self) -> None:
        for out in self.streams:
            out.flush()

    def run(self, chosen: list[tracker_registry.TrackerDef], address: tuple[str, int] | None,
            timeout: float | None, ready_file: Path | None) -> None:
        self.printed = {t.name: set(t.printed_kinds) if t.printed_kinds else None for t in chosen}
        self.streams = self._streams()
        scope = Scope(containers=self.settings.containers, host=self.settings.host, allow_pending=True)
        signals = Signals.install(reload=self.config_path is not None)
        with Runner(chosen, scope, build_context, signals=signals, timeout=timeout) as runner:
            session, context = runner.session, runner.context
            assert session is not None and context is not None
            low, high = PRUNE_SECONDS
            runner.every(min(high, max(low, self.settings.exited_series_seconds / 10)), lambda: self._prune(runner))
            self.field_context = FieldContext(context.processes, session.clock.wall_ns, context.proc_root,
                                              containers=context.registry.get)
            if self.engine is not None:
                self.engine.context = self.field_context
            state = PipelineState(session.summary, session.aggregates, session.ring_fill, self.activity, runner.lock,
                                  extra=self._extra_metrics, maps=session.maps)

            def after_poll() -> None:
                self.flush()
                if signals.reload:
                    signals.reload = False
                    self.reload()
            with _serving(address, EunomiaCollector(state)) as served:
                where = describe_scope(scope)
                served_at = f"; metrics on http://{served}/metrics" if served else ""
                typer.echo(f"eunomia: watching {where} with {', '.join(t.name for t in chosen)} "
                           f"(probes attached in {runner.attached_s:.2f}s){served_at}; Ctrl-C to stop", err=True)
                announce_ready(ready_file)
                if self.settings.format == "table":
                    with LiveView(self.activity, sys.stdout, f"eunomia: {where}") as view:
                        self.view = view
                        runner.every(1.0, view.refresh)
                        runner.pump(self.emit, after_poll=after_poll)
                        summary = runner.finish(self.emit)
                else:
                    runner.pump(self.emit, after_poll=after_poll)
                    summary = runner.finish(self.emit)
        if self.engine is not None:
            summary = {**summary, "alerts": sum(self.engine.counts.alerts.values()),
                       "alerts_suppressed": dict(self.engine.counts.suppressed)}
        self.close_sinks(summary)
        if self.stdout is not None:
            self.stdout.close(summary)
        else:
            typer.echo(summary_line(summary), err=True)

    def _extra_metrics(self) -> Iterator[Metric]:
        yield from sink_metrics(self.sinks)
        if self.engine is not None:
            yield from rule_metrics(dict(self.engine.counts.alerts), dict(self.engine.counts.suppressed))

    def _prune(self, runner: Runner) -> None:
        """Containers gone for longer than the grace leave the series, the
        registry, Docker's cache, the trackers' memory and the kernel's
        per-container maps: memory stays bounded however many come and go
        (also those that never had a series: other containers than -c's)."""
        context, session = runner.context, runner.session
        assert context is not None and session is not None
        docker = context.docker
        now = time.monotonic()

        def exited(container_id: str) -> bool:
            return docker is not None and docker.exit_of(container_id) is not None
        with runner.lock:  # a scrape reads the same state
            gone = set(self.activity.prune(exited))
            for container in context.registry.containers():
                if container.id in gone or self.activity.has(container.id) or not exited(container.id):
                    self._gone_since.pop(container.id, None)
                elif now - self._gone_since.setdefault(container.id, now) >= self.activity.grace:
                    gone.add(container.id)
            cgroups = {cg for cid in gone for cg in context.registry.forget(cid)}
            session.forget(gone, cgroups)
            for cid in gone:
                self._gone_since.pop(cid, None)
                if docker is not None:
                    docker.forget(cid)

    def reload(self) -> None:
        """SIGHUP: re-read the config file; a bad one keeps the running settings."""
        assert self.config_path is not None
        try:
            new = Settings.merge(self.cli, _read_config(self.config_path))
            new.check()
            engine = _load_rules(new.rules, new.default_rules)  # the files may have changed: always read again
            sinks = _open_sinks(new.sinks) if new.sinks != self.settings.sinks else None
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with the new file, the old one runs on
            warn(f"{describe_failure(exc)[0]}; still running the previous configuration")
            return
        if sinks is not None:
            self.close_sinks(None)
            self.sinks = sinks
        self.activity.grace = new.exited_series_seconds
        if engine is not None:
            engine.context = self.field_context
            if self.engine is not None:
                engine.counts = self.engine.counts  # the counters go on
        self.engine = engine
        kept = [key for key in RESTART_TO_CHANGE if getattr(new, key) != getattr(self.settings, key)]
        self.settings = Settings(**{**new.__dict__, **{key: getattr(self.settings, key) for key in kept}})
        self.streams = self._streams()
        note = f"; restart eunomia run to change {', '.join(kept)}" if kept else ""
        typer.echo(f"eunomia: reloaded {self.config_path}{note}", err=True)

    def close_sinks(self, summary: dict[str, Any] | None) -> None:
        """Close every sink, writing the summary (None: a reload, or an error: without one)."""
        for out in self.sinks:
            with contextlib.suppress(OSError):
                out.close(summary)
            undelivered = getattr(out, "undelivered", 0)
            if undelivered:
                warn(f"sink {getattr(out, 'name', '?')} could not deliver {undelivered} events: "
                     f"{getattr(out, 'error', None) or 'its queue was full'}")
        self.sinks = []


@contextlib.contextmanager
def _serving(address: tuple[str, int] | None, collector: EunomiaCollector) -> Any:
    """The metrics endpoint while the monitor runs; yields HOST:PORT served, or None."""
    if address is None:
        yield None
        return
    try:
        server = MetricsServer(address, collector)
        server.__enter__()
    except OSError as exc:
        raise RuntimeFailure(str(exc.strerror)) from None
    try:
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        yield f"{host}:{server.port}"
    finally:
        server.__exit__(None, None, None)
