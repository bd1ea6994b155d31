"""What a session counted, carried over to the next one when the running
agent changes its trackers (Runner.retrack): the summary's counts and the
kernel maps' aggregates, so that counters only grow.

    summary = add_counts(before, now)                # numbers add up, mappings and lists merge
    records = merge_aggregates(carried, live)        # one record per (type, container, identity)
"""

from __future__ import annotations

from typing import Any, Iterable

import orjson

Record = dict[str, Any]


def add_counts(a: Any, b: Any) -> Any:
    """Numbers add up; mappings merge key by key; lists merge (_merge_lists); anything
    else is b's (a's when b has none)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) and bool(b)  # a flag holds only if it held in both (runtime_setup)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a + b
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = add_counts(out[key], value) if key in out else value
        return out
    if isinstance(a, list) and isinstance(b, list):
        return _merge_lists(a, b)
    return a if b is None else b


def _merge_lists(a: list[Any], b: list[Any]) -> list[Any]:
    """Lists of mappings: one item per identity (_item_key), counts added (a capability's
    checks by process, syscall and credentials); other lists: their union, in order
    (a capability's process names)."""
    if all(isinstance(item, dict) for item in (*a, *b)):
        merged: dict[bytes, Any] = {}
        for item in (*a, *b):
            key = _item_key(item)
            merged[key] = add_counts(merged[key], item) if key in merged else item
        return list(merged.values())
    try:
        return list(dict.fromkeys((*a, *b)))
    except TypeError:  # (unhashable items: lists of lists)
        return [*a, *(item for item in b if item not in a)]


def _item_key(item: Record) -> bytes:
    """A list item's identity: its values that are not counts."""
    return orjson.dumps({k: v for k, v in item.items() if isinstance(v, bool) or not isinstance(v, (int, float))},
                        option=orjson.OPT_SORT_KEYS, default=str)


# the mappings of a record that say what it is about; its other mappings are counts (syscalls, capabilities)
SUBJECTS = ("file", "destination", "source")


def _identity(record: Record) -> bytes:
    """What names the record's subject: its type, its container, its values that are not counts,
    and its subjects — a file by inode and device, not by path (a file the new session found
    already open has none)."""
    subject: Record = {k: v for k, v in record.items()
                       if k != "runtime_setup" and not isinstance(v, (dict, list))
                       and (isinstance(v, bool) or not isinstance(v, (int, float)))}
    for key in SUBJECTS:
        if isinstance(record.get(key), dict):
            subject[key] = {k: v for k, v in record[key].items() if not (key == "file" and k == "path")}
    subject["container"] = (record.get("container") or {}).get("id")
    return orjson.dumps(subject, option=orjson.OPT_SORT_KEYS, default=str)


def merge_aggregates(carried: Iterable[Record], live: Iterable[Record]) -> list[Record]:
    """The carried records with the live ones added to them (a record seen in only one is kept as is)."""
    merged: dict[bytes, Record] = {}
    for record in (*carried, *live):
        key = _identity(record)
        if key in merged:
            before = merged[key]
            combined = add_counts(before, record)
            for subject in ("container", *SUBJECTS):  # the newest metadata; a path where one is known
                if subject in record or subject in before:
                    combined[subject] = {**(before.get(subject) or {}), **{
                        k: v for k, v in (record.get(subject) or {}).items() if v is not None}}
            _runtime_setup(combined, before, record)
            merged[key] = combined
        else:
            merged[key] = record
    return list(merged.values())


def _runtime_setup(combined: Record, before: Record, after: Record) -> None:
    """Only the runtime's set-up opened the file: in every session that saw it opened."""
    flags = [bool(r.get("runtime_setup")) for r in (before, after) if r.get("opens", 1)]
    combined.pop("runtime_setup", None)
    if flags and all(flags):
        combined["runtime_setup"] = True


def forget_containers(records: list[Record], container_ids: set[str]) -> list[Record]:
    return [r for r in records if (r.get("container") or {}).get("id") not in container_ids]
