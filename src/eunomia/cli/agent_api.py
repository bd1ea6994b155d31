"""`eunomia run --api`: the API's view of the running monitor (api/ reads
the agent through these callables), its recordings, and the server's life.

    with serving_api(service, runner, activity, data_dir, retrack) as where:   # "127.0.0.1:8527"
        runner.pump(...)

`retrack(runner, trackers)` is the monitor's: it runs on the pump's thread
(the API's calls get there through runner.call_soon) and also updates what
the monitor prints.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import platform
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import typer

from .. import __version__
from .. import trackers as tracker_registry
from ..api.model import AgentFailure, AgentParts, ModelError, Tracker, Unavailable
from ..api.recordings import RecorderNeeds, Recordings, utc_now
from ..api.service import ApiService
from ..metrics.activity import Activity
from ..bpf.errors import BpfError
from ..bpf.tracefs import TracefsError
from ..pipeline.runner import Runner, Stopping
from ..recording.writer import RunInfo
from .errors import RuntimeFailure
from .record import describe_container

CALL_SECONDS = 60.0           # how long an API request waits for the pump (a retrack loads BPF objects)
RECORDING_TICK_SECONDS = 0.5  # how often the API's recordings are checked for their end

Retrack = Callable[[Runner, list[tracker_registry.TrackerDef]], None]


@contextlib.contextmanager
def serving_api(service: ApiService, runner: Runner, activity: Activity, data_dir: str,
                retrack: Retrack) -> Iterator[str]:
    """The HTTP API while the monitor runs; yields HOST:PORT served."""
    context = runner.context
    assert context is not None
    docker = context.docker

    def trackers() -> list[Tracker]:
        running = {t.name for t in runner.trackers}
        return [Tracker(t.name, t.name in running, t.summary) for t in tracker_registry.selectable().values()]

    def on_pump(fn: Callable[[], Any]) -> Any:
        return call_on_pump(runner, fn)

    def retrack_names(names: list[str]) -> None:
        retrack(runner, tracker_registry.select(names))

    def choose_trackers(choose: Callable[[list[str]], list[str] | None]) -> None:
        wanted = choose([t.name for t in runner.trackers])
        if wanted is not None:
            retrack_names(wanted)

    recordings = _recordings(runner, data_dir, retrack_names)
    service.recordings = recordings

    def tick() -> None:
        with runner.lock:  # as a call_soon: a recording's end may retrack
            try:
                recordings.tick()
            except (BpfError, TracefsError, OSError) as exc:  # the trackers it started stay on
                typer.echo(f"eunomia: warning: a recording's trackers could not be stopped: {exc}", err=True)
    runner.every(RECORDING_TICK_SECONDS, tick)
    parts = AgentParts(lock=runner.lock, registry=context.registry, processes=context.processes,
                       activity=activity, aggregates=runner.current_aggregates,
                       edges=lambda: runner.live.edges, peers=service.peers,
                       wants=lambda cid: runner.live.wants(cid),
                       exited=lambda cid: docker is not None and docker.exit_of(cid) is not None,
                       trackers=trackers, retrack=lambda choose: on_pump(lambda: choose_trackers(choose)),
                       alerts=service.alerts, recordings=recordings,
                       start_recording=lambda container, seconds: on_pump(lambda: recordings.start(container, seconds)))
    try:
        serving = service.serving(parts)
        where = serving.__enter__()
    except OSError as exc:
        raise RuntimeFailure(str(exc.strerror or exc)) from None
    try:
        yield where
    finally:
        serving.__exit__(None, None, None)


def call_on_pump(runner: Runner, fn: Callable[[], Any], wait: float = CALL_SECONDS) -> Any:
    """fn's answer from the pump's thread; its failures as the model's errors.

    A call the pump has not started within `wait` is cancelled (it never
    runs); one still running then is left to finish."""
    future = runner.call_soon(fn)
    try:
        return future.result(timeout=wait)
    except concurrent.futures.TimeoutError:
        if future.cancel():
            raise Unavailable(f"the agent did not get to it within {wait:.0f} s; try again") from None
        raise Unavailable(f"still working after {wait:.0f} s; GET /api/v1/trackers shows when it is done") from None
    except Stopping as exc:
        raise Unavailable(str(exc)) from None
    except ModelError:
        raise
    except (BpfError, TracefsError, OSError) as exc:
        raise AgentFailure(f"the kernel refused: {exc}") from None
    except tracker_registry.UnknownTrackerError as exc:
        raise AgentFailure(f"no such tracker: {exc}") from None


def _recordings(runner: Runner, data_dir: str, retrack: Callable[[list[str]], None]) -> Recordings:
    """The API's recordings, into DATA_DIR/recordings (api/recordings.py)."""
    context = runner.context
    assert context is not None
    host = {"hostname": platform.node(), "kernel": platform.release(), "machine": platform.machine()}

    def run_info(trackers: list[str], container: str) -> RunInfo:
        return RunInfo(version=__version__, host=host, trackers=trackers,
                       scope={"containers": [container], "host": False}, start=utc_now())
    needs = RecorderNeeds(registry=context.registry, aggregates=runner.current_aggregates, summary=runner.summary,
                          running=lambda: [t.name for t in runner.trackers], retrack=retrack, clock=time.monotonic)
    return Recordings(Path(data_dir) / "recordings", run_info, lambda cid: describe_container(context, cid), needs)
