"""Drift: alerts when a container does what its recorded behaviour never did.

    baselines = load_baselines([Path("rec")])          # recordings made by `eunomia record`
    drift = DriftDetector(baselines)
    for alert in drift.evaluate(event): …               # a new program, directory written, peer
    for alert in drift.evaluate_syscalls(records): …    # the syscall tracker's aggregates, now and then

A live container is matched to a recorded one by name, else by image (every
recorded container of that image together).  Each new thing is reported
once per container, naming what is new; a container matching no recording
is not judged.  Alerts have the shape of the rules' (eunomia.rules.engine),
plus `drift`: {aspect, new, baseline}.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..report.load import RecordingError, load_recording, show_path
from ..rules.engine import RuleCounts
from .behaviour import PEER, PROGRAM, SYSCALL, WRITE_DIR, Behaviour, Observation, observations, syscall_observations

Event = dict[str, Any]
# aspect → (rule name, priority)
RULES = {
    PROGRAM: ("Drift: new program", "WARNING"),
    WRITE_DIR: ("Drift: write in a new directory", "NOTICE"),
    PEER: ("Drift: new connection", "WARNING"),
    SYSCALL: ("Drift: new syscall", "NOTICE"),
}
TAGS = ["eunomia", "drift"]
MAX_REPORTED = 4096  # new things remembered per container; beyond, alerts are counted as suppressed


class BaselineError(ValueError):
    """A baseline recording cannot be used: one line naming it and the fix."""


@dataclass
class Baseline:
    behaviour: Behaviour
    source: str          # "name web in rec/" or "image nginx:1.25 in rec/": what matched


class Baselines:
    def __init__(self) -> None:
        self.by_name: dict[str, Baseline] = {}
        self.by_image: dict[str, Baseline] = {}

    def add(self, name: str | None, image: str | None, behaviour: Behaviour, where: str) -> None:
        for key, table, what in ((name, self.by_name, "name"), (image, self.by_image, "image")):
            if not key:
                continue
            known = table.get(key)
            if known is None:
                table[key] = Baseline(Behaviour().add(behaviour), f"{what} {key} in {where}")
            else:
                known.behaviour.add(behaviour)

    def of(self, container: dict[str, Any]) -> Baseline | None:
        name, image = container.get("name"), container.get("image")
        return (self.by_name.get(name) if name else None) or (self.by_image.get(image) if image else None)

    def __len__(self) -> int:
        return len(self.by_name) + len(self.by_image)


def load_baselines(directories: Iterable[Path]) -> Baselines:
    """Every container of these recordings, by name and by image; BaselineError when one is unusable."""
    baselines = Baselines()
    for directory in directories:
        where = show_path(directory)
        try:
            recording = load_recording(directory)
        except RecordingError as exc:
            raise BaselineError(f"--baseline {exc}") from None
        usable = [c for c in recording.containers if c.report is not None and not c.rebuilt and c.report.complete]
        if not usable:
            raise BaselineError(f"--baseline {where}: no complete container report in it (the recording holds "
                                f"{len(recording.containers)} containers); record the workload with "
                                "`eunomia record -- docker run …`")
        for container in usable:
            assert container.report is not None
            behaviour = Behaviour.from_report(container.report.document)
            baselines.add(container.name, container.image, behaviour, where)
    return baselines


class DriftDetector:
    def __init__(self, baselines: Baselines, max_reported: int = MAX_REPORTED) -> None:
        self.baselines = baselines
        self.max_reported = max_reported
        self.counts = RuleCounts()
        self._reported: dict[str, set[Observation]] = {}   # container id → the new things already told

    def evaluate(self, event: Event) -> list[Event]:
        found = observations(event)
        if not found:
            return []
        container = event.get("container") or {}
        baseline = self.baselines.of(container)
        if baseline is None:
            return []
        return [a for obs in found if not baseline.behaviour.knows(obs)
                for a in [self._alert(obs, baseline, container, event)] if a is not None]

    def evaluate_syscalls(self, records: Iterable[Event], time: str) -> list[Event]:
        """The syscall tracker's `syscalls` aggregates: calls outside the recorded profile."""
        alerts = []
        for record, found in syscall_observations(records).values():
            container = record.get("container") or {}
            baseline = self.baselines.of(container)
            if baseline is None or not baseline.behaviour.syscalls_recorded:
                continue  # a recording without the syscall tracker: no profile to leave
            for obs in sorted(found):
                if not baseline.behaviour.knows(obs):
                    alert = self._alert(obs, baseline, container, {**record, "time": time})
                    if alert is not None:
                        alerts.append(alert)
        return alerts

    def carry_on(self, before: "DriftDetector") -> None:
        """A reload: what was told stays told, the counters go on."""
        self.counts, self._reported = before.counts, before._reported

    def forget(self, container_ids: Iterable[str]) -> None:
        for cid in container_ids:
            self._reported.pop(cid, None)

    def _alert(self, obs: Observation, baseline: Baseline, container: dict[str, Any], event: Event) -> Event | None:
        rule, priority = RULES[obs[0]]
        reported = self._reported.setdefault(str(container.get("id")), set())
        if obs in reported:
            return None
        if len(reported) >= self.max_reported:
            self.counts.suppressed[rule] = self.counts.suppressed.get(rule, 0) + 1
            return None
        reported.add(obs)
        label = container.get("name") or str(container.get("id") or "")[:12]
        key = (rule, priority, label)
        self.counts.alerts[key] = self.counts.alerts.get(key, 0) + 1
        return {"type": "alert", "time": event.get("time"), "rule": rule, "priority": priority,
                "output": _output(obs, baseline, label, event), "tags": list(TAGS), "container": container,
                "drift": {"aspect": obs[0], "new": str(obs[1]), "baseline": baseline.source}, "event": event}


def _output(obs: Observation, baseline: Baseline, label: str, event: Event) -> str:
    aspect, new = obs
    process = event.get("process") or {}
    command = " ".join(process.get("args") or []) or process.get("name") or "?"
    if aspect == PROGRAM:
        return f"{label} ran {new}, a program it never ran (command={command}; baseline: {baseline.source})"
    if aspect == WRITE_DIR:
        path = (event.get("file") or {}).get("path")
        return (f"{label} wrote in {new}, a directory it never wrote in (file={path} operation={event.get('type')} "
                f"command={command}; baseline: {baseline.source})")
    if aspect == PEER:
        ports = baseline.behaviour.ports_of(new.host)
        what = (f"a port of {new.host} it never used (it used {', '.join(map(str, ports))})" if ports
                else "a peer it never called")
        return f"{label} connected to {new}, {what} (result={event.get('result')} command={command}; " \
               f"baseline: {baseline.source})"
    return f"{label} called {new}, outside its recorded syscall profile (baseline: {baseline.source})"
