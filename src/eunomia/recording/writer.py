"""A recording on disk: route events to their container's folder, write
reports at checkpoints and at the end.

    writer = RecordingWriter(directory, meta, describe=..., wants=...)   # index.json, complete=false
    writer.write(event)                 # as events arrive
    writer.flush()                      # after each batch
    writer.checkpoint(aggregates, stats)       # every few seconds
    writer.finish(aggregates, stats, command)  # reports complete=true

index.json is there from the start (no containers yet, complete=false), so
a recorder killed before its first checkpoint leaves a recording whose
reports `eunomia report` rebuilds from events.jsonl.

The writer never raises on a full disk while recording: the first failure
is kept in `error`, and every event that could not be written is counted
(per container and in the index).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import orjson

from ..outputs import make_directory
from . import SCHEMA_VERSION
from .builder import ContainerReport
from .files import EventLog, RecordingWriteError, folder_name, replace_file
from .tables import render_tables

log = logging.getLogger(__name__)

Event = dict[str, Any]


@dataclass
class RunInfo:
    """What index.json says about the run besides its containers."""

    version: str
    host: dict[str, str]
    trackers: list[str]
    scope: dict[str, Any]
    start: str
    command: list[str] | None = None


@dataclass
class _Folder:
    container: dict[str, Any]           # the event's container object (id, name, image, …)
    folder: str
    log: EventLog
    report: ContainerReport


MAX_OPEN_LOGS = 256  # events.jsonl descriptors kept open at once


def _dump(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


class RecordingWriter:
    def __init__(self, directory: Path, run: RunInfo, *, now: Callable[[], str],
                 describe: Callable[[str], dict[str, Any]] | None = None,
                 wants: Callable[[str], bool] | None = None) -> None:
        """describe(container id) → labels, started, exited, exit_code (from the runtime);
        wants(container id) → is that container recorded (for events with two ends)."""
        self.directory = directory
        self.run = run
        self.now = now
        self.describe = describe or (lambda container_id: {})
        self.wants = wants or (lambda container_id: True)
        self._folders: dict[str, _Folder] = {}
        self._written: dict[str, bytes] = {}  # folder → the report last written (unchanged: not rewritten)
        self.error: str | None = None
        self.lost_in_kernel = 0
        self._write_index({}, None, False, None)  # before any event: a recording from the start

    @staticmethod
    def create_directory(directory: Path) -> None:
        """Make the recording's directory; it must be new or empty, not a link
        (OutputError, FileExistsError and RecordingWriteError name the fix)."""
        make_directory(directory, "-d")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if any(directory.iterdir()):
                raise FileExistsError(f"{directory} is not empty; choose a new directory with -d")
            probe = directory / ".eunomia-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except FileExistsError:
            raise
        except OSError as exc:
            raise RecordingWriteError(directory, exc) from None

    # -- events ----------------------------------------------------------------
    def write(self, event: Event, *, stream: bool = True) -> None:
        """Fold the event into its container's report and (stream=True) append
        it to events.jsonl.  A signal, ptrace or unix connect into another
        recorded container is also part of that container's record."""
        owners = [event["container"]]
        target = (event.get("target") or {}).get("container")
        if target and target.get("id") != event["container"].get("id") and self.wants(target.get("id", "")):
            owners.append(target)
            if not self.wants(event["container"].get("id", "")):
                owners.pop(0)  # let in by the target's container only
        line = orjson.dumps(event) + b"\n" if stream else b""
        for owner in owners:
            folder = self._folder(owner)
            if folder is None:
                continue
            folder.report.add(event)
            if stream:
                try:
                    folder.log.append(line)
                except RecordingWriteError as exc:
                    self._failed(exc)

    def _folder(self, container: dict[str, Any]) -> _Folder | None:
        container_id = container.get("id") or ""
        found = self._folders.get(container_id)
        if found is not None:
            if container.get("name") and not found.container.get("name"):
                found.container = dict(container)  # the runtime named it meanwhile
            return found
        name = folder_name(container_id, container.get("name"))
        path = self.directory / name
        try:
            path.mkdir(exist_ok=True)
            failed = False
        except OSError as exc:
            # its events are counted as unwritten; the index still lists it
            self._failed(RecordingWriteError(path, exc))
            failed = True
        event_log = EventLog(path / "events.jsonl", failed=failed)
        found = self._folders[container_id] = _Folder(dict(container), name, event_log, ContainerReport(container_id))
        return found

    def flush(self) -> None:
        for folder in self._folders.values():
            try:
                folder.log.flush()
            except RecordingWriteError as exc:
                self._failed(exc)
        self._limit_open_logs()

    def _limit_open_logs(self) -> None:
        """Keep at most MAX_OPEN_LOGS descriptors: close the least recently written."""
        logs = [f.log for f in self._folders.values() if f.log.is_open]
        if len(logs) <= MAX_OPEN_LOGS:
            return
        for event_log in sorted(logs, key=lambda l: l.writes)[:len(logs) - MAX_OPEN_LOGS]:
            try:
                event_log.suspend()
            except RecordingWriteError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        if self.error is None:
            self.error = str(exc)
            log.error("%s", exc)

    # -- reports ---------------------------------------------------------------
    def checkpoint(self, aggregates: list[Event], stats: dict[str, Any], *, complete: bool = False,
                   command: dict[str, Any] | None = None) -> None:
        """Write every report, its CSV tables and the index, atomically."""
        self.flush()
        self.lost_in_kernel = int(stats.get("lost", 0))
        by_container: dict[str, list[Event]] = {}
        for record in aggregates:
            container = record.get("container") or {}
            if not self.wants(container.get("id") or ""):
                continue  # kernel totals of a container outside the scope (no kernel filter)
            self._folder(container)  # a container seen only in aggregates gets a folder too
            by_container.setdefault(container.get("id") or "", []).append(record)
        end = self.now()
        renamed = [self._rename_if_named(folder) for folder in self._folders.values()]
        if any(renamed):  # the index must name the folders as they are now, before anything else
            self._write_index(stats, end, complete, command)
        for container_id, folder in self._folders.items():
            folder.report.set_aggregates(by_container.get(container_id, []))
            self._write_report(container_id, folder, end, complete)
        self._write_index(stats, end, complete, command)

    def _write_report(self, container_id: str, folder: _Folder, end: str, complete: bool) -> None:
        """report.json and the CSV tables, when anything but the window's end changed."""
        if folder.log.failed and not (self.directory / folder.folder).is_dir():
            return
        report = folder.report.to_dict(self._container_document(container_id, folder),
                                       {"start": self.run.start, "end": end},
                                       {"events": folder.log.written, "unwritten": folder.log.unwritten,
                                        "dropped": self.lost_in_kernel}, complete)
        fingerprint = _dump({**report, "window": None})
        if not complete and self._written.get(folder.folder) == fingerprint:
            return  # a checkpoint skips what did not change (a stopped container)
        try:
            replace_file(self.directory / folder.folder / "report.json", _dump(report))
            for name, data in render_tables(report).items():
                replace_file(self.directory / folder.folder / name, data)
            self._written[folder.folder] = fingerprint
        except RecordingWriteError as exc:
            self._failed(exc)

    def _write_index(self, stats: dict[str, Any], end: str | None, complete: bool,
                     command: dict[str, Any] | None) -> None:
        try:
            replace_file(self.directory / "index.json", _dump(self._index(stats, end, complete, command)))
        except RecordingWriteError as exc:
            self._failed(exc)

    def finish(self, aggregates: list[Event], stats: dict[str, Any], command: dict[str, Any] | None) -> None:
        self.checkpoint(aggregates, stats, complete=True, command=command)
        for folder in self._folders.values():
            try:
                folder.log.close()
            except RecordingWriteError as exc:
                self._failed(exc)
        if self.error is not None:
            # the index says how much is missing, if it could be written at all
            self._write_index(stats, self.now(), True, command)

    def _rename_if_named(self, folder: _Folder) -> bool:
        """Rename a folder made before its container had a name; True if done."""
        wanted = folder_name(folder.container.get("id") or "", folder.container.get("name"))
        if wanted == folder.folder or (self.directory / wanted).exists():
            return False
        try:
            os.rename(self.directory / folder.folder, self.directory / wanted)
        except OSError as exc:
            log.warning("cannot rename %s to %s: %s", folder.folder, wanted, exc)
            return False
        self._written.pop(folder.folder, None)
        folder.folder = wanted
        folder.log.moved_to(self.directory / wanted / "events.jsonl")
        return True

    def _container_document(self, container_id: str, folder: _Folder) -> dict[str, Any]:
        c = folder.container
        extra = {"labels": {}, "started": None, "exited": None, "exit_code": None}
        try:
            extra.update({k: v for k, v in self.describe(container_id).items() if k in extra})
        except Exception as exc:  # the runtime is only asked; its failure is not the recording's
            log.debug("describe %s: %s", container_id, exc)
        return {"id": container_id, "name": c.get("name"), "image": c.get("image"), "runtime": c.get("runtime"),
                "labels": dict(extra["labels"] or {}), "pod": c.get("pod"), "namespace": c.get("namespace"),
                "started": extra["started"], "exited": extra["exited"], "exit_code": extra["exit_code"]}

    def _index(self, stats: dict[str, Any], end: str | None, complete: bool,
               command: dict[str, Any] | None) -> dict[str, Any]:
        events = sum(f.log.written for f in self._folders.values())
        unwritten = sum(f.log.unwritten for f in self._folders.values())
        run_stats: dict[str, Any] = {"trackers": stats.get("trackers", {}), "lost": int(stats.get("lost", 0)),
                                     "undecodable": int(stats.get("undecodable", 0)),
                                     "events": events, "unwritten": unwritten}
        if self.error is not None:
            run_stats["error"] = self.error
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "eunomia", "version": self.run.version},
            "host": self.run.host,
            "window": {"start": self.run.start, "end": end},
            "complete": complete,
            "trackers": self.run.trackers,
            "scope": self.run.scope,
            "command": command if command is not None else (
                {"argv": self.run.command, "exit_code": None} if self.run.command else None),
            "containers": [{"id": cid, "name": f.container.get("name"), "image": f.container.get("image"),
                            "folder": f.folder, "events": f.log.written, "unwritten": f.log.unwritten}
                           for cid, f in sorted(self._folders.items(), key=lambda item: item[1].folder)],
            "stats": run_stats,
        }

    @property
    def containers(self) -> int:
        return len(self._folders)

    @property
    def events(self) -> int:
        return sum(f.log.written + f.log.pending for f in self._folders.values())

    @property
    def unwritten(self) -> int:
        return sum(f.log.unwritten for f in self._folders.values())
