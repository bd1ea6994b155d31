"""Loading a recording directory (eunomia.report.load): validation, warnings, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eunomia.report import RecordingError, load_recording, select_containers
from eunomia.report.model import Process
from eunomia.report.tree import process_forest, walk

from ..recording_samples import (API, DB, FOLDERS, HOSTILE_ARGV, HOSTILE_PATH, IDS, NAMES, WEB, assert_valid_recording,
                                 index_doc, sample_reports, schema_errors, write_recording)


@pytest.fixture
def recording_dir(tmp_path: Path) -> Path:
    directory = write_recording(tmp_path / "rec")
    assert_valid_recording(directory)
    return directory


def test_samples_follow_the_schemas():
    assert schema_errors(index_doc(), "index") == []
    assert schema_errors(index_doc(complete=False), "index") == []
    for doc in sample_reports().values():
        assert schema_errors(doc, "report") == []


def test_loads_every_container_with_its_report(recording_dir):
    recording = load_recording(recording_dir)
    assert [c.display_name for c in recording.containers] == list(NAMES)
    assert recording.complete and recording.warnings == []
    web = recording.containers[0]
    assert web.id == IDS[WEB] and web.short_id == IDS[WEB][:12]
    assert web.report is not None
    assert web.report.files[0].path == HOSTILE_PATH          # kept as recorded: escaping is the renderers' job
    assert web.report.processes[1].args == tuple(HOSTILE_ARGV)
    assert {c.name for c in web.report.capabilities} == {"CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"}
    assert web.report.syscalls["read"] == 900
    db_conn = recording.containers[2].report.connections[0]
    assert (db_conn.direction, db_conn.peer_container, db_conn.destination.port) == ("inbound", API, 5432)


def test_incomplete_recording_loads_with_a_warning(tmp_path):
    directory = write_recording(tmp_path / "rec", complete=False)
    assert_valid_recording(directory)
    recording = load_recording(directory)
    assert not recording.complete
    assert any("not complete" in w for w in recording.warnings)
    assert all(c.report is not None for c in recording.containers)


def test_missing_report_loads_with_a_warning(tmp_path):
    """The recorder was killed (-9) before writing db's report.json."""
    directory = write_recording(tmp_path / "rec", complete=False, without_report=(DB,))
    recording = load_recording(directory)
    db = recording.containers[2]
    assert db.report is None and db.display_name == DB
    assert any(w.startswith(f"container {DB}: it has no report.json") for w in recording.warnings)


def test_checkpoint_report_is_a_warning(tmp_path):
    reports = sample_reports()
    reports[API]["complete"] = False
    recording = load_recording(write_recording(tmp_path / "rec", reports=reports))
    assert any(w.startswith(f"container {API}: report.json is a checkpoint") for w in recording.warnings)


def test_missing_directory(tmp_path):
    with pytest.raises(RecordingError, match="no such directory"):
        load_recording(tmp_path / "nope")


def test_file_instead_of_directory(tmp_path):
    (tmp_path / "index.json").write_text("{}")
    with pytest.raises(RecordingError, match="is not a directory; give the recording directory"):
        load_recording(tmp_path / "index.json")


def test_directory_without_index(tmp_path):
    with pytest.raises(RecordingError, match="is not a recording: it has no index.json"):
        load_recording(tmp_path)


def test_index_that_is_not_json(recording_dir):
    (recording_dir / "index.json").write_text('{"schema_version": 1,')
    with pytest.raises(RecordingError, match=r"index.json is not valid JSON \(line 1"):
        load_recording(recording_dir)


def test_invalid_report_names_the_json_pointer(recording_dir):
    path = recording_dir / FOLDERS[API] / "report.json"
    doc = json.loads(path.read_text())
    doc["network"]["connections"][1]["count"] = -1
    path.write_text(json.dumps(doc))
    with pytest.raises(RecordingError) as caught:
        load_recording(recording_dir)
    message = str(caught.value)
    assert "invalid at /network/connections/1/count: " in message
    assert "report.json" in message and "\n" not in message


def test_invalid_index_names_the_json_pointer(recording_dir):
    doc = index_doc()
    doc["containers"][0]["folder"] = "../../etc"
    (recording_dir / "index.json").write_text(json.dumps(doc))
    with pytest.raises(RecordingError, match="invalid at /containers/0/folder: "):
        load_recording(recording_dir)


def test_folder_dot_dot_is_refused(recording_dir):
    """Neither the schema's folder pattern nor the loader lets '..' through."""
    doc = index_doc()
    doc["containers"][1]["folder"] = ".."
    assert schema_errors(doc, "index") != []
    (recording_dir / "index.json").write_text(json.dumps(doc))
    with pytest.raises(RecordingError, match="invalid at /containers/1/folder"):
        load_recording(recording_dir)


def test_newer_schema_version(recording_dir):
    doc = index_doc()
    doc["schema_version"] = 2
    (recording_dir / "index.json").write_text(json.dumps(doc))
    with pytest.raises(RecordingError, match="schema version 2, this eunomia reads version 1"):
        load_recording(recording_dir)


def test_error_messages_escape_hostile_values(recording_dir):
    doc = index_doc()
    doc["containers"][0]["folder"] = "\x1b[31mbad/"
    (recording_dir / "index.json").write_text(json.dumps(doc))
    with pytest.raises(RecordingError) as caught:
        load_recording(recording_dir)
    assert "\x1b" not in str(caught.value) and "\\x1b" in str(caught.value)


def test_lone_surrogate_escapes_load_and_show_escaped(recording_dir):
    """orjson refuses "\\udcff" in a string; the JSON is valid, so the loader still reads it."""
    path = recording_dir / FOLDERS[WEB] / "report.json"
    path.write_text(path.read_text().replace("/etc/shadow", "/etc/sha\\udcffdow"))
    recording = load_recording(recording_dir)
    paths = [f.path for f in recording.containers[0].report.files]
    assert "/etc/sha\udcffdow" in paths


def test_select_by_name_prefix_and_folder(recording_dir):
    recording = load_recording(recording_dir)
    assert [c.name for c in select_containers(recording, [])] == list(NAMES)
    assert [c.name for c in select_containers(recording, [DB, WEB])] == [DB, WEB]
    assert [c.name for c in select_containers(recording, [IDS[API][:6]])] == [API]
    assert [c.name for c in select_containers(recording, [FOLDERS[WEB], WEB])] == [WEB]


def test_select_unknown_container(recording_dir):
    recording = load_recording(recording_dir)
    with pytest.raises(RecordingError, match=r"no container 'nginx' in this recording \(it holds: web, api, db\)"):
        select_containers(recording, ["nginx"])


def _proc(pid: int, ppid: int | None) -> Process:
    return Process(pid=pid, parent_pid=ppid, name="x", executable=None, args=(), working_directory=None,
                   user_id=None, start=None, end=None, exit_code=None, exit_signal=None, exec=False)


def test_process_forest_shows_every_process_once_even_with_a_parent_loop():
    processes = [_proc(1, None), _proc(2, 1), _proc(3, 2), _proc(3, 2),   # pid 3 exec'd twice
                 _proc(10, 11), _proc(11, 10), _proc(12, 11),               # a loop (pid reuse)
                 _proc(20, 999)]                                            # parent not recorded
    forest = process_forest(processes)
    seen = [(depth, node.pid) for depth, node in walk(forest)]
    assert sorted(pid for _, pid in seen) == [1, 2, 3, 10, 11, 12, 20]
    assert (2, 3) in seen
    node3 = next(n for _, n in walk(forest) if n.pid == 3)
    assert len(node3.programs) == 2
    assert [node.pid for _, node in walk(forest, limit=2)] == [1, 2]
