"""Bad input does no harm (issue 10): garbled and hostile recordings through
`eunomia report` and `eunomia advise seccomp|caps`, in process.

Every case starts from a valid recording (tests/recording_samples.py, with
real-shaped events.jsonl from tests/recording_events.py) and mutates it
with a seeded random.Random: truncated files, flipped bytes, deleted files
and folders, values replaced by wrong types, huge or non-finite numbers,
deep nesting, huge strings, control characters, other encodings, lone
surrogates.  Whatever the damage, a command ends with exit code 0, 1 or 2,
prints no traceback, puts no raw escape or bell on the terminal, and when
it fails says so in one bounded line.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from eunomia.cli import app

from ..recording_events import sample_events, write_events
from ..recording_samples import DB, FOLDERS, WEB, index_doc, sample_reports, write_recording

SEED = 20261128
CASES = 240
MAX_ERROR_LINE = 500
COMMANDS = (["report"], ["advise", "seccomp", "-c", WEB], ["advise", "caps", "-c", WEB],
            ["advise", "caps", "-c", DB])
# what handle_errors prints for an exception nobody expected: a bug, whatever the input
UNEXPECTED = re.compile(r"eunomia: error: [A-Z]\w*(Error|Exception|Exit|Interrupt)\b")
RAW = "\u0000RAW{}\u0000"  # a placeholder for JSON text json.dumps cannot write

HOSTILE_VALUES: list[Any] = [
    None, True, -1, 0, 1.5, "", "many", [1], [], {}, {"x": None}, 2 ** 64, -(2 ** 63) - 1,
    "\x1b[31mred\x1b]0;title\x07\r\n\x00", "\u202e\u2066bidi", "A" * 300_000, "F" * 300,
    "../../etc/passwd", "..", "\ud800", "[bold]x[/bold]", "<script>alert(1)</script>",
    ("raw", "1" + "0" * 400), ("raw", "123456789012345678901234567890"), ("raw", "1e400"),
    ("raw", "NaN"), ("raw", "-Infinity"), ("raw", "[" * 50_000 + "]" * 50_000), ("raw", '"\\udcff"'),
    ("raw", "1" * 5000),
]


def _advisable_reports() -> dict[str, dict[str, Any]]:
    reports = sample_reports()
    for name in (WEB, DB):
        capabilities = reports[name]["capabilities"]
        for cap, totals in capabilities.items():
            totals["checks"] = [{"process": totals["processes"][0], "syscall": "bind", "credentials": "own",
                                 "granted": totals["granted"], "denied": totals["denied"]}]
    reports[WEB]["runtime_syscalls"] = {"fstatfs": 1}
    return reports


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = write_recording(tmp_path_factory.mktemp("fuzz") / "base", reports=_advisable_reports())
    write_events(directory, sample_events())
    doc = index_doc()
    doc["stats"]["trackers"] = {"syscall": {"received": {"syscalls": 1}, "lost": 0, "map_full": 0},
                                "cap": {"lost": 0, "map_full": 0}}
    (directory / "index.json").write_text(json.dumps(doc), encoding="utf-8")
    return directory


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def _nodes(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value in the document."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key))
            stack.append(value)
    return out


def _hostile(rng: random.Random, raws: list[str]) -> Any:
    value = rng.choice(HOSTILE_VALUES)
    if isinstance(value, tuple):
        raws.append(value[1])
        return RAW.format(len(raws) - 1)
    return value


def _dumps(doc: Any, raws: list[str]) -> str:
    text = json.dumps(doc, ensure_ascii=False)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(RAW.format(i), ensure_ascii=False), raw)
    return text


def _mutate_document(rng: random.Random, doc: Any) -> str:
    raws: list[str] = []
    for _ in range(rng.randint(1, 3)):
        nodes = _nodes(doc)
        if not nodes:
            break
        node, key = rng.choice(nodes)
        what = rng.random()
        if what < 0.7:
            node[key] = _hostile(rng, raws)
        elif what < 0.85 and isinstance(node, dict):
            del node[key]
        elif isinstance(node, dict):
            node["extra"] = _hostile(rng, raws)
    return _dumps(doc, raws)


def _encode(rng: random.Random, text: str) -> bytes:
    how = rng.randrange(8)
    if how == 0:
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if how == 1:
        return text.encode("utf-16", "surrogatepass")
    if how == 2:
        return text.encode("utf-32-le", "surrogatepass")
    return text.encode("utf-8", "surrogatepass")


def _mutate_json_file(rng: random.Random, path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".jsonl":
        lines = data.splitlines()
        if lines:
            i = rng.randrange(len(lines))
            try:
                lines[i] = _mutate_document(rng, json.loads(lines[i])).encode("utf-8", "surrogatepass")
            except (ValueError, RecursionError):
                pass
        if rng.random() < 0.3:
            lines.insert(rng.randint(0, len(lines)), rng.choice([b"garbage", b"[1]", b"{", b"[" * 20000, b"\xff\xfe"]))
        path.write_bytes(b"\n".join(lines) + b"\n")
        return
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return
    path.write_bytes(_encode(rng, _mutate_document(rng, doc)))


def _truncate(rng: random.Random, path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:rng.randint(0, len(data))])


def _flip(rng: random.Random, path: Path) -> None:
    data = bytearray(path.read_bytes())
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))


def _delete(rng: random.Random, path: Path) -> None:
    if rng.random() < 0.2 and path.parent.name in FOLDERS.values():
        shutil.rmtree(path.parent)
    else:
        path.unlink()


MUTATIONS: list[tuple[float, Callable[[random.Random, Path], None]]] = [
    (0.55, _mutate_json_file), (0.15, _truncate), (0.15, _flip), (0.15, _delete)]


def _mutate(rng: random.Random, directory: Path) -> list[str]:
    done = []
    for _ in range(rng.randint(1, 3)):
        files = [p for p in _files(directory) if p.suffix in (".json", ".jsonl")]
        if not files:
            break
        path = rng.choice(files)
        mutation = rng.choices([m for _, m in MUTATIONS], weights=[w for w, _ in MUTATIONS])[0]
        mutation(rng, path)
        done.append(f"{mutation.__name__}({path.relative_to(directory)})")
    return done


def _argv(command: list[str], directory: Path) -> list[str]:
    """The command with the recording's directory where it goes."""
    at = 2 if command[0] == "advise" else 1
    return [*command[:at], str(directory), *command[at:]]


def _check(result: Any, what: str) -> None:
    err, out = result.stderr, result.stdout
    assert result.exit_code in (0, 1, 2), what
    assert result.exception is None or isinstance(result.exception, SystemExit), (what, repr(result.exception))
    for text in (out, err):
        assert "Traceback" not in text, what
        assert "\x1b" not in text and "\x07" not in text, what
    if result.exit_code != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) <= 1, (what, [line[:200] for line in lines])
        assert not lines or len(lines[0]) <= MAX_ERROR_LINE, (what, lines[0][:600])
        assert not UNEXPECTED.match(err), (what, err[:300])


def test_mutated_recordings_do_no_harm(base: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    exits = {0: 0, 1: 0, 2: 0}
    for case in range(CASES):
        rng = random.Random(SEED * 1000 + case)
        directory = tmp_path / f"case{case}"
        shutil.copytree(base, directory)
        done = _mutate(rng, directory)
        for command in COMMANDS:
            result = runner.invoke(app, _argv(command, directory))
            _check(result, f"case {case}: {' '.join(command)} after {', '.join(done)}")
            exits[result.exit_code] = exits.get(result.exit_code, 0) + 1
        shutil.rmtree(directory)
    # the damage is varied: some recordings are still read, most are refused
    assert exits[0] > 20 and exits[2] > 100, exits


def test_the_unmutated_base_is_advisable(base: Path) -> None:
    runner = CliRunner()
    for command in COMMANDS:
        result = runner.invoke(app, _argv(command, base))
        assert result.exit_code == 0, (command, result.stderr)


def _index_bytes(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    return lambda directory: _rewrite_bytes(directory / "index.json", change)


READ, REFUSED = (0, 0, 0), (2, 2, 2)


@pytest.mark.parametrize("name, damage, expected", [
    ("a BOM", _index_bytes(lambda b: b"\xef\xbb\xbf" + b), READ),
    ("UTF-16", _index_bytes(lambda b: b.decode().encode("utf-16")), READ),
    ("a lone surrogate", _index_bytes(lambda b: b.replace(b'"testhost"', b'"test\\udcffhost"')), READ),
    ("a 100-bit integer", _index_bytes(lambda b: b.replace(b'"undecodable": 0',
                                                           b'"undecodable": 1267650600228229401496703205376')),
     REFUSED),
    ("a null loss counter", _index_bytes(lambda b: b.replace(b'"lost": 0, "map_full"', b'"lost": null, "map_full"', 1)),
     REFUSED),
    ("a list loss counter", _index_bytes(lambda b: b.replace(b'"lost": 0, "map_full"', b'"lost": [1], "map_full"', 1)),
     REFUSED),
    ("a string loss counter", _index_bytes(lambda b: b.replace(b'"lost": 0, "map_full"', b'"lost": "many", "map_full"',
                                                               1)), REFUSED),
    ("100,000 nested [", _index_bytes(lambda b: b.replace(
        b'"received": {', b'"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b', "received": {', 1)), REFUSED),
    ("a byte count of 10^400", lambda d: _rewrite_bytes(d / FOLDERS[WEB] / "report.json", lambda b: b.replace(
        b'"bytes_written": 4096', b'"bytes_written": 1' + b"0" * 400, 1)), REFUSED),
    # report shows it; advise -c web finds no container of that name, and says so in one line
    ("a 50 MB container name", _index_bytes(lambda b: b.replace(
        b'"name": "web"', b'"name": "' + b"\\u001b" * 1000 + b"N" * 50_000_000 + b'"', 1)), (0, 2, 2)),
    ("a 50 MB folder name", _index_bytes(lambda b: b.replace(FOLDERS[DB].encode(), b"F" * 50_000_000, 1)), REFUSED),
])
def test_found_by_fuzzing(base: Path, tmp_path: Path, name: str, damage: Callable[[Path], None],
                          expected: tuple[int, ...]) -> None:
    """The defects fuzzing found first: report and advise read a recording the same way,
    and refuse a bad one in one bounded line with exit code 2."""
    directory = tmp_path / "rec"
    shutil.copytree(base, directory)
    damage(directory)
    runner = CliRunner()
    codes = []
    for command in COMMANDS[:3]:
        result = runner.invoke(app, _argv(command, directory))
        _check(result, f"{name}: {' '.join(command)}")
        codes.append(result.exit_code)
    assert tuple(codes) == expected, name


def _rewrite_bytes(path: Path, change: Callable[[bytes], bytes]) -> None:
    data = path.read_bytes()
    changed = change(data)
    assert changed != data, path
    path.write_bytes(changed)
