"""Record decoders built from BTF at load time.

A tracker's events are C structs; this module turns their BTF description
into a ``struct.Struct`` per event type and decodes ring-buffer records into
dicts keyed by member name (nested structs flattened with dots, e.g.
``task.pid``).  Variable-length members live in a trailing ``char tail[]``
and are referenced by ``eun_*_ref`` {off, len} fields, decoded here by the
typedef they were declared with.  Nothing about a layout is written twice.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from .btf import Btf, Kind

TAIL_MEMBER = "tail"
REF_ABSENT = 0xFFFF  # eun_tail_ref.off when the value does not exist
EVENT_ENUM_PREFIX = "EUN_EV_"

_INT_CODES = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h",
              (4, False): "I", (4, True): "i", (8, False): "Q", (8, True): "q"}


class LayoutError(ValueError):
    """A struct uses something the decoder does not support (e.g. bitfields)."""


def _text(raw: bytes) -> str:
    # Container data is hostile: keep invalid UTF-8 visible, never fail.
    return raw.decode("utf-8", "backslashreplace")


def decode_path(raw: bytes) -> str:
    """Components written leaf first, each NUL-terminated → absolute path.

    Decoded once, joined: a "/" between components can never complete a
    multi-byte sequence, so this is the same as decoding each component."""
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    parts.reverse()
    return "/" + _text(b"/".join(parts))


def decode_argv(raw: bytes) -> list[str]:
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [_text(p) for p in parts]


_STRINGS: dict[bytes, str] = {}


def decode_str(raw: bytes) -> str:
    """A NUL-terminated char array (a comm, a short name).  Such arrays repeat
    across events, so the text is kept per raw value (bounded)."""
    text = _STRINGS.get(raw)
    if text is None:
        if len(_STRINGS) >= 8192:
            _STRINGS.clear()
        text = _STRINGS[raw] = _text(raw.split(b"\0", 1)[0])
    return text


def decode_text(raw: bytes) -> str:
    """A string of the record's tail (a path as passed, a command): not kept,
    since such strings are as often unique (a storm of new paths would only
    churn decode_str's cache, and with it the comms')."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")  # as _text


REF_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "eun_path_ref": decode_path,
    "eun_argv_ref": decode_argv,
    "eun_str_ref": decode_text,
}


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    size: int
    code: str               # struct format code, e.g. "I" or "16s"
    semantic: str | None    # typedef the member was declared with
    is_text: bool = False   # char array holding a NUL-terminated string
    enum_names: dict[int, str] | None = None  # enum-typed: value → short name


@dataclass
class RecordLayout:
    """The decoder of one C struct."""

    name: str
    size: int
    fields: list[Field]
    refs: list[tuple[str, str]]           # (ref name, typedef) decoded from the tail
    tail_offset: int | None
    _struct: struct.Struct = field(init=False, repr=False)
    _names: tuple[str, ...] = field(init=False, repr=False)
    _text_idx: tuple[int, ...] = field(init=False, repr=False)
    _enum_idx: tuple[tuple[int, dict[int, str]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        fmt, pos = ["<"], 0
        for f in self.fields:
            if f.offset > pos:
                fmt.append(f"{f.offset - pos}x")
            fmt.append(f.code)
            pos = f.offset + f.size
        self._struct = struct.Struct("".join(fmt))
        self._names = tuple(f.name for f in self.fields)
        self._text_idx = tuple(i for i, f in enumerate(self.fields) if f.is_text)
        self._enum_idx = tuple((i, f.enum_names) for i, f in enumerate(self.fields)
                               if f.enum_names is not None and f.name != "type")

    @property
    def fixed_size(self) -> int:
        return self._struct.size

    def semantic_of(self, name: str) -> str | None:
        for f in self.fields:
            if f.name == name:
                return f.semantic
        for ref, typedef in self.refs:
            if ref == name:
                return typedef
        return None

    def decode(self, buf: bytes | memoryview) -> dict[str, Any]:
        values = list(self._struct.unpack_from(buf, 0))
        for i in self._text_idx:
            values[i] = decode_str(values[i])
        for i, names in self._enum_idx:
            values[i] = names.get(values[i], values[i])
        record = dict(zip(self._names, values))
        if self.tail_offset is not None:
            tail = bytes(buf[self.tail_offset :])
            for ref, typedef in self.refs:
                off = record.pop(ref + ".off")
                length = record.pop(ref + ".len")
                if off == REF_ABSENT:
                    record[ref] = None
                else:
                    record[ref] = REF_DECODERS[typedef](tail[off : off + length])
        return record


def struct_layout(btf: Btf, name: str) -> RecordLayout:
    t = btf.find(name, Kind.STRUCT)
    if t is None:
        raise LayoutError(f"struct {name} is not in the object's BTF")
    return struct_layout_of(btf, t.id)


def value_decoder(btf: Btf, type_id: int) -> Callable[[bytes], Any]:
    """Decoder of a map key or value of this BTF type: a struct becomes a
    dict (as event records), an integer or enum an int, anything else bytes."""
    t, _ = btf.resolve(type_id)
    if t.kind == Kind.STRUCT:
        return struct_layout_of(btf, t.id).decode
    if t.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64) and t.size in (1, 2, 4, 8):
        signed = t.int_signed if t.kind == Kind.INT else t.enum_signed
        codec = struct.Struct("<" + _INT_CODES[(t.size, signed)])
        return lambda raw: codec.unpack_from(raw)[0]
    return bytes


def struct_layout_of(btf: Btf, type_id: int) -> RecordLayout:
    t, _ = btf.resolve(type_id)
    name = t.name
    fields: list[Field] = []
    refs: list[tuple[str, str]] = []
    tail_offset = None
    _flatten(btf, t.id, "", 0, fields, refs)
    for f in fields:
        if f.name == TAIL_MEMBER:
            tail_offset = f.offset
    fields = [f for f in fields if f.name != TAIL_MEMBER]
    return RecordLayout(name, t.size, fields, refs, tail_offset)


def _flatten(btf: Btf, type_id: int, prefix: str, base: int,
             fields: list[Field], refs: list[tuple[str, str]]) -> None:
    t, _ = btf.resolve(type_id)
    for m in t.members:
        if m.bitfield_size:
            raise LayoutError(f"bitfield {prefix}{m.name} is not supported in events")
        name = prefix + m.name
        offset = base + m.bit_offset // 8
        mt, semantic = btf.resolve(m.type_id)
        if semantic in REF_DECODERS:
            refs.append((name, semantic))
        if mt.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.PTR):
            size = 8 if mt.kind == Kind.PTR else mt.size
            signed = mt.int_signed if mt.kind == Kind.INT else mt.enum_signed
            names = enum_short_names(mt.enum_values) if mt.kind in (Kind.ENUM, Kind.ENUM64) else None
            fields.append(Field(name, offset, size, _INT_CODES[(size, signed)], semantic, enum_names=names))
        elif mt.kind == Kind.ARRAY:
            elem, _ = btf.resolve(mt.elem_type)
            size = btf.size_of(m.type_id)
            is_char = elem.kind == Kind.INT and elem.size == 1
            fields.append(Field(name, offset, size, f"{size}s", semantic, is_text=is_char and name != TAIL_MEMBER))
        elif mt.kind in (Kind.STRUCT, Kind.UNION):
            if mt.kind == Kind.UNION:
                raise LayoutError(f"union {name} is not supported in events")
            _flatten(btf, m.type_id, name + ".", offset, fields, refs)
        else:
            raise LayoutError(f"member {name} has unsupported kind {mt.kind.name}")


def enum_short_names(values: tuple[tuple[str, int], ...]) -> dict[int, str]:
    """value → enumerator name without the enum's common prefix, lowercased
    (enum eun_file_op {EUN_FILE_OPEN, EUN_FILE_UNLINK} → "open", "unlink")."""
    names = [name for name, _ in values]
    if len(names) > 1:
        prefix = names[0]
        for name in names[1:]:
            while not name.startswith(prefix):
                prefix = prefix[:-1]
        prefix = prefix[: prefix.rfind("_") + 1]
    else:
        prefix = names[0][: names[0].rfind("_") + 1] if names else ""
    return {value: name[len(prefix):].lower() for name, value in values}


class RecordDecoder:
    """Decodes every event type of one object.

    Enumerator EUN_EV_<X> of enum eun_event_type is decoded with
    ``struct event_<x>``; records start with that enum.
    """

    def __init__(self, btf: Btf) -> None:
        self.layouts: dict[int, tuple[str, RecordLayout]] = {}
        for enumerator, value in btf.enums_with_prefix(EVENT_ENUM_PREFIX).items():
            kind = enumerator[len(EVENT_ENUM_PREFIX):].lower()
            if btf.find(f"event_{kind}", Kind.STRUCT) is not None:
                self.layouts[value] = (kind, struct_layout(btf, f"event_{kind}"))
        self._type = struct.Struct("<I")

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.layouts.values()]

    def decode(self, buf: bytes | memoryview) -> tuple[str, dict[str, Any]] | None:
        """(kind, fields) of one record; None for a type this object lacks."""
        (etype,) = self._type.unpack_from(buf, 0)
        entry = self.layouts.get(etype)
        if entry is None:
            return None
        kind, layout = entry
        return kind, layout.decode(buf)
