"""One container's reports out of one or more recordings (runs, nodes).

A container is named by -c the way `eunomia report` names it (name,
folder, id or id prefix), and the recordings are read by the loader of
`eunomia report` (eunomia.report.load): validated once, the same way for
every command.  Several recordings of the same workload are merged: the
advice must hold for every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..report.load import RecordingError, clip, load_recording, select_containers, show_path
from . import AdviceError


@dataclass(frozen=True)
class RecordedContainer:
    """One recording's report of the container, as written (report.json)."""

    directory: Path
    machine: str            # uname -m of the recording host
    report: dict[str, Any]
    command: dict[str, Any] | None  # the recording's `-- COMMAND`, with its exit code
    warnings: tuple[str, ...] = ()  # why the advice from it may be too small

    @property
    def name(self) -> str:
        container = self.report["container"]
        return container.get("name") or container["id"][:12]


def load_container(directories: list[Path], selector: str) -> list[RecordedContainer]:
    """The container's report in each recording; AdviceError when one lacks it."""
    found = []
    for directory in directories:
        try:
            recording = load_recording(directory)
            (chosen,) = select_containers(recording, [selector])
        except RecordingError as exc:
            raise AdviceError(str(exc)) from None
        where, who = show_path(directory), clip(repr(selector))
        if recording.index_rebuilt:
            raise AdviceError(f"{where} has no index.json (the recorder was killed before writing it): the "
                              "machine it was recorded on is unknown, and so the profile's architecture; "
                              "record again")
        if chosen.report is None:
            raise AdviceError(f"{where}: the report of {who} was never written (the recorder was "
                              "killed before its first checkpoint); record again")
        if chosen.rebuilt:
            raise AdviceError(f"{where}: the report of {who} was rebuilt from its events.jsonl (the recorder was "
                              "killed before its first checkpoint): it has no syscall or capability counts; "
                              "record again")
        if not chosen.report.complete:
            raise AdviceError(f"{where}: the report of {who} is a checkpoint of a recording that did "
                              "not end cleanly; advice from part of a run would be too small: record again")
        index, report = recording.document, chosen.report.document
        found.append(RecordedContainer(directory, index["host"]["machine"], report, index.get("command"),
                                       tuple(completeness_warnings(directory, index, report))))
    return found


def completeness_warnings(directory: Path, index: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """What makes a recording miss some of the container's behaviour."""
    warnings = []
    where = show_path(directory)
    started, window_start = report["container"].get("started"), (report.get("window") or {}).get("start")
    if started and window_start and started < window_start:
        warnings.append(f"{where}: the container was already running when the recording began "
                        f"(started {clip(started, 40)}): its start-up is not in the advice; record it with "
                        "`eunomia record -- docker run …`")
    trackers = (index.get("stats") or {}).get("trackers") or {}
    lost = sum(_count(t, "lost") for t in trackers.values())
    full = sum(_count(t, "map_full") for name, t in trackers.items() if name in ("syscall", "cap"))
    if lost or full:
        warnings.append(f"{where}: the kernel lost {lost} events and could not count {full} checks or "
                        "calls (full maps) during the recording: the advice may be too small; record again "
                        "with less load")
    return warnings


def _count(stats: Any, key: str) -> int:
    """A counter of a tracker's stats (the loader has checked it is one)."""
    value = stats.get(key, 0) if isinstance(stats, dict) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
