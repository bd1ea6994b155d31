"""Sinks by kind (`--sink KIND:TARGET`): found by name, rotated, never fatal."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import orjson
import pytest

from eunomia.sinks import SinkError, SinkSpecError, open_sink, sink_kinds
from eunomia.sinks.jsonl import JsonLinesSink, RotatingJsonLines

from ..recording_events import event


def test_kinds_are_the_modules_that_open_targets() -> None:
    assert "jsonl" in sink_kinds()
    assert "table" not in sink_kinds() and "csv" not in sink_kinds()  # stream formats, not sinks


@pytest.mark.parametrize("spec, message", [
    ("nowhere", "give KIND:TARGET, one of: influxdb:http://HOST:PORT/DATABASE; jsonl:PATH"),
    ("bogus:/tmp/x", "give KIND:TARGET, one of: influxdb:http://HOST:PORT/DATABASE; jsonl:PATH"),
    ("jsonl:", "the target is missing: jsonl:PATH"),
    ("jsonl:/tmp/x?max_bytes=ten", "max_bytes and keep are whole numbers"),
    ("jsonl:/tmp/x?max_bytes=10", "give max_bytes of at least 4096"),
    ("jsonl:/tmp/x?colour=red", "unknown option 'colour'"),
])
def test_bad_sink_specs_name_the_fix(spec, message) -> None:
    with pytest.raises(SinkSpecError, match=message.replace("?", r"\?")):
        open_sink(spec)


def test_jsonl_appends_rotates_by_size_and_keeps_k(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type":"earlier"}\n')  # appended to, never truncated
    sink = open_sink(f"jsonl:{path}?max_bytes=4096&keep=2")
    assert isinstance(sink, RotatingJsonLines)
    written = []
    for n in range(60):
        e = event("open", "web", n, file={"path": f"/tmp/{n}"})
        written.append(e)
        sink.write(e)
        sink.flush()
    sink.close({"lost": 0})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 4096
    lines = [orjson.loads(line) for name in reversed(files) for line in (tmp_path / name).read_bytes().splitlines()]
    assert lines[-1] == {"type": "summary", "lost": 0}
    pids = [e["process"]["pid"] for e in lines if e["type"] == "open"]
    assert pids == list(range(60))[-len(pids):]  # in order, the oldest rotated away
    assert len(pids) < 60


def test_jsonl_refuses_a_link_and_a_directory(tmp_path) -> None:
    (tmp_path / "real").write_text("")
    os.symlink(tmp_path / "real", tmp_path / "link")
    with pytest.raises(SinkError, match="symbolic link"):
        open_sink(f"jsonl:{tmp_path / 'link'}")
    with pytest.raises(SinkError):
        open_sink(f"jsonl:{tmp_path}")
    os.mkfifo(tmp_path / "fifo")  # nobody reads it: refused at once, not waited on
    with pytest.raises(SinkError):
        open_sink(f"jsonl:{tmp_path / 'fifo'}")


def test_a_failed_write_is_counted_not_raised(tmp_path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    sink = RotatingJsonLines.__new__(RotatingJsonLines)
    sink.path, sink.max_bytes, sink.keep, sink.count, sink.undelivered, sink.error = tmp_path / "x", 1 << 20, 1, 0, 0, None
    sink._buffer, sink._size = [], 0
    sink._fd = os.open("/dev/full", os.O_WRONLY)
    sink.write(event("open", "web", 1))
    sink.write(event("open", "web", 2))
    sink.flush()
    assert sink.undelivered == 2 and "No space left" in (sink.error or "")
    os.close(sink._fd)


def test_a_rotation_that_cannot_rename_keeps_writing_the_current_file(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    (tmp_path / "events.jsonl.1").mkdir()  # in the way of the rename
    (tmp_path / "events.jsonl.1" / "x").write_text("")
    sink = open_sink(f"jsonl:{path}?max_bytes=4096&keep=1")
    for n in range(40):
        sink.write(event("open", "web", n))
        sink.flush()
    sink.close({"lost": 0})
    assert "cannot rotate" in (sink.error or "") and sink.undelivered == 0
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [e["process"]["pid"] for e in lines[:-1]] == list(range(40)) and lines[-1]["type"] == "summary"


class _CountingStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: Any) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)


def test_the_stream_sink_writes_once_per_flush_and_everything_by_close() -> None:
    out = _CountingStream()
    sink = JsonLinesSink(out)
    for n in range(500):
        sink.write({"type": "open", "n": n, "path": "/a\nb"})
    assert out.writes == 0  # gathered until the runner's flush after its poll
    sink.flush()
    assert out.writes == 1
    sink.write({"type": "open", "n": 500})
    sink.close({"lost": 0})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["n"] for e in lines[:-1]] == list(range(501)) and lines[0]["path"] == "/a\nb"
    assert lines[-1] == {"type": "summary", "lost": 0} and sink.count == 501


def test_a_stream_sink_write_that_failed_is_not_written_again() -> None:
    class Closed(io.BytesIO):
        def write(self, data: Any) -> int:  # type: ignore[override]
            raise BrokenPipeError(32, "Broken pipe")

    sink = JsonLinesSink(Closed())
    sink.write({"type": "open"})
    with pytest.raises(BrokenPipeError):
        sink.flush()
    assert not sink._lines  # the next flush does not meet the same lines
