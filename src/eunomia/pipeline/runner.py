"""One runner for every command that traces: it owns a session from start to stop.

    signals = Signals.install()                         # SIGINT/SIGTERM: stop; SIGHUP: reload
    with Runner(trackers, scope, build_context, signals=signals, timeout=30) as runner:  # attached
        runner.every(5.0, checkpoint)                   # periodic work, on the pump's thread
        runner.pump(emit, after_poll=sink.flush)        # until stopped, timed out or `until()`
        summary = runner.finish(emit)                   # final drain: nothing left in the rings

`trace`, `record`, `advise verify` and `run` differ only in what they do
with events and when they stop; the runner does the rest.  A timeout is
handled as a SIGTERM at the deadline, so a command that forwards signals
to a child (record COMMAND) sees one way of being asked to stop.

The pump holds `lock` while it polls and emits: another thread (a metrics
scrape) that reads the pipeline's state takes it and sees a consistent one.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Collection

from ..trackers import TrackerDef
from .enrich import Event
from .scope import Scope
from .session import Context, TraceSession

Emit = Callable[[TrackerDef, Event], None]
POLL_SECONDS = 0.1


@dataclass
class Signals:
    """What the process was asked by signal; handlers only raise these flags."""

    requested: bool = False       # stop
    signum: int | None = None     # the signal that asked to stop
    reload: bool = False          # SIGHUP: re-read the configuration

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        if not self.requested:
            self.requested, self.signum = True, signum

    @classmethod
    def install(cls, reload: bool = False) -> "Signals":
        """SIGINT and SIGTERM ask to stop; with reload, SIGHUP asks to reload."""
        flags = cls()

        def stop(signum: int, frame: Any) -> None:
            flags.requested, flags.signum = True, signum

        def hup(signum: int, frame: Any) -> None:
            flags.reload = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        if reload:
            signal.signal(signal.SIGHUP, hup)
        return flags


class Runner:
    def __init__(self, trackers: list[TrackerDef], scope: Scope, context_factory: Callable[[], Context], *,
                 signals: Signals | None = None, timeout: float | None = None,
                 knobs: dict[str, dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 session_factory: Callable[..., TraceSession] = TraceSession) -> None:
        self.trackers, self.scope = trackers, scope
        self.context_factory, self.knobs = context_factory, knobs
        self.signals = signals if signals is not None else Signals()
        self.timeout, self.clock = timeout, clock
        self.session_factory = session_factory
        self.lock = threading.Lock()
        self.context: Context | None = None
        self.session: TraceSession | None = None
        self.attached_s: float | None = None   # start → every probe attached
        self.started: float | None = None      # clock() when pumping began: -T counts from here
        self._periodic: list[list[Any]] = []   # [interval, next due, fn]

    # -- start and stop --------------------------------------------------------
    def __enter__(self) -> "Runner":
        began = self.clock()
        self.context = self.context_factory()
        try:
            self.session = self.session_factory(self.trackers, self.scope, self.context, knobs=self.knobs)
            self.session.__enter__()
        except BaseException:
            self.context.close()
            raise
        self.attached_s = self.clock() - began
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.session is not None:
                self.session.close()
        finally:
            if self.context is not None:
                self.context.close()

    # -- pumping ---------------------------------------------------------------
    def every(self, seconds: float, fn: Callable[[], None]) -> None:
        """Call fn every `seconds` while pumping (first after one interval)."""
        self._periodic.append([seconds, self.clock() + seconds, fn])

    def elapsed(self) -> float:
        return 0.0 if self.started is None else self.clock() - self.started

    def pump(self, emit: Emit, *, until: Callable[[], bool] | None = None,
             after_poll: Callable[[], None] | None = None, poll_seconds: float = POLL_SECONDS) -> None:
        """Poll events into emit until a stop is asked (signal, timeout), or
        — when given — until `until()` says so: it then owns the decision
        (e.g. a stop forwarded to a child that must end first)."""
        session = self._live()
        if self.started is None:  # what a command does before pumping (start COMMAND) is not timed
            self.started = self.clock()
        deadline = None if self.timeout is None else self.started + self.timeout
        while True:
            now = self.clock()
            if deadline is not None and now >= deadline - 1e-6:  # (a µs: clocks are floats)
                self.signals.request_stop(signal.SIGTERM)
            if until() if until is not None else self.signals.requested:
                return
            # after the deadline (an `until` still waiting) polls go on at the usual pace
            wait = poll_seconds if deadline is None or now >= deadline else min(poll_seconds, deadline - now)
            with self.lock:
                session.poll(emit, timeout=wait)
            if after_poll is not None:
                after_poll()
            self._run_periodic()

    def _run_periodic(self) -> None:
        now = self.clock()
        for entry in self._periodic:
            interval, due, fn = entry
            if now >= due:
                fn()
                entry[1] = now + interval

    def finish(self, emit: Emit) -> dict[str, Any]:
        """Drain what is left in the rings; the run's summary."""
        session = self._live()
        with self.lock:
            session.drain(emit)
            return session.summary()

    def aggregates(self, only: Collection[str] | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return self._live().aggregates(only)

    def _live(self) -> TraceSession:
        if self.session is None:
            raise RuntimeError("the runner is not started: use it as a context manager")
        return self.session
