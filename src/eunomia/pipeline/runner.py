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
Another thread asks the pump to do something between two polls with
`call_soon(fn)` (a Future): `retrack(trackers)` loads another set of
trackers while the agent runs.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterator

from ..trackers import TrackerDef
from .carry import add_counts, forget_containers, merge_aggregates
from .enrich import Event
from .scope import Scope
from .session import Context, TraceSession

Emit = Callable[[TrackerDef, Event], None]
POLL_SECONDS = 0.1
# after a retrack, how long the new session's events older than the switch are
# dropped for the trackers both sessions ran (the old one delivered those)
SWITCH_OVERLAP_SECONDS = 2.0


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


class Stopping(RuntimeError):
    """A call for the pump that came too late: the runner is finishing."""


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
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._calls_lock = threading.Lock()   # call_soon against finish: no call is left unanswered
        self._finishing = False
        self._emit: Emit | None = None         # the pump's, while pumping
        # what earlier sessions of this run counted (retrack): summary, kernel aggregates
        self._carried_summary: dict[str, Any] = {}
        self._carried_aggregates: dict[str, list[dict[str, Any]]] = {}  # per tracker
        self._switch: tuple[str, frozenset[str], float] | None = None  # (time of the switch, both ran, until)

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
        self._live()
        self._emit = emit
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
                self._live().poll(self._switching(emit), timeout=wait)
                self._run_calls()
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
            with self._calls_lock:
                self._finishing = True
            self._cancel_calls()
            session.drain(self._switching(emit))
            return self.summary()

    def aggregates(self, only: Collection[str] | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return self.current_aggregates(only)

    # -- what the run counted (the caller holds the lock) --------------------------
    def summary(self) -> dict[str, Any]:
        """The run's counts, earlier sessions' included."""
        return add_counts(self._carried_summary, self._live().summary()) if self._carried_summary \
            else self._live().summary()

    def current_aggregates(self, only: Collection[str] | None = None) -> list[dict[str, Any]]:
        session = self._live()
        if not self._carried_aggregates:
            return session.aggregates(only)
        records = []
        for tracker in session.trackers:  # (a stopped tracker's counts wait for it to start again)
            if only is None or tracker.name in only:
                records.extend(merge_aggregates(self._carried_aggregates.get(tracker.name, []),
                                                session.aggregates((tracker.name,))))
        return records

    def forget(self, container_ids: set[str], cgroup_ids: set[int]) -> int:
        """Long-gone containers leave the session and what earlier sessions counted."""
        for name, records in self._carried_aggregates.items():
            self._carried_aggregates[name] = forget_containers(records, container_ids)
        return self._live().forget(container_ids, cgroup_ids)

    # -- calls from other threads ------------------------------------------------
    def call_soon(self, fn: Callable[[], Any]) -> "Future[Any]":
        """Run fn on the pump's thread, between two polls, under the lock.

        A call not yet started when the caller cancels the future never runs;
        one that comes once the runner finishes fails with Stopping."""
        future: Future[Any] = Future()
        with self._calls_lock:
            if self._finishing:
                future.set_running_or_notify_cancel()
                future.set_exception(Stopping("eunomia is stopping"))
            else:
                self._calls.put((fn, future))
        return future

    def _run_calls(self) -> None:
        for fn, future in self._take_calls():
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    future.set_exception(exc)

    def _cancel_calls(self) -> None:
        for _, future in self._take_calls():
            if future.set_running_or_notify_cancel():
                future.set_exception(Stopping("eunomia is stopping"))

    def _take_calls(self) -> "Iterator[tuple[Callable[[], Any], Future[Any]]]":
        """The calls queued so far, each once."""
        while True:
            try:
                yield self._calls.get_nowait()
            except queue.Empty:
                return

    # -- another set of trackers -------------------------------------------------
    def retrack(self, trackers: list[TrackerDef]) -> None:
        """Go on with these trackers (on the pump's thread, e.g. through call_soon).

        The new set is loaded and attached before the old one is detached,
        so nothing is missed; the switch time splits the trackers both ran:
        the old session delivers their events before it, the new one those
        after.  The old session's counts are carried (summary, aggregates).
        A set that fails to load leaves the old one running; once the new
        set runs, a failure to drain the old one is raised after the switch
        (the old session is closed either way, the new one goes on)."""
        old, emit = self._live(), self._emit
        assert self.context is not None and emit is not None, "retrack while pumping"
        new = self.session_factory(trackers, self.scope, self.context, knobs=self.knobs, clock=old.clock)
        new.__enter__()
        switch = old.clock.rfc3339(time.monotonic_ns())
        both = frozenset(t.name for t in trackers) & frozenset(t.name for t in old.trackers)

        def before_switch(tracker: TrackerDef, event: Event) -> None:
            if tracker.name not in both or event["time"] < switch:
                emit(tracker, event)
        try:
            old.detach()
            old.drain(before_switch)
            self._carried_summary = add_counts(self._carried_summary, old.summary())
            for tracker in old.trackers:
                self._carried_aggregates[tracker.name] = merge_aggregates(
                    self._carried_aggregates.get(tracker.name, []), old.aggregates((tracker.name,)))
            new.edges.update(old.edges)  # (the new session has not polled yet)
        finally:
            try:
                old.close()
            finally:
                self.session, self.trackers = new, list(trackers)
                self._switch = (switch, both, self.clock() + SWITCH_OVERLAP_SECONDS)

    def _switching(self, emit: Emit) -> Emit:
        """emit, or for a while after a retrack, emit without what the old session delivered."""
        if self._switch is None:
            return emit
        switch, both, until = self._switch
        if self.clock() >= until:
            self._switch = None
            return emit

        def after_switch(tracker: TrackerDef, event: Event) -> None:
            if tracker.name not in both or event["time"] >= switch:
                emit(tracker, event)
        return after_switch

    @property
    def live(self) -> TraceSession:
        """The session pumped now (a retrack replaces it)."""
        return self._live()

    def _live(self) -> TraceSession:
        if self.session is None:
            raise RuntimeError("the runner is not started: use it as a context manager")
        return self.session
