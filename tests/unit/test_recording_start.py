"""A recording killed before its first checkpoint is still a recording:
the writer puts index.json down at start, and the loader rebuilds the rest
from events.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from eunomia.recording.writer import RecordingWriter, RunInfo
from eunomia.report import load_recording

from ..recording_events import sample_events
from ..recording_samples import API, WEB, schema_errors

START = "2026-11-28T12:00:00.000000Z"


def _writer(directory: Path) -> RecordingWriter:
    run = RunInfo(version="0.1.0", host={"hostname": "h", "kernel": "6.18", "machine": "x86_64"},
                  trackers=["exec", "file"], scope={"containers": [], "host": False}, start=START,
                  command=["docker", "run", "x"])
    RecordingWriter.create_directory(directory)
    return RecordingWriter(directory, run, now=lambda: "2026-11-28T12:00:09.000000Z")


def test_index_is_written_at_start_before_any_event(tmp_path: Path) -> None:
    _writer(tmp_path / "rec")
    index = json.loads((tmp_path / "rec" / "index.json").read_text())
    assert schema_errors(index, "index") == []
    assert index["complete"] is False and index["containers"] == []
    assert index["window"] == {"start": START, "end": None}
    assert index["trackers"] == ["exec", "file"] and index["host"]["machine"] == "x86_64"
    assert index["command"] == {"argv": ["docker", "run", "x"], "exit_code": None}


def test_killed_before_the_first_checkpoint_still_reports(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "rec")
    for event in sample_events()[WEB]:
        writer.write(event)
    writer.flush()  # ... and then SIGKILL: no checkpoint, no finish
    assert not (tmp_path / "rec" / "web-a1a1a1a1a1a1" / "report.json").exists()
    recording = load_recording(tmp_path / "rec")
    assert recording.host["machine"] == "x86_64" and not recording.complete
    assert [c.name for c in recording.containers] == [API, WEB]  # web's signal into api made api's folder
    web = recording.containers[1]
    assert web.rebuilt and web.report is not None
    assert {f.path for f in web.report.files} == {"/etc/hosts", "/etc/shadow"}
    assert any("rebuilt from its events.jsonl" in w for w in recording.warnings)
