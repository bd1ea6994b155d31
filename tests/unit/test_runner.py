"""The runner's loop (eunomia.pipeline.runner): stop, timeout, until, periodic work.

The session here is a stand-in that counts polls on a fake clock: what is
tested is the runner's own decisions, not the kernel (the integration
tests run every command, through this runner, on the real one)."""

from __future__ import annotations

import signal

import pytest

from eunomia.pipeline.runner import Runner, Signals
from eunomia.pipeline.scope import Scope


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StandInSession:
    def __init__(self, clock: Clock, events_per_poll: int = 1) -> None:
        self.clock, self.events_per_poll = clock, events_per_poll
        self.polls: list[float] = []
        self.drained = self.closed = False

    def __call__(self, trackers, scope, context, knobs=None) -> "StandInSession":
        return self  # the runner's session_factory

    def __enter__(self) -> "StandInSession":
        return self

    def poll(self, emit, timeout: float) -> int:
        self.polls.append(timeout)
        self.clock.now += timeout
        for n in range(self.events_per_poll):
            emit(None, {"n": n})
        return self.events_per_poll

    def drain(self, emit) -> int:
        self.drained = True
        return 0

    def summary(self) -> dict:
        return {"lost": 0, "polls": len(self.polls)}

    def close(self) -> None:
        self.closed = True


class StandInContext:
    closed = False

    def close(self) -> None:
        self.closed = True


def _runner(clock: Clock, session: StandInSession, context: StandInContext, **kw) -> Runner:
    return Runner([], Scope(), lambda: context, clock=clock, session_factory=session, **kw)


def test_a_timeout_is_a_sigterm_at_the_deadline_and_the_last_poll_ends_on_it() -> None:
    clock, context = Clock(), StandInContext()
    session = StandInSession(clock)
    signals = Signals()
    with _runner(clock, session, context, signals=signals, timeout=0.35) as runner:
        runner.pump(lambda t, e: None)
        summary = runner.finish(lambda t, e: None)
    assert signals.requested and signals.signum == signal.SIGTERM
    assert session.polls == pytest.approx([0.1, 0.1, 0.1, 0.05])
    assert summary == {"lost": 0, "polls": 4} and session.drained
    assert session.closed and context.closed


def test_the_timeout_counts_from_the_pump_not_from_the_start() -> None:
    clock = Clock()
    session = StandInSession(clock)
    with _runner(clock, session, StandInContext(), timeout=0.2) as runner:
        clock.now += 30  # e.g. record starting COMMAND
        runner.pump(lambda t, e: None)
    assert session.polls == pytest.approx([0.1, 0.1])


def test_a_stop_asked_before_pumping_polls_nothing() -> None:
    clock = Clock()
    session = StandInSession(clock)
    signals = Signals()
    signals.request_stop(signal.SIGINT)
    signals.request_stop(signal.SIGTERM)  # the first signal is the one that asked
    with _runner(clock, session, StandInContext(), signals=signals) as runner:
        runner.pump(lambda t, e: None)
    assert session.polls == [] and signals.signum == signal.SIGINT


def test_until_owns_the_end_and_periodic_work_runs_on_time() -> None:
    clock = Clock()
    session = StandInSession(clock, events_per_poll=2)
    seen, ticks, flushed = [], [], []
    with _runner(clock, session, StandInContext(), timeout=10) as runner:
        runner.every(0.25, lambda: ticks.append(round(runner.elapsed(), 2)))
        # the deadline asks to stop; `until` decides when it is over (here: 2 polls later)
        stop_seen: list[int] = []

        def until() -> bool:
            if runner.signals.requested:
                stop_seen.append(len(session.polls))
            return len(stop_seen) > 2

        runner.pump(lambda t, e: seen.append(e["n"]), until=until, after_poll=lambda: flushed.append(1))
    assert len(session.polls) == 102  # 100 polls to the deadline, then two more
    assert session.polls[-2:] == pytest.approx([0.1, 0.1])  # at the usual pace, not a busy loop
    assert seen == [0, 1] * 102 and len(flushed) == 102
    assert ticks[:4] == [0.3, 0.6, 0.9, 1.2]  # every 0.25 s, checked after each 0.1 s poll


def test_a_failing_start_closes_the_context() -> None:
    context = StandInContext()

    def failing(*args, **kw):
        raise OSError("no BPF")

    with pytest.raises(OSError):
        with Runner([], Scope(), lambda: context, session_factory=failing):
            pass
    assert context.closed


def test_pumping_without_starting_says_how() -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        Runner([], Scope(), StandInContext).pump(lambda t, e: None)


def test_calls_from_other_threads_run_between_polls_and_never_hang_after_the_end() -> None:
    from concurrent.futures import CancelledError

    from eunomia.pipeline.runner import Stopping
    clock, context = Clock(), StandInContext()
    session = StandInSession(clock)
    with _runner(clock, session, context) as runner:
        ran: list[str] = []
        answered = runner.call_soon(lambda: ran.append("first") or 42)
        cancelled = runner.call_soon(lambda: ran.append("cancelled"))
        assert cancelled.cancel()                      # not started yet: it never runs
        runner.pump(lambda t, e: None, until=lambda: len(session.polls) >= 1)
        assert answered.result(timeout=0) == 42 and ran == ["first"]
        with pytest.raises(CancelledError):
            cancelled.result(timeout=0)
        waiting = runner.call_soon(lambda: ran.append("late"))
        runner.finish(lambda t, e: None)
        with pytest.raises(Stopping):                  # queued before the end: answered, not run
            waiting.result(timeout=0)
        with pytest.raises(Stopping):                  # asked after the end: answered at once
            runner.call_soon(lambda: ran.append("later")).result(timeout=0)
    assert ran == ["first"]


class SwitchClock(Clock):
    """A session's clock: it also writes event times."""

    def rfc3339(self, ns: int) -> str:
        return "2026-12-02T00:00:00.000000000Z"


class RetrackedSession(StandInSession):
    """A session for retrack: the first one fails to drain."""

    def __init__(self, clock: SwitchClock, name: str, made: list["RetrackedSession"]) -> None:
        super().__init__(clock)
        self.name, self.made, self.trackers, self.edges = name, made, [], {}

    def __call__(self, trackers, scope, context, knobs=None, clock=None) -> "RetrackedSession":
        session = self if not self.made else RetrackedSession(self.clock, f"session {len(self.made) + 1}", self.made)
        session.trackers = trackers
        self.made.append(session)
        return session

    def detach(self) -> None:
        pass

    def drain(self, emit) -> int:
        if self.name == "session 1":
            raise OSError("the ring is gone")
        return 0

    def aggregates(self, only=None) -> list:
        return []


def test_a_retrack_whose_old_session_fails_to_drain_goes_on_with_the_new_one() -> None:
    clock, context, made = Clock(), StandInContext(), []
    first = RetrackedSession(SwitchClock(), "session 1", made)
    with Runner([], Scope(), lambda: context, clock=clock, session_factory=first) as runner:
        runner.pump(lambda t, e: None, until=lambda: True)
        with pytest.raises(OSError, match="the ring is gone"):
            runner.retrack([])
        assert first.closed and runner.live is made[1] and not made[1].closed
    assert made[1].closed and context.closed
