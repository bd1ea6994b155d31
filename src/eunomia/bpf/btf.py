"""A reader for BTF, the kernel's type format, in pure Python.

Event layouts are defined once, in C; clang records them as BTF in the
object file.  This module reads that BTF (raw bytes, as libbpf's
btf__raw_data() returns them or as /sys/kernel/btf/vmlinux holds them) and
answers what the decoder needs: the members of a struct with their offsets,
sizes and the typedef names they were declared with, and enum values.
Format reference: Documentation/bpf/btf.rst in the kernel tree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

BTF_MAGIC = 0xEB9F


class Kind(IntEnum):
    VOID = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


MODIFIERS = {Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG}
INT_SIGNED = 1


class BtfFormatError(ValueError):
    """The bytes are not BTF this reader understands."""


@dataclass(frozen=True)
class Member:
    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int


@dataclass
class BtfType:
    id: int
    kind: Kind
    name: str
    size: int = 0          # INT, STRUCT, UNION, ENUM, FLOAT, DATASEC
    ref: int = 0           # PTR, TYPEDEF, modifiers, VAR, FUNC
    int_signed: bool = False
    int_bits: int = 0
    elem_type: int = 0     # ARRAY
    nelems: int = 0        # ARRAY
    members: tuple[Member, ...] = ()
    enum_values: tuple[tuple[str, int], ...] = ()
    enum_signed: bool = False
    section_vars: tuple[tuple[int, int, int], ...] = ()  # DATASEC: (var type id, offset, size)


class Btf:
    """Types of one BTF blob, by id and by name."""

    def __init__(self, types: list[BtfType]) -> None:
        self.types = types  # index = type id; types[0] is void
        self._by_name: dict[tuple[str, Kind], int] = {}
        for t in types:
            if t.name:
                self._by_name.setdefault((t.name, t.kind), t.id)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Btf":
        if len(data) < 24:
            raise BtfFormatError("BTF blob too short")
        magic, version, _flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
        endian = "<"
        if magic != BTF_MAGIC:
            magic, version, _flags, hdr_len = struct.unpack_from(">HBBI", data, 0)
            endian = ">"
            if magic != BTF_MAGIC:
                raise BtfFormatError(f"bad BTF magic {magic:#x}")
        type_off, type_len, str_off, str_len = struct.unpack_from(endian + "IIII", data, 8)
        strings = data[hdr_len + str_off : hdr_len + str_off + str_len]
        try:
            types = _parse_types(data[hdr_len + type_off : hdr_len + type_off + type_len], strings, endian)
        except (struct.error, ValueError, UnicodeDecodeError) as exc:
            raise BtfFormatError(f"malformed BTF type section: {exc}") from exc
        return cls(types)

    def __getitem__(self, type_id: int) -> BtfType:
        return self.types[type_id]

    def find(self, name: str, kind: Kind) -> BtfType | None:
        tid = self._by_name.get((name, kind))
        return self.types[tid] if tid is not None else None

    def strip_modifiers(self, type_id: int) -> BtfType:
        t = self.types[type_id]
        while t.kind in MODIFIERS:
            t = self.types[t.ref]
        return t

    def resolve(self, type_id: int) -> tuple[BtfType, str | None]:
        """Follow modifiers and typedefs to the underlying type.

        Returns the type and the outermost typedef name met on the way, which
        is the name a field was declared with (its meaning, e.g. eun_errno).
        """
        semantic = None
        t = self.types[type_id]
        while t.kind in MODIFIERS or t.kind == Kind.TYPEDEF:
            if t.kind == Kind.TYPEDEF and semantic is None:
                semantic = t.name
            t = self.types[t.ref]
        return t, semantic

    def size_of(self, type_id: int) -> int:
        t, _ = self.resolve(type_id)
        if t.kind == Kind.ARRAY:
            return t.nelems * self.size_of(t.elem_type)
        if t.kind == Kind.PTR:
            return 8
        return t.size

    def enum(self, name: str) -> dict[str, int]:
        t = self.find(name, Kind.ENUM) or self.find(name, Kind.ENUM64)
        if t is None:
            raise KeyError(f"enum {name} not in BTF")
        return dict(t.enum_values)

    def section_variables(self, section: str) -> dict[str, tuple[int, int, int]]:
        """Variables of a data section (e.g. ".rodata"): name → (type id, offset, size)."""
        sec = self.find(section, Kind.DATASEC)
        if sec is None:
            return {}
        return {self.types[var].name: (self.types[var].ref, off, size) for var, off, size in sec.section_vars}

    def enums_with_prefix(self, prefix: str) -> dict[str, int]:
        """All enumerators, of any enum, whose name starts with prefix."""
        found: dict[str, int] = {}
        for t in self.types:
            if t.kind in (Kind.ENUM, Kind.ENUM64):
                found.update((k, v) for k, v in t.enum_values if k.startswith(prefix))
        return found


def _parse_types(data: bytes, strings: bytes, e: str) -> list[BtfType]:
    def name_at(off: int) -> str:
        end = strings.find(b"\0", off)
        return strings[off:end].decode()

    u32x3 = struct.Struct(e + "III")
    types: list[BtfType] = [BtfType(0, Kind.VOID, "void")]
    pos = 0
    while pos < len(data):
        name_off, info, size_or_type = u32x3.unpack_from(data, pos)
        pos += 12
        kind = Kind((info >> 24) & 0x1F)
        vlen = info & 0xFFFF
        kind_flag = bool(info >> 31)
        t = BtfType(len(types), kind, name_at(name_off))
        if kind in (Kind.INT,):
            (enc,) = struct.unpack_from(e + "I", data, pos)
            pos += 4
            t.size = size_or_type
            t.int_signed = bool((enc >> 24) & INT_SIGNED)
            t.int_bits = enc & 0xFF
        elif kind == Kind.ARRAY:
            t.elem_type, _index, t.nelems = u32x3.unpack_from(data, pos)
            pos += 12
        elif kind in (Kind.STRUCT, Kind.UNION):
            t.size = size_or_type
            members = []
            for _ in range(vlen):
                m_name, m_type, m_off = u32x3.unpack_from(data, pos)
                pos += 12
                bits = m_off >> 24 if kind_flag else 0
                members.append(Member(name_at(m_name), m_type, m_off & 0xFFFFFF if kind_flag else m_off, bits))
            t.members = tuple(members)
        elif kind == Kind.ENUM:
            t.size = size_or_type
            t.enum_signed = kind_flag
            values = []
            for _ in range(vlen):
                v_name, v_val = struct.unpack_from(e + "Ii" if kind_flag else e + "II", data, pos)
                pos += 8
                values.append((name_at(v_name), v_val))
            t.enum_values = tuple(values)
        elif kind == Kind.ENUM64:
            t.size = size_or_type
            values = []
            for _ in range(vlen):
                v_name, lo, hi = u32x3.unpack_from(data, pos)
                pos += 12
                values.append((name_at(v_name), (hi << 32) | lo))
            t.enum_values = tuple(values)
        elif kind == Kind.FUNC_PROTO:
            t.ref = size_or_type
            pos += 8 * vlen
        elif kind == Kind.VAR:
            t.ref = size_or_type
            pos += 4
        elif kind == Kind.DATASEC:
            t.size = size_or_type
            t.section_vars = tuple(u32x3.unpack_from(data, pos + 12 * i) for i in range(vlen))
            pos += 12 * vlen
        elif kind == Kind.DECL_TAG:
            t.ref = size_or_type
            pos += 4
        elif kind == Kind.FLOAT:
            t.size = size_or_type
        else:  # PTR, FWD, TYPEDEF, modifiers, FUNC, TYPE_TAG
            t.ref = size_or_type
        types.append(t)
    return types
