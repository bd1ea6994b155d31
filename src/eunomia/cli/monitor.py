"""The always-on monitor's outputs and upkeep: the live view or standard
output, the sinks, the metrics endpoint, alerts (rules and drift), the
forgetting of long-gone containers, SIGHUP reloads."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import typer
from prometheus_client.core import Metric
from rich.text import Text

from .. import outputs
from .. import trackers as tracker_registry
from ..metrics.activity import Activity
from ..metrics.collector import EunomiaCollector, PipelineState, rule_metrics, sink_metrics
from ..metrics.server import MetricsServer
from ..pipeline.runner import Runner, Signals
from ..pipeline.scope import Scope
from ..baseline.drift import DriftDetector
from ..rules.engine import FieldContext, RuleCounts, RulesEngine
from ..rules.names import NameResolver
from ..sinks import KindSink, Sink, SinkError, open_sink
from ..sinks.escape import escape_text
from ..sinks.jsonl import JsonLinesSink
from ..sinks.table import summary_line
from .context import build_context
from .errors import RuntimeFailure, UsageError, describe_failure, warn
from .live import LiveView
from .ready import announce_ready
from .settings import RESTART_TO_CHANGE, Settings, load_drift, load_rules, read_config
from .trace import describe_scope

if TYPE_CHECKING:
    from ..api.service import ApiService

PRUNE_SECONDS = (1.0, 10.0)  # exited containers are looked for every grace/10, within these bounds
DRIFT_SYSCALL_SECONDS = 5.0  # how often the syscall counts are compared with the baselines' profiles


def open_sinks(specs: tuple[str, ...]) -> list[KindSink]:
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
                 engine: RulesEngine | None = None, drift: DriftDetector | None = None,
                 api: "ApiService | None" = None) -> None:
        self.settings, self.cli, self.config_path = settings, cli, config_path
        self.api = api
        self.engine = engine
        self.drift = drift
        self._given_names = False  # the file tracker sends the names of opens as passed (fd.nameraw)
        self.names = NameResolver(settings.resolve)  # host names of addresses for fd.sip.name and the like
        self.field_context = FieldContext()
        self.view: LiveView | None = None
        self._gone_since: dict[str, float] = {}  # exited containers without series → since when
        self.activity = Activity(grace=settings.exited_series_seconds)
        self.sinks = open_sinks(settings.sinks)
        self.stdout = JsonLinesSink(outputs.stdout()) if settings.format == "json" else None
        self.printed: dict[str, set[str] | None] = {}

    def _streams(self) -> list[Sink]:
        return [*self.sinks, *([self.stdout] if self.stdout is not None and self.settings.events else [])]

    def emit(self, tracker: tracker_registry.TrackerDef, event: dict[str, Any]) -> None:
        self.activity.observe(event)
        kinds = self.printed.get(tracker.name)
        shown = kinds is None or event["type"] in kinds
        if self.api is not None:
            self.api.observe(tracker.name, event, shown)
        if shown:
            for out in self.streams:
                out.write(event)
            if self.engine is not None:
                for alert in self.engine.evaluate(event):
                    self.alert(alert)
            if self.drift is not None:
                for alert in self.drift.evaluate(event):
                    self.alert(alert)

    def alert(self, alert: dict[str, Any]) -> None:
        """To standard output (JSON, or a line above the live view) and every sink."""
        self.activity.observe_alert(alert["container"])
        if self.api is not None:
            self.api.alert(alert)
        for out in self.sinks:
            out.write(alert)
        if self.stdout is not None:
            self.stdout.write(alert)
        elif self.view is not None:
            self.view.print(Text(f"{alert['time']} {alert['priority']} {escape_text(alert['rule'])}: "
                                 f"{escape_text(alert['output'])}", style="bold red"))  # Rich honours NO_COLOR

    def flush(self) -> None:
        """After every poll: what the sinks and standard output gathered goes out (alerts too)."""
        for out in self.streams:
            out.flush()
        if self.stdout is not None and self.stdout not in self.streams:
            self.stdout.flush()
        if self.api is not None:
            self.api.flush()

    def run(self, chosen: list[tracker_registry.TrackerDef], address: tuple[str, int] | None,
            timeout: float | None, ready_file: Path | None) -> None:
        self.printed = {t.name: set(t.printed_kinds) if t.printed_kinds else None for t in chosen}
        self.streams = self._streams()
        scope = Scope(containers=self.settings.containers, host=self.settings.host, allow_pending=True)
        signals = Signals.install(reload=self.config_path is not None)
        with Runner(chosen, scope, build_context, signals=signals, timeout=timeout,
                    knobs=self._rule_knobs()) as runner:
            session, context = runner.session, runner.context
            assert session is not None and context is not None
            low, high = PRUNE_SECONDS
            runner.every(min(high, max(low, self.settings.exited_series_seconds / 10)), lambda: self._prune(runner))
            self.field_context = FieldContext(context.processes, session.clock.wall_ns, context.proc_root,
                                              containers=context.registry.get, names=self.names)
            if self.engine is not None:
                self.engine.context = self.field_context
                self.names.watch(self.engine.watched_names)
            # (whenever the syscall tracker runs: the API may start it later, a SIGHUP may add baselines)
            runner.every(DRIFT_SYSCALL_SECONDS, lambda: self._drift_syscalls(runner) if self.drift else None)
            # through the runner: a retrack (the API) replaces the session
            state = PipelineState(runner.summary, runner.current_aggregates, lambda: runner.live.ring_fill(),
                                  self.activity, runner.lock, extra=self._extra_metrics,
                                  maps=lambda: runner.live.maps())

            def after_poll() -> None:
                self.flush()
                if signals.reload:
                    signals.reload = False
                    self.reload()
            with _serving(address, EunomiaCollector(state)) as served, \
                    self._serving_api(runner) as api_at:
                where = describe_scope(scope)
                served_at = f"; metrics on http://{served}/metrics" if served else ""
                served_at += f"; API and live page on http://{api_at}/" if api_at else ""
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
                if self.drift is not None:  # the calls since the last look
                    self._drift_syscalls(runner)
                if self.api is not None and self.api.recordings is not None:
                    with runner.lock:  # the final drain is in: they end complete
                        self.api.recordings.finish_all()
        self.names.close()
        counts = self._alert_counts()
        if counts is not None:
            summary = {**summary, "alerts": sum(counts.alerts.values()), "alerts_suppressed": dict(counts.suppressed)}
        self.close_sinks(summary)
        if self.stdout is not None:
            self.stdout.close(summary)
        else:
            typer.echo(summary_line(summary), err=True)

    @contextlib.contextmanager
    def _serving_api(self, runner: Runner) -> Iterator[str | None]:
        """The HTTP API while the monitor runs (cli/agent_api.py); yields HOST:PORT served, or None."""
        if self.api is None:
            yield None
            return
        from .agent_api import serving_api
        with serving_api(self.api, runner, self.activity, self.settings.data_dir, self._retrack) as where:
            yield where

    def _retrack(self, runner: Runner, chosen: list[tracker_registry.TrackerDef]) -> None:
        """On the pump's thread: go on with these trackers (the API's start and stop)."""
        runner.retrack(chosen)
        self.printed = {t.name: set(t.printed_kinds) if t.printed_kinds else None for t in chosen}
        typer.echo(f"eunomia: now tracing with {', '.join(t.name for t in chosen)}", err=True)

    def _extra_metrics(self) -> Iterator[Metric]:
        yield from sink_metrics(self.sinks)
        counts = self._alert_counts()
        if counts is not None:
            yield from rule_metrics(counts.alerts, counts.suppressed)

    def _rule_knobs(self) -> dict[str, dict[str, Any]]:
        """What the rules need of the trackers: fd.nameraw the names as passed of successful opens."""
        needs_names = self.engine is not None and "fd.nameraw" in self.engine.fields_used
        self._given_names = needs_names
        return {"file": {"targ_given_names": True}} if needs_names else {}

    def _alert_counts(self) -> RuleCounts | None:
        """The rules' and drift's alerts together (their rule names differ), None when neither runs."""
        parts = [a.counts for a in (self.engine, self.drift) if a is not None]
        if not parts:
            return None
        return RuleCounts({k: v for c in parts for k, v in c.alerts.items()},
                          {k: v for c in parts for k, v in c.suppressed.items()})

    def _drift_syscalls(self, runner: Runner) -> None:
        """Syscalls outside a recorded profile, from the syscall tracker's kernel counts."""
        assert self.drift is not None and runner.session is not None
        if not any(t.name == "syscall" for t in runner.trackers):
            return
        now = runner.session.clock.rfc3339(time.monotonic_ns())
        for alert in self.drift.evaluate_syscalls(runner.aggregates(only=("syscall",)), now):
            self.alert(alert)

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
            runner.forget(gone, cgroups)
            for cid in gone:
                self._gone_since.pop(cid, None)
                if docker is not None:
                    docker.forget(cid)
            if self.drift is not None:
                self.drift.forget(gone)
            if self.api is not None:
                self.api.forget(gone)

    def reload(self) -> None:
        """SIGHUP: re-read the config file; a bad one keeps the running settings."""
        assert self.config_path is not None
        try:
            new = Settings.merge(self.cli, read_config(self.config_path))
            new.check()
            engine = load_rules(new.rules, new.default_rules)  # the files may have changed: always read again
            drift = load_drift(new.baselines)  # so may the recordings
            sinks = open_sinks(new.sinks) if new.sinks != self.settings.sinks else None
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with the new file, the old one runs on
            warn(f"{describe_failure(exc)[0]}; still running the previous configuration")
            return
        if sinks is not None:
            self.close_sinks(None)
            self.sinks = sinks
        self.activity.grace = new.exited_series_seconds
        if engine is not None and "fd.nameraw" in engine.fields_used and not self._given_names:
            warn("the rules now read fd.nameraw, which the running file tracker does not send: "
                 "restart eunomia run for it")
        if engine is not None:
            engine.context = self.field_context
            self.names.watch(engine.watched_names)
            if self.engine is not None:
                engine.counts = self.engine.counts  # the counters go on
        self.engine = engine
        if drift is not None and self.drift is not None:
            drift.carry_on(self.drift)
        self.drift = drift
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
