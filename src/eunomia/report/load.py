"""Reading a recording directory: index.json, then each container's report.json.

Both files are validated against the JSON Schemas shipped in
eunomia.recording.schema (Draft 2020-12).  A recording that is still being
written (complete=false) or whose recorder died before writing a container's
report.json still loads: what is missing becomes a warning, not an error.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ..sinks.escape import escape_text
from .model import ContainerRecording, IndexEntry, Recording, Report

INDEX = "index.json"
REPORT = "report.json"
SCHEMA_VERSION = 1
MAX_DETAIL = 160  # characters of a validation message kept in an error line


class RecordingError(Exception):
    """The directory cannot be read as a recording; the message names the fix."""


@functools.lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    """The validator of schema/<name>.schema.json ("index" or "report")."""
    text = resources.files("eunomia.recording.schema").joinpath(f"{name}.schema.json").read_text("utf-8")
    schema = orjson.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def load_recording(directory: Path) -> Recording:
    """The recording in `directory`, validated; RecordingError when it is not one."""
    if not directory.exists():
        raise RecordingError(f"{_show(directory)}: no such directory; give the directory that "
                             "'eunomia record' wrote")
    if not directory.is_dir():
        raise RecordingError(f"{_show(directory)} is not a directory; give the recording directory "
                             f"(the one holding {INDEX}), not a file in it")
    index_path = directory / INDEX
    if not index_path.is_file():
        raise RecordingError(f"{_show(directory)} is not a recording: it has no {INDEX} "
                             "(give the directory that 'eunomia record' wrote)")
    doc = _read_json(index_path)
    _check_version(index_path, doc)
    _validate(index_path, doc, "index")
    recording = Recording.of(directory, doc)
    if not recording.complete:
        recording.warnings.append(
            "the recording is not complete (complete=false in index.json): it is still being written, "
            "or the recorder was stopped abruptly; showing what was saved so far")
    if recording.stats.error:
        recording.warnings.append(f"the recorder stopped writing: {escape_text(recording.stats.error)}")
    seen: set[str] = set()
    for i, raw in enumerate(doc["containers"]):
        entry = IndexEntry.of(raw)
        if entry.folder in (".", "..") or entry.folder in seen:
            raise RecordingError(f"{_show(index_path)}: invalid at /containers/{i}/folder: "
                                 f"{escape_text(repr(entry.folder))} is not a container folder of its own; "
                                 "the index is damaged, record again")
        seen.add(entry.folder)
        recording.containers.append(_load_container(directory, entry, recording.warnings))
    return recording


def _load_container(directory: Path, entry: IndexEntry, warnings: list[str]) -> ContainerRecording:
    folder = directory / entry.folder
    path = folder / REPORT
    who = f"container {escape_text(entry.name or entry.id[:12])}"
    if not path.is_file():
        why = "its folder is missing" if not folder.is_dir() else f"it has no {REPORT}"
        warnings.append(f"{who}: {why} (the recorder was killed before writing it?); "
                        "only the counts of index.json are shown")
        return ContainerRecording(entry=entry, report=None, path=folder)
    doc = _read_json(path)
    _check_version(path, doc)
    _validate(path, doc, "report")
    report = Report.of(doc)
    if not report.complete:
        warnings.append(f"{who}: {REPORT} is a checkpoint (complete=false): the last events may be missing")
    if report.container.id != entry.id:
        warnings.append(f"{who}: {REPORT} is about container {escape_text(report.container.id[:12])}, "
                        f"not {escape_text(entry.id[:12])} as index.json says")
    return ContainerRecording(entry=entry, report=report, path=folder)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"cannot read {_show(path)}: {exc.strerror}; check its permissions") from None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:  # valid JSON that orjson refuses: a lone surrogate escape ("\udcff") in a string
            doc = json.loads(data)
        except ValueError:
            raise RecordingError(f"{_show(path)} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                 f"{escape_text(exc.msg)}); the file is damaged, record again") from None
    if not isinstance(doc, dict):
        raise RecordingError(f"{_show(path)}: invalid at the top: a JSON object is expected; "
                             "give a directory written by 'eunomia record'")
    return doc


def _check_version(path: Path, doc: dict[str, Any]) -> None:
    version = doc.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise RecordingError(f"{_show(path)} has schema version {version}, this eunomia reads version "
                             f"{SCHEMA_VERSION}: render it with a newer eunomia")


def _validate(path: Path, doc: dict[str, Any], schema: str) -> None:
    error = best_match(validator(schema).iter_errors(doc))
    if error is not None:
        raise RecordingError(f"{_show(path)}: invalid at {json_pointer(error)}: {_detail(error)}; "
                             f"it does not follow the {schema} schema — record again, or repair the file")


def json_pointer(error: ValidationError) -> str:
    """RFC 6901 pointer to the failing value ("/" for the document itself)."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    return "/" + "/".join(parts) if parts else "/"


def _detail(error: ValidationError) -> str:
    text = escape_text(error.message)
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "…"


def _show(path: Path) -> str:
    return escape_text(str(path))


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
            known = ", ".join(escape_text(c.display_name) for c in recording.containers[:10]) or "none"
            raise RecordingError(f"no container {escape_text(repr(sel))} in this recording "
                                 f"(it holds: {known}); give a name, folder or id prefix of one of them")
        if len(matches) > 1:
            raise RecordingError(f"{escape_text(repr(sel))} matches {len(matches)} containers; "
                                 "give more digits of the id, or the name")
        if all(matches[0] is not c for c in chosen):
            chosen.append(matches[0])
    return chosen
