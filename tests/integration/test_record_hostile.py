"""A container that tries to attack whoever reads its recording: file names
that are HTML or spreadsheet formulas, argv with terminal escapes and bytes
that are not UTF-8.  JSON stays valid, CSV runs nothing, HTML runs nothing
(checked in Chromium), the terminal gets no escape sequence."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from .browser import chromium_missing, open_page
from .conftest import EUNOMIA, IMAGE, docker, unique

pytestmark = pytest.mark.integration

IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = r"""
cd /tmp
touch '<img src=x onerror=alert(1)>'
mkdir -p '=HYPERLINK("http:' && touch '=HYPERLINK("http://x")'
touch "$(printf 'bell\007\033[2Jname')"
ln -s /bin/busybox /tmp/=cmd && /tmp/=cmd 2>/dev/null
( exec /bin/busybox echo "$(printf 'a\033[31mred\007')" "$(printf '\377\376')" '</script><script>alert(2)</script>' ) > /dev/null
exit 0
"""


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    name = unique("evil")
    out = tmp_path / "rec"
    try:
        done = subprocess.run([EUNOMIA, "record", "-c", name, "-d", str(out), "--",
                               "docker", "run", "--rm", "--name", name, IMAGE, "sh", "-c", HOSTILE_SCRIPT],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        yield out, name
    finally:
        docker("rm", "-f", name, check=False)


def _folder(out: Path) -> Path:
    (entry,) = json.loads((out / "index.json").read_text())["containers"]
    return out / entry["folder"]


def test_json_stays_valid_and_keeps_the_data(recording: tuple[Path, str]) -> None:
    out, name = recording
    folder = _folder(out)
    events = [json.loads(line) for line in (folder / "events.jsonl").read_bytes().splitlines()]
    report = json.loads((folder / "report.json").read_text())
    paths = {f["path"] for f in report["files"]}
    assert f"/tmp/{IMG}" in paths
    assert '/tmp/=HYPERLINK("http:/x")' in paths  # the kernel's path: "//" is one separator
    assert "/tmp/bell\x07\x1b[2Jname" in paths    # JSON keeps control characters, escaped by the encoder
    (echo,) = [e for e in events if e["type"] == "exec" and e["process"]["args"][:2] == ["/bin/busybox", "echo"]]
    # bytes that are not UTF-8 arrive as \xNN text; the rest exactly as given
    assert echo["process"]["args"][2:] == ["a\x1b[31mred\x07", "\\xff\\xfe", "</script><script>alert(2)</script>"]
    assert report["container"]["name"] == name


def test_csv_cells_run_nothing(recording: tuple[Path, str]) -> None:
    out, _ = recording
    folder = _folder(out)
    raw = b"".join((folder / table).read_bytes() for table in ("processes.csv", "files.csv", "signals.csv"))
    assert b"\x1b" not in raw and b"\x07" not in raw
    for table in ("processes.csv", "files.csv", "network.csv", "syscalls.csv", "capabilities.csv", "signals.csv"):
        with open(folder / table, newline="") as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@")), (table, cell)
    with open(folder / "processes.csv", newline="") as f:
        names = {row["name"] for row in csv.DictReader(f)}
    assert "'=cmd" in names  # the program named =cmd, neutralised
    with open(folder / "files.csv", newline="") as f:
        paths = {row["path"] for row in csv.DictReader(f)}
    assert f"/tmp/{IMG}" in paths and "/tmp/bell\\x07\\x1b[2Jname" in paths


def test_terminal_report_shows_escapes_not_sequences(recording: tuple[Path, str]) -> None:
    out, name = recording
    done = subprocess.run([EUNOMIA, "report", str(out)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "300"})
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert name in done.stdout and IMG in done.stdout


@pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))
def test_html_report_runs_no_script_in_chromium(recording: tuple[Path, str], tmp_path: Path) -> None:
    out, name = recording
    page_file = tmp_path / "report.html"
    done = subprocess.run([EUNOMIA, "report", str(out), "--html", str(page_file)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in page_file.read_bytes()
    with open_page(page_file) as page:
        assert page.dialogs == [] and page.page_errors == [] and page.console_errors == []
        assert page.other_requests == []
        assert page.count("img") == 0 and page.count("script") == 0
        assert name in page.text
        assert IMG in page.text  # shown as text
        assert "</script><script>alert(2)</script>" in page.text
