"""One container's reports out of one or more recordings (runs, nodes).

A container is named by -c the way `eunomia report` names it (name,
folder, id or id prefix).  Several recordings of the same workload are
merged: the advice must hold for every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..report.load import RecordingError, load_recording, select_containers
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
        if chosen.report is None:
            raise AdviceError(f"{directory}: the report of {selector!r} was never written (the recorder was "
                              "killed before its first checkpoint); record again")
        if not chosen.report.complete:
            raise AdviceError(f"{directory}: the report of {selector!r} is a checkpoint of a recording that did "
                              "not end cleanly; advice from part of a run would be too small: record again")
        index = orjson.loads((directory / "index.json").read_bytes())
        report = orjson.loads((chosen.path / "report.json").read_bytes())
        found.append(RecordedContainer(directory, index["host"]["machine"], report, index.get("command"),
                                       tuple(completeness_warnings(directory, index, report))))
    return found


def completeness_warnings(directory: Path, index: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """What makes a recording miss some of the container's behaviour."""
    warnings = []
    started, window_start = report["container"].get("started"), (report.get("window") or {}).get("start")
    if started and window_start and started < window_start:
        warnings.append(f"{directory}: the container was already running when the recording began "
                        f"(started {started}): its start-up is not in the advice; record it with "
                        "`eunomia record -- docker run …`")
    trackers = (index.get("stats") or {}).get("trackers") or {}
    lost = sum(int(t.get("lost", 0)) for t in trackers.values())
    full = sum(int(t.get("map_full", 0)) for name, t in trackers.items() if name in ("syscall", "cap"))
    if lost or full:
        warnings.append(f"{directory}: the kernel lost {lost} events and could not count {full} checks or "
                        "calls (full maps) during the recording: the advice may be too small; record again "
                        "with less load")
    return warnings
