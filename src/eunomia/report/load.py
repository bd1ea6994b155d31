"""Reading a recording directory: index.json, then each container's report.json.

The one loader of a recording for every command (`eunomia report`,
`eunomia advise`).  Both files are validated against the JSON Schemas
shipped in eunomia.recording.schema (Draft 2020-12), plus what a schema
cannot say: numbers fit in 64 bits and are finite, documents are nested a
few levels only, file names fit a file system.  JSON that orjson refuses but
is valid (a BOM, UTF-16/32, a lone surrogate escape, integers over 64 bits)
is read by the standard library.

What the recorder had no time to write is rebuilt: a recording still being
written (complete=false) loads; a container folder without report.json, or
not listed in index.json, is folded again from its events.jsonl; a
recording without index.json gets one made from its folders.  Each becomes
a warning.  Anything else is a RecordingError: one bounded line naming the
file, the field (a JSON pointer) and the fix.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import orjson
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # jsonschema is imported when a document is first checked
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from ..recording.builder import EVENTS, Folded, fold_folder, rebuilt_index, rebuilt_report
from ..recording.files import read_bounded
from ..sinks.escape import escape_text
from .model import ContainerRecording, IndexEntry, Recording, Report

INDEX = "index.json"
REPORT = "report.json"
SCHEMA_VERSION = 1
MAX_DETAIL = 160    # characters of a validation message kept in an error line
MAX_VALUE = 80      # characters of a recorded value (a name, an id) kept in a message
MAX_PATH = 160      # characters of a path kept in a message
MAX_MESSAGE = 440   # a whole error or warning line, before "eunomia: error: "
MAX_DEPTH = 32      # nesting of a document (a report is 6 deep)
NAME_MAX = 255      # the longest file name
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1
FOLDER = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9_.-]+")   # the folder pattern of index.schema.json

COUNT = {"type": "integer", "minimum": 0}
# what the shipped schemas leave open, and the commands read
EXTRA_SCHEMAS: dict[str, dict[str, Any]] = {
    "index": {"properties": {
        "containers": {"items": {"properties": {"folder": {"maxLength": NAME_MAX}}}},
        "command": {"properties": {"stdout": {"maxLength": NAME_MAX}}},
        "stats": {"properties": {"trackers": {"additionalProperties": {
            "properties": {"lost": COUNT, "map_full": COUNT}}}}},
    }},
    "report": {},
}


def clip(value: str, limit: int = MAX_VALUE) -> str:
    """A recorded value as a message may show it: controls escaped, cut to `limit`."""
    shown = escape_text(value[:limit])
    return shown if len(value) <= limit and len(shown) <= limit else shown[:limit - 1] + "…"


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """A message as one line of at most `limit` characters; its start (the file) and
    end (the fix) are kept when it must be cut."""
    if len(message) > 4 * limit:
        message = message[:2 * limit] + message[-2 * limit:]
    text = escape_text(message)
    if len(text) <= limit:
        return text
    tail = limit // 3
    return f"{text[:limit - tail - 3]} … {text[-tail:]}"


def show_path(path: Path | str) -> str:
    text = escape_text(str(path))
    return text if len(text) <= MAX_PATH else f"{text[:50]}…{text[-(MAX_PATH - 51):]}"


class RecordingError(Exception):
    """The directory cannot be read as a recording; the message (one bounded line) names the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


@functools.lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    """The validator of schema/<name>.schema.json ("index" or "report")."""
    text = resources.files("eunomia.recording.schema").joinpath(f"{name}.schema.json").read_text("utf-8")
    schema = orjson.loads(text)
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@functools.lru_cache(maxsize=None)
def _extra_validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(EXTRA_SCHEMAS[name])


def load_recording(directory: Path) -> Recording:
    """The recording in `directory`, validated; RecordingError when it is not one."""
    _check_directory(directory)
    index_path = directory / INDEX
    on_disk = _event_folders(directory)
    folds: dict[str, Folded | None] = {}
    has_index = _is_file(index_path)
    if has_index:
        doc = read_document(index_path, "index")
    elif on_disk:
        doc = rebuilt_index([_fold(directory, name, folds) or Folded.unread(name) for name in on_disk])
        _validate(index_path, doc, "index")
    else:
        raise RecordingError(f"{show_path(directory)} is not a recording: it has no {INDEX} "
                             "(give the directory that 'eunomia record' wrote)")
    recording = Recording.of(directory, doc)
    recording.index_rebuilt = not has_index
    warnings = recording.warnings
    if not has_index:
        _warn(warnings, f"{show_path(directory)} has no {INDEX} (the recorder was killed before writing it?): "
                        f"rebuilt from the {EVENTS} of {len(on_disk)} container folder(s); the host, the "
                        "trackers and the events the kernel dropped are unknown")
    elif not recording.complete:
        _warn(warnings, "the recording is not complete (complete=false in index.json): it is still being "
                        "written, or the recorder was stopped abruptly; showing what was saved so far")
    if recording.stats.error:
        _warn(warnings, f"the recorder stopped writing: {clip(recording.stats.error, 200)}")
    entries = _entries(index_path, doc)
    listed = {entry.folder for entry in entries}
    unlisted = _unlisted(directory, [name for name in on_disk if name not in listed], folds,
                         {entry.id for entry in entries}) if has_index else []
    for entry in entries + unlisted:
        recording.containers.append(_load_container(recording, entry, folds, listed=entry.folder in listed))
    return recording


def _check_directory(directory: Path) -> None:
    try:
        os.stat(directory)
    except FileNotFoundError:
        raise RecordingError(f"{show_path(directory)}: no such directory; give the directory that "
                             "'eunomia record' wrote") from None
    except OSError as exc:
        raise RecordingError(f"{show_path(directory)}: {exc.strerror}; give the directory that "
                             "'eunomia record' wrote") from None
    if not directory.is_dir():
        raise RecordingError(f"{show_path(directory)} is not a directory; give the recording directory "
                             f"(the one holding {INDEX}), not a file in it")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError as exc:
        raise RecordingError(f"cannot read {show_path(path)}: {exc.strerror}; check the path and its "
                             "permissions") from None


def _event_folders(directory: Path) -> list[str]:
    """The folders (not symbolic links) of the directory that hold an events.jsonl."""
    try:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if len(e.name) <= NAME_MAX and FOLDER.fullmatch(e.name)
                           and not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    found = []
    for name in names:
        try:
            if (directory / name / EVENTS).is_file():
                found.append(name)
        except OSError:
            continue
    return found


def _fold(directory: Path, name: str, folds: dict[str, Folded | None]) -> Folded | None:
    if name not in folds:
        folds[name] = fold_folder(directory / name)
    return folds[name]


def _entries(index_path: Path, doc: dict[str, Any]) -> list[IndexEntry]:
    entries, seen = [], set()
    for i, raw in enumerate(doc["containers"]):
        entry = IndexEntry.of(raw)
        if entry.folder in (".", "..") or entry.folder in seen:
            raise RecordingError(f"{show_path(index_path)}: invalid at /containers/{i}/folder: "
                                 f"{clip(repr(entry.folder))} is not a container folder of its own; "
                                 "the index is damaged, record again")
        seen.add(entry.folder)
        entries.append(entry)
    return entries


def _unlisted(directory: Path, names: list[str], folds: dict[str, Folded | None], ids: set[str]) -> list[IndexEntry]:
    """Folders the index does not list yet (made after its last checkpoint)."""
    entries = []
    for name in names:
        folded = _fold(directory, name, folds)
        if folded is None or folded.events == 0 or folded.container_id in ids:
            continue  # nothing to show, or the folder of a listed container (renamed meanwhile)
        ids.add(folded.container_id)
        entries.append(IndexEntry(id=folded.container_id, name=folded.text("name"), image=folded.text("image"),
                                  folder=name, events=folded.events, unwritten=0))
    return entries


def _load_container(recording: Recording, entry: IndexEntry, folds: dict[str, Folded | None],
                    *, listed: bool) -> ContainerRecording:
    folder = recording.path / entry.folder
    path = folder / REPORT
    who = f"container {clip(entry.name or entry.id[:12])}"
    warnings = recording.warnings
    if _is_file(path):
        report = Report.of(read_document(path, "report"))
        if not report.complete:
            _warn(warnings, f"{who}: {REPORT} is a checkpoint (complete=false): the last events may be missing")
        if report.container.id != entry.id:
            _warn(warnings, f"{who}: {REPORT} is about container {clip(report.container.id[:12])}, "
                            f"not {clip(entry.id[:12])} as index.json says")
        return ContainerRecording(entry=entry, report=report, path=folder)
    folded = _fold(recording.path, entry.folder, folds) if entry.folder in folds or _is_file(folder / EVENTS) \
        else None
    if folded is None or folded.events == 0:
        why = "its folder is missing" if not folder.is_dir() else f"it has no {REPORT}"
        _warn(warnings, f"{who}: {why} (the recorder was killed before writing it?); "
                        "only the counts of index.json are shown")
        return ContainerRecording(entry=entry, report=None, path=folder)
    try:
        doc = rebuilt_report(folded, recording.window[0], entry.unwritten, recording.stats.lost)
        _check_values(folder / EVENTS, doc)
        _validate(folder / EVENTS, doc, "report")
    except RecordingError as exc:
        _warn(warnings, f"{who}: it has no {REPORT}, and its {EVENTS} does not fold into one ({exc}); "
                        "only the counts of index.json are shown")
        return ContainerRecording(entry=entry, report=None, path=folder)
    skipped = f", {folded.skipped} lines of its {EVENTS} could not be read" if folded.skipped else ""
    where = "" if listed else f"not in {INDEX} (it appeared after the last checkpoint?); "
    _warn(warnings, f"{who}: {where}rebuilt from its {EVENTS} ({folded.events} events{skipped}): {REPORT} was "
                    "never written (the recorder was killed before its first checkpoint?); the kernel's totals "
                    "(syscalls, capabilities, bytes read and written) are not in it")
    return ContainerRecording(entry=entry, report=Report.of(doc), path=folder, rebuilt=True)


def _warn(warnings: list[str], text: str) -> None:
    warnings.append(one_line(text))


# -- one document ----------------------------------------------------------------------------------

def read_document(path: Path, schema: str) -> dict[str, Any]:
    """index.json or a report.json, parsed and validated; RecordingError when it is not one."""
    try:
        data = read_bounded(path)
    except OSError as exc:
        fix = {errno.ELOOP: "it is a symbolic link; a recording's files are regular files",
               errno.EINVAL: "a recording's files are regular files",
               errno.EFBIG: "no report of a recording is that large: the file is damaged"}.get(
                   exc.errno or 0, "check its permissions")
        raise RecordingError(f"cannot read {show_path(path)}: {exc.strerror}; {fix}") from None
    doc = _parse(path, data)
    if not isinstance(doc, dict):
        raise RecordingError(f"{show_path(path)}: invalid at the top: a JSON object is expected; "
                             "give a directory written by 'eunomia record'")
    _check_values(path, doc)
    _check_version(path, doc)
    _validate(path, doc, schema)
    return doc


def _parse(path: Path, data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    # valid JSON that orjson refuses: a BOM, UTF-16/32, a lone surrogate escape ("\udcff"),
    # integers over 64 bits (those of more than 24 digits become infinite: out of range)
    try:
        return json.loads(data, parse_int=_parse_int)
    except RecursionError:
        raise RecordingError(f"{show_path(path)} is nested too deeply to be part of a recording; "
                             "the file is damaged, record again") from None
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{show_path(path)} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                             f"{clip(exc.msg)}); the file is damaged, record again") from None
    except ValueError:  # UnicodeDecodeError
        raise RecordingError(f"{show_path(path)} is not JSON text (UTF-8, UTF-16 or UTF-32); "
                             "the file is damaged, record again") from None


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= 24 else math.inf


def _check_values(path: Path, doc: Any) -> None:
    """Numbers fit in 64 bits and are finite, nesting is shallow; integral floats become ints
    (the schemas' "integer" means a Python int downstream)."""
    stack: list[tuple[Any, int, Any]] = [(doc, 0, None)]
    while stack:
        node, depth, where = stack.pop()
        if depth >= MAX_DEPTH:
            raise RecordingError(f"{show_path(path)}: invalid at {_pointer(where)}: nested more than "
                                 f"{MAX_DEPTH} deep; the file is damaged, record again")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, (dict, list)):
                stack.append((value, depth + 1, (key, where)))
            elif isinstance(value, float):
                if not (math.isfinite(value) and (not value.is_integer() or INT_MIN <= value <= INT_MAX)):
                    _out_of_range(path, (key, where))
                if value.is_integer():
                    node[key] = int(value)
            elif isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
                _out_of_range(path, (key, where))


def _out_of_range(path: Path, where: Any) -> None:
    raise RecordingError(f"{show_path(path)}: invalid at {_pointer(where)}: a number out of range (a recording "
                         "holds integers of at most 64 bits, no NaN or infinity); the file is damaged, record again")


def _pointer(where: Any) -> str:
    parts: list[str] = []
    while where is not None:
        key, where = where
        parts.append(str(key))
    return _pointer_of(reversed(parts))


def _pointer_of(parts: Iterable[Any]) -> str:
    """RFC 6901 pointer ("/" for the document itself), each part and the whole cut for a message."""
    escaped = [clip(str(p).replace("~", "~0").replace("/", "~1"), 40) for p in parts]
    text = "/" + "/".join(escaped) if escaped else "/"
    return text if len(text) <= 200 else text[:99] + "…" + text[-100:]


def _check_version(path: Path, doc: dict[str, Any]) -> None:
    version = doc.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise RecordingError(f"{show_path(path)} has schema version {version}, this eunomia reads version "
                             f"{SCHEMA_VERSION}: render it with a newer eunomia")


def _validate(path: Path, doc: dict[str, Any], schema: str) -> None:
    from jsonschema.exceptions import best_match

    error = best_match(validator(schema).iter_errors(doc)) or best_match(_extra_validator(schema).iter_errors(doc))
    if error is not None:
        raise RecordingError(f"{show_path(path)}: invalid at {json_pointer(error)}: {_detail(error)}; "
                             f"it does not follow the {schema} schema — record again, or repair the file")


def json_pointer(error: ValidationError) -> str:
    """RFC 6901 pointer to the failing value ("/" for the document itself)."""
    return _pointer_of(error.absolute_path)


def _detail(error: ValidationError) -> str:
    return clip(error.message, MAX_DETAIL)


def select_containers(recording: Recording, selectors: Iterable[str]) -> list[ContainerRecording]:
    """The containers named by -c (name, folder, full id or id prefix); all when none is given."""
    selectors = list(selectors)
    if not selectors:
        return list(recording.containers)
    chosen: list[ContainerRecording] = []
    for sel in selectors:
        matches = [c for c in recording.containers if sel in (c.name, c.entry.folder, c.id)]
        if not matches:
            matches = [c for c in recording.containers if c.id.startswith(sel)] if len(sel) >= 3 else []
        if not matches:
            known = ", ".join(clip(c.display_name, 40) for c in recording.containers[:10]) or "none"
            more = f" and {len(recording.containers) - 10} more" if len(recording.containers) > 10 else ""
            raise RecordingError(f"no container {clip(repr(sel))} in this recording (it holds: {known}{more}); "
                                 "give a name, folder or id prefix of one of them")
        if len(matches) > 1:
            raise RecordingError(f"{clip(repr(sel))} matches {len(matches)} containers; "
                                 "give more digits of the id, or the name")
        if all(matches[0] is not c for c in chosen):
            chosen.append(matches[0])
    return chosen
