"""A recording's files are read as regular files only, and within bounds."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from eunomia.recording.files import bounded_lines, open_regular, read_bounded
from eunomia.report.load import RecordingError, read_document


def test_a_symlinked_report_is_refused_in_one_line(tmp_path: Path):
    (tmp_path / "elsewhere.json").write_text("{}")
    (tmp_path / "report.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(RecordingError) as caught:
        read_document(tmp_path / "report.json", "report")
    assert "symbolic link" in str(caught.value) and "\n" not in str(caught.value)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path):
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            open_regular(fifo)
        except OSError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "opening a FIFO waited for a writer"
    assert outcome and "not a regular file" in str(outcome[0])


def test_a_document_over_the_bound_is_refused(tmp_path: Path):
    big = tmp_path / "report.json"
    big.write_bytes(b" " * 2048)
    assert read_bounded(big, limit=4096) == b" " * 2048
    with pytest.raises(OSError) as caught:
        read_bounded(big, limit=1024)
    assert "larger than" in str(caught.value)


def test_a_line_longer_than_the_bound_is_skipped_not_kept():
    data = b'{"a":1}\n' + b"x" * 100 + b"\n" + b'{"b":2}\n' + b"y" * 50
    assert list(bounded_lines(io.BytesIO(data), limit=16)) == [b'{"a":1}\n', None, b'{"b":2}\n', None]
