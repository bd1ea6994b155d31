"""Recordings the running agent makes for the API: one container, for N
seconds, into a folder of its data dir that `eunomia report` and `eunomia
advise` read like any recording.

    recordings = Recordings(root, run_info, describe, needs=RecorderNeeds(...))
    info = recordings.start("web", 30)       # on the pump's thread (call_soon): returns at once
    recordings.write(event, shown)           # the pump, per event (a dict lookup while none runs)
    recordings.tick()                        # the pump, periodically: checkpoints, and the end
    recordings.list(), recordings.get(id)    # any thread
    recordings.seccomp(id), recordings.capabilities(id)   # the advice, from its report

Only what this agent made is served: ids are checked against its own list
(and their form), so no request names a path.  The syscall and cap
trackers are started for a recording when they do not run (the advice
needs their counts) and stopped again when no recording needs them.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..advise import AdviceError
from ..advise.caps import advise_caps, docker_flags, evidence
from ..advise.inputs import load_container
from ..advise.seccomp import advise_seccomp, oci_profile
from ..context.registry import ContainerRegistry
from ..outputs import OutputError
from ..recording.files import RecordingWriteError
from ..recording.writer import RecordingWriter, RunInfo
from .model import AgentFailure, Conflict, ModelError, NotFound

RECORDING_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NEEDED_TRACKERS = ("cap", "syscall")   # what the advice reads (capability checks, syscall counts)
MAX_SECONDS = 24 * 3600
MAX_KEPT = 1000                        # recordings listed (the oldest forgotten, their folders kept)
CHECKPOINT_SECONDS = 5.0


class RecordingFailed(AgentFailure):
    pass


@dataclass
class RecordingInfo:
    id: str
    container: str                     # as asked: a name, id or id prefix
    seconds: float
    state: str                         # recording, done, failed
    started: str
    ended: str | None = None
    events: int = 0
    directory: str = ""                # on the agent's machine
    error: str | None = None
    trackers_started: list[str] = field(default_factory=list)


@dataclass
class RecorderNeeds:
    """What a recording reads from the running agent (callables on the pump's thread)."""

    registry: ContainerRegistry
    aggregates: Callable[[], list[dict[str, Any]]]
    summary: Callable[[], dict[str, Any]]
    running: Callable[[], list[str]]           # the trackers running now
    retrack: Callable[[list[str]], None]       # run these (the pump's thread: directly)
    clock: Callable[[], float]


@dataclass
class _Active:
    info: RecordingInfo
    writer: RecordingWriter
    ids: set[str]
    ends_at: float
    next_checkpoint: float


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Recordings:
    def __init__(self, root: Path, run_info: Callable[[list[str], str], RunInfo],
                 describe: Callable[[str], dict[str, Any]], needs: RecorderNeeds) -> None:
        self.root, self.run_info, self.describe, self.needs = root, run_info, describe, needs
        self._lock = threading.Lock()
        self._infos: dict[str, RecordingInfo] = {}
        self._active: list[_Active] = []
        self._added_trackers: set[str] = set()   # started for recordings, to stop after them

    # -- the pump's thread -----------------------------------------------------
    def start(self, container: str, seconds: float) -> RecordingInfo:
        if not 0 < seconds <= MAX_SECONDS:
            raise ModelError(f"seconds must be more than 0 and at most {MAX_SECONDS}")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        rid = f"{stamp}-{container}"
        if not RECORDING_ID.match(rid):
            raise ModelError(f"{container[:40]!r} is not a container name or id")
        if rid in self._infos:
            raise Conflict(f"a recording of {container} started this second already: wait a second")
        directory = self.root / rid
        try:  # (before the trackers change: a folder it cannot make leaves the agent as it was)
            RecordingWriter.create_directory(directory)
        except (FileExistsError, RecordingWriteError, OutputError, OSError) as exc:
            raise RecordingFailed(f"cannot record into {directory}: {exc}") from None
        running = self.needs.running()
        missing = [t for t in NEEDED_TRACKERS if t not in running]
        if missing:
            try:
                self.needs.retrack([*running, *missing])
            except BaseException:
                _remove_empty(directory)
                raise
            self._added_trackers.update(missing)
        ids = {c.id for c in self.needs.registry.find(container)}
        started = utc_now()
        info = RecordingInfo(rid, container, seconds, "recording", started, directory=str(directory),
                             trackers_started=missing)

        def wants(container_id: str) -> bool:
            return self._matches(ids, container, container_id, None)
        writer = RecordingWriter(directory, self.run_info(self.needs.running(), container), now=utc_now,
                                 describe=self.describe, wants=wants)
        now = self.needs.clock()
        self._active = [*self._active, _Active(info, writer, ids, now + seconds, now + CHECKPOINT_SECONDS)]
        with self._lock:
            self._infos[rid] = info
            while len(self._infos) > MAX_KEPT:
                del self._infos[next(iter(self._infos))]
        return replace(info)

    def write(self, event: dict[str, Any], shown: bool) -> None:
        if not self._active:
            return
        container = event["container"]
        for active in self._active:
            if self._matches(active.ids, active.info.container, container["id"], container.get("name")):
                active.writer.write(event, stream=shown)
                active.info.events += 1

    def tick(self) -> None:
        """Checkpoints, and the end of the recordings whose time is up."""
        if not self._active:
            return
        now = self.needs.clock()
        for active in list(self._active):
            if now >= active.ends_at:
                self._finish(active)
            elif now >= active.next_checkpoint:
                active.writer.checkpoint(self.needs.aggregates(), self.needs.summary())
                active.next_checkpoint = now + CHECKPOINT_SECONDS
            else:
                active.writer.flush()

    def finish_all(self) -> None:
        """The agent stops: every recording ends now (complete, shorter than asked)."""
        self._added_trackers.clear()  # (nothing to stop: everything stops)
        for active in list(self._active):
            self._finish(active)

    def _finish(self, active: _Active) -> None:
        active.writer.finish(self.needs.aggregates(), self.needs.summary(), None)
        self._active = [a for a in self._active if a is not active]
        try:
            if not self._active and self._added_trackers:  # before it says done: the agent is as it was
                running = self.needs.running()
                kept = [t for t in running if t not in self._added_trackers]
                self._added_trackers.clear()
                if kept and kept != running:
                    self.needs.retrack(kept)  # (a failure is the caller's: the recording is done)
        finally:
            with self._lock:
                active.info.ended = utc_now()
                active.info.state = "failed" if active.writer.error else "done"
                active.info.error = active.writer.error

    def _matches(self, ids: set[str], ref: str, container_id: str, name: str | None) -> bool:
        if container_id in ids:
            return True
        if name is None:
            known = self.needs.registry.get(container_id)
            name = known.name if known is not None else None
        if name == ref:
            ids.add(container_id)  # (a container that started after the recording did)
            return True
        return False

    # -- any thread ------------------------------------------------------------
    def list(self) -> list[RecordingInfo]:
        with self._lock:
            return [replace(i) for i in self._infos.values()]

    def get(self, rid: str) -> RecordingInfo:
        with self._lock:
            info = self._infos.get(rid) if RECORDING_ID.match(rid) else None
            if info is None:
                raise NotFound(f"no recording {rid[:80]!r}; GET /api/v1/recordings lists them")
            return replace(info)

    def report_path(self, rid: str) -> Path:
        """The report.json of its container (its folder as this agent's index names it)."""
        directory = Path(self.get(rid).directory)
        try:
            index = json.loads((directory / "index.json").read_bytes())
            folder = index["containers"][0]["folder"]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            raise NotFound(f"recording {rid} has no report yet (no event of its container so far)") from None
        path = directory / str(folder) / "report.json"
        if not path.resolve().is_relative_to(directory.resolve()) or not path.is_file():
            raise NotFound(f"recording {rid} has no report yet")
        return path

    def seccomp(self, rid: str) -> dict[str, Any]:
        try:
            return oci_profile(advise_seccomp([self._recorded(rid)]))
        except AdviceError as exc:
            raise Conflict(str(exc)) from None

    def capabilities(self, rid: str) -> dict[str, Any]:
        recorded = self._recorded(rid)
        try:
            advice = advise_caps([recorded])
        except AdviceError as exc:
            raise Conflict(str(exc)) from None
        return {"docker": docker_flags(advice), **evidence(advice, recorded.name)}

    def _recorded(self, rid: str) -> Any:
        info = self.get(rid)
        if info.state != "done":
            raise Conflict(f"recording {rid} is {info.state}{': ' + info.error if info.error else ''}; "
                           "advice needs a finished recording")
        try:
            return load_container([Path(info.directory)], info.container)[0]
        except AdviceError as exc:
            raise Conflict(str(exc)) from None



def _remove_empty(directory: Path) -> None:
    """A recording's folder made empty for a start that then failed."""
    try:
        directory.rmdir()
    except OSError:
        pass  # (not empty: leave it)
