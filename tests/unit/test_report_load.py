"""Loading a recording directory (eunomia.report.load): validation, warnings, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eunomia.report import RecordingError, load_recording, select_containers
from eunomia.report.model import Process
from eunomia.report.tree import process_forest, walk

from ..recording_events import sample_events, write_events
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


# -- hostile or garbled recordings (issue 10): one bounded line, never a traceback --------------

MAX_MESSAGE = 500


def _one_line(caught: pytest.ExceptionInfo) -> str:
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and len(message) <= MAX_MESSAGE, message[:600]
    return message


def _rewrite(path: Path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize("encode", [
    lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),   # a BOM
    lambda text: text.encode("utf-16"),                      # UTF-16 (with its BOM)
    lambda text: text.encode("utf-16-le"),                   # UTF-16 without one
])
def test_bom_and_utf16_load(recording_dir, encode):
    for path in (recording_dir / "index.json", recording_dir / FOLDERS[WEB] / "report.json"):
        path.write_bytes(encode(path.read_text(encoding="utf-8")))
    recording = load_recording(recording_dir)
    assert recording.containers[0].report.files[0].path == HOSTILE_PATH
    assert recording.document["host"]["machine"] == "x86_64"  # the validated documents are kept


@pytest.mark.parametrize("where, value", [
    ("/files/0/bytes_read", "1" + "0" * 400),                  # 10^400: no float holds it
    ("/files/0/bytes_written", "123456789012345678901234567890"),  # over 64 bits
    ("/stats/events", "1e400"),
    ("/stats/events", "NaN"),
    ("/stats/events", "-Infinity"),
])
def test_numbers_out_of_range_name_the_field(recording_dir, where, value):
    path = recording_dir / FOLDERS[WEB] / "report.json"
    key = where.rsplit("/", 1)[1]
    doc = json.loads(path.read_text())
    parent = doc["files"][0] if where.startswith("/files") else doc["stats"]
    parent[key] = 424242424242
    path.write_text(json.dumps(doc).replace("424242424242", value, 1))
    with pytest.raises(RecordingError) as caught:
        load_recording(recording_dir)
    message = _one_line(caught)
    assert f"report.json: invalid at {where}: " in message and "record again" in message


def test_integral_floats_are_integers(recording_dir):
    path = recording_dir / FOLDERS[WEB] / "report.json"
    path.write_text(path.read_text().replace('"bytes_written": 4096', '"bytes_written": 4096.0'))
    recording = load_recording(recording_dir)
    written = recording.containers[0].report.files[0].bytes_written
    assert written == 4096 and type(written) is int


def test_deep_nesting_is_an_error_not_a_crash(recording_dir):
    for depth in (100, 100_000):
        nested = "[" * depth + "]" * depth
        text = json.dumps(index_doc()).replace('"exec": {"lost": 0}', f'"exec": {{"lost": 0, "deep": {nested}}}')
        (recording_dir / "index.json").write_text(text)
        with pytest.raises(RecordingError) as caught:
            load_recording(recording_dir)
        assert "nested" in _one_line(caught)


@pytest.mark.parametrize("value", [None, [1], "many", -1, 1.5])
def test_wrong_typed_loss_counters_name_the_field(recording_dir, value):
    doc = index_doc()
    doc["stats"]["trackers"]["exec"] = {"lost": 0, "map_full": value}
    (recording_dir / "index.json").write_text(json.dumps(doc))
    with pytest.raises(RecordingError) as caught:
        load_recording(recording_dir)
    assert "index.json: invalid at /stats/trackers/exec/map_full: " in _one_line(caught)


def test_huge_names_are_cut_in_messages_and_warnings(recording_dir):
    huge = "N\x1b" * 2_000_000
    doc = index_doc()
    doc["containers"][0]["name"] = huge
    doc["stats"]["error"] = huge
    (recording_dir / "index.json").write_text(json.dumps(doc))
    (recording_dir / FOLDERS[WEB] / "report.json").unlink()
    recording = load_recording(recording_dir)
    assert recording.containers[0].name == huge  # kept whole; only messages are cut
    assert all(len(w) <= MAX_MESSAGE and "\x1b" not in w for w in recording.warnings)
    with pytest.raises(RecordingError) as caught:
        select_containers(recording, ["nginx"])
    assert "it holds: " in _one_line(caught)


def test_huge_folder_name_is_invalid_not_an_os_error(recording_dir):
    doc = index_doc()
    doc["containers"][0]["folder"] = "F" * 5_000_000
    (recording_dir / "index.json").write_text(json.dumps(doc))
    with pytest.raises(RecordingError) as caught:
        load_recording(recording_dir)
    assert "invalid at /containers/0/folder: " in _one_line(caught)


def test_huge_directory_name_is_cut(tmp_path):
    with pytest.raises(RecordingError) as caught:
        load_recording(tmp_path / ("d" * 100_000))
    assert "File name too long; give the directory that 'eunomia record' wrote" in _one_line(caught)


# -- partial recordings: rebuilt from events.jsonl ----------------------------------------------

def test_recording_without_index_is_rebuilt_from_its_events(tmp_path):
    """The recorder was killed (-9) before its first checkpoint and before writing index.json."""
    directory = write_events(tmp_path / "rec")
    recording = load_recording(directory)
    assert not recording.complete
    assert [c.display_name for c in recording.containers] == sorted(NAMES, key=lambda n: FOLDERS[n])
    assert any("no index.json" in w and "rebuilt" in w for w in recording.warnings)
    by_name = {c.name: c for c in recording.containers}
    web = by_name[WEB]
    assert web.id == IDS[WEB] and web.rebuilt and web.report is not None and not web.report.complete
    assert [p.args for p in web.report.processes] == [("nginx", "-g", "daemon off;"),
                                                       ("sh", "-c", "echo \x1b[31mred\x1b[0m \x07bell")]
    files = {f.path: f for f in web.report.files}
    assert files["/etc/hosts"].operations == {"open_read": 1}
    assert files["/etc/shadow"].failed == {"open_read": {"EACCES": 1}}
    (conn,) = web.report.connections
    assert (conn.direction, conn.peer_container, conn.destination.port, conn.count) == ("outbound", API, 8080, 1)
    api = by_name[API]
    assert api.report.listening[0].port == 8080
    (signal,) = api.report.signals   # web's signal into api is in api's folder too: api received it
    assert signal.direction == "received" and signal.sender_container == WEB
    assert recording.window == ("2026-11-28T12:34:56.000000Z", "2026-11-28T12:34:58.000000Z")
    assert any(w.startswith(f"container {WEB}: rebuilt from its events.jsonl (7 events)") for w in recording.warnings)


def test_missing_report_is_rebuilt_from_events(tmp_path):
    directory = write_recording(tmp_path / "rec", complete=False, without_report=(DB,))
    write_events(directory, {DB: sample_events()[DB]})
    recording = load_recording(directory)
    db = recording.containers[2]
    assert db.rebuilt and db.report is not None and db.report.processes[0].args == ("postgres", "-D", "/data")
    assert db.report.window[0] == index_doc()["window"]["start"]  # the run's window, from index.json
    assert any(w.startswith(f"container {DB}: rebuilt from its events.jsonl (1 events)") for w in recording.warnings)
    assert not recording.containers[0].rebuilt


def test_folders_not_in_the_index_are_rebuilt(tmp_path):
    """index.json written at start (no containers yet), killed before the first checkpoint."""
    directory = write_events(tmp_path / "rec")
    doc = index_doc(complete=False, names=())
    (directory / "index.json").write_text(json.dumps(doc))
    recording = load_recording(directory)
    assert {c.name for c in recording.containers} == set(NAMES)
    assert all(c.rebuilt for c in recording.containers)
    assert any(w.startswith(f"container {WEB}: not in index.json") for w in recording.warnings)


def test_damaged_event_lines_are_skipped_and_counted(tmp_path):
    events = sample_events()
    directory = write_events(tmp_path / "rec", {WEB: events[WEB]})
    log = directory / FOLDERS[WEB] / "events.jsonl"
    lines = log.read_text().splitlines()
    garbage = ["not json", "[1, 2]", '{"type": "open", "container": 5}', "[" * 5000, lines[2][:40]]
    bad_types = json.dumps({**events[WEB][2], "file": {"path": ["x"], "flags": "read"}})
    log.write_text("\n".join(lines[:2] + garbage + [bad_types] + lines[2:]) + "\n" + lines[3][:25])
    recording = load_recording(directory)
    (web,) = recording.containers
    assert web.rebuilt and web.report is not None
    assert {f.path for f in web.report.files} == {"/etc/hosts", "/etc/shadow"}
    assert any("lines of its events.jsonl could not be read" in w for w in recording.warnings)


def test_empty_directory_and_folders_without_events_are_not_a_recording(tmp_path):
    (tmp_path / "rec" / "web-a1a1a1a1a1a1").mkdir(parents=True)
    with pytest.raises(RecordingError, match="is not a recording: it has no index.json"):
        load_recording(tmp_path / "rec")
