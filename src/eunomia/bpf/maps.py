"""BPF maps as Python mappings.

Keys and values are bytes unless a codec (a ``struct.Struct``) is given, in
which case single-field structs read and write plain values.  Per-CPU maps
return one value per possible CPU.  Iteration uses the kernel's batch
lookup where it has one and falls back to get_next_key.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import struct
from collections.abc import MutableMapping
from typing import Any, Callable, Iterator

from . import _libbpf
from ._libbpf import lib
from .errors import error_from_errno

# enum bpf_map_type values used here
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_RINGBUF = 27
PERCPU_TYPES = {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH}
BATCH_TYPES = {BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_HASH,
               BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY}
BPF_ANY = 0
LRU_TYPES = {BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH}
HASH_TYPES = {BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH} | LRU_TYPES


class Map(MutableMapping):
    """A live map, addressed by fd."""

    def __init__(self, fd: int, name: str, map_type: int, key_size: int, value_size: int,
                 max_entries: int, obj_name: str | None = None,
                 key: struct.Struct | None = None, value: struct.Struct | None = None) -> None:
        self.fd = fd
        self.name = name
        self.type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.obj_name = obj_name
        self.key_codec = key
        self.value_codec = value
        self.percpu = map_type in PERCPU_TYPES
        self.ncpus = _libbpf.num_possible_cpus() if self.percpu else 1
        # per-CPU values are laid out at 8-byte strides
        self._stride = (value_size + 7) // 8 * 8 if self.percpu else value_size
        self._batch_ok = map_type in BATCH_TYPES
        self.btf_key: Callable[[bytes], Any] | None = None    # set by Object from the BTF
        self.btf_value: Callable[[bytes], Any] | None = None
        self.keyed_by_cgroup = False  # the key starts with an eun_cgroup_id (set by Object)

    @classmethod
    def from_libbpf(cls, handle: int, obj_name: str) -> "Map":
        l = lib()
        return cls(int(l.bpf_map__fd(handle)), l.bpf_map__name(handle).decode(), int(l.bpf_map__type(handle)),
                   int(l.bpf_map__key_size(handle)), int(l.bpf_map__value_size(handle)),
                   int(l.bpf_map__max_entries(handle)), obj_name)

    def typed(self, key: str | struct.Struct | None, value: str | struct.Struct | None) -> "Map":
        """The same map with struct codecs for keys and values (e.g. "<Q", "<B")."""
        as_struct = lambda c: struct.Struct(c) if isinstance(c, str) else c  # noqa: E731
        return Map(self.fd, self.name, self.type, self.key_size, self.value_size, self.max_entries,
                   self.obj_name, as_struct(key), as_struct(value))

    # -- codecs ------------------------------------------------------------
    def _pack(self, codec: struct.Struct | None, item: Any, size: int) -> ctypes.Array:
        raw = item if codec is None else (codec.pack(*item) if isinstance(item, tuple) else codec.pack(item))
        if len(raw) != size:
            raise ValueError(f"map {self.name}: expected {size} bytes, got {len(raw)}")
        return ctypes.create_string_buffer(raw, size)

    def _unpack(self, codec: struct.Struct | None, raw: bytes) -> Any:
        if codec is None:
            return raw
        values = codec.unpack(raw)
        return values[0] if len(values) == 1 else values

    def _unpack_value(self, raw: bytes) -> Any:
        if not self.percpu:
            return self._unpack(self.value_codec, raw[: self.value_size])
        return [self._unpack(self.value_codec, raw[i * self._stride : i * self._stride + self.value_size])
                for i in range(self.ncpus)]

    def _error(self, what: str, err: int) -> Exception:
        return error_from_errno(f"map {what} failed", err, obj=self.obj_name, map=self.name)

    # -- mapping -----------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        k = self._pack(self.key_codec, key, self.key_size)
        v = ctypes.create_string_buffer(self._stride * self.ncpus)
        err = lib().bpf_map_lookup_elem(self.fd, k, v)
        if err:
            if _libbpf.errno() == errno_mod.ENOENT:
                raise KeyError(key)
            raise self._error("lookup", _libbpf.errno())
        return self._unpack_value(v.raw)

    def __setitem__(self, key: Any, value: Any) -> None:
        k = self._pack(self.key_codec, key, self.key_size)
        if self.percpu:
            values = value if isinstance(value, list) else [value] * self.ncpus
            raw = b"".join(bytes(self._pack(self.value_codec, v, self.value_size).raw).ljust(self._stride, b"\0")
                           for v in values)
            v = ctypes.create_string_buffer(raw, len(raw))
        else:
            v = self._pack(self.value_codec, value, self.value_size)
        if lib().bpf_map_update_elem(self.fd, k, v, BPF_ANY):
            raise self._error("update", _libbpf.errno())

    def __delitem__(self, key: Any) -> None:
        k = self._pack(self.key_codec, key, self.key_size)
        if lib().bpf_map_delete_elem(self.fd, k):
            if _libbpf.errno() == errno_mod.ENOENT:
                raise KeyError(key)
            raise self._error("delete", _libbpf.errno())

    def _raw_keys(self) -> Iterator[bytes]:
        prev = None
        nxt = ctypes.create_string_buffer(self.key_size)
        while lib().bpf_map_get_next_key(self.fd, prev, nxt) == 0:
            yield nxt.raw
            prev = ctypes.create_string_buffer(nxt.raw, self.key_size)

    def count(self) -> int:
        """Entries now (a walk of the keys, at most max_entries steps: a walk of
        an LRU map that evicts meanwhile may restart)."""
        n = 0
        for n, _ in enumerate(self._raw_keys(), 1):
            if n >= self.max_entries:
                break
        return n

    def delete_cgroups(self, cgroup_ids: set[int]) -> int:
        """Delete every entry whose key starts with one of these cgroup ids
        (a map keyed_by_cgroup); returns how many went."""
        doomed = [raw for raw in list(self._raw_keys()) if int.from_bytes(raw[:8], "little") in cgroup_ids]
        for raw in doomed:
            lib().bpf_map_delete_elem(self.fd, ctypes.create_string_buffer(raw, self.key_size))
        return len(doomed)

    def __iter__(self) -> Iterator[Any]:
        for raw in list(self._raw_keys()):
            yield self._unpack(self.key_codec, raw)

    def __len__(self) -> int:
        return sum(1 for _ in self._raw_keys())

    def records(self) -> list[tuple[Any, Any]]:
        """All entries decoded with the map's BTF types (the C declaration is
        the only definition): struct keys/values as dicts, integers as ints,
        per-CPU values as a list with one entry per possible CPU."""
        if self.btf_key is None or self.btf_value is None:
            raise ValueError(f"map {self.name} has no BTF key/value types")
        raw = Map(self.fd, self.name, self.type, self.key_size, self.value_size, self.max_entries, self.obj_name)
        decode_key, decode_value = self.btf_key, self.btf_value
        return [(decode_key(k), [decode_value(v) for v in value] if self.percpu else decode_value(value))
                for k, value in raw.items_batch()]

    def items_batch(self) -> list[tuple[Any, Any]]:
        """All entries, fetched with BPF_MAP_LOOKUP_BATCH when the kernel has it."""
        if self._batch_ok:
            try:
                return self._lookup_batch()
            except _BatchUnsupported:
                self._batch_ok = False
        return [(k, v) for k, v in ((k, self.get(k)) for k in self) if v is not None]

    def _lookup_batch(self) -> list[tuple[Any, Any]]:
        chunk = max(1, min(self.max_entries, 4096))
        keys = ctypes.create_string_buffer(self.key_size * chunk)
        values = ctypes.create_string_buffer(self._stride * self.ncpus * chunk)
        in_batch, out_batch = None, ctypes.create_string_buffer(max(self.key_size, 8))
        opts = _libbpf.BpfMapBatchOpts(sz=ctypes.sizeof(_libbpf.BpfMapBatchOpts))
        result: list[tuple[Any, Any]] = []
        while True:
            count = ctypes.c_uint32(chunk)
            err = lib().bpf_map_lookup_batch(self.fd, in_batch, out_batch, keys, values,
                                             ctypes.byref(count), ctypes.byref(opts))
            code = _libbpf.errno() if err else 0
            if err and code in (errno_mod.EINVAL, errno_mod.ENOTSUP, errno_mod.EOPNOTSUPP) and not result:
                raise _BatchUnsupported()
            if err and code != errno_mod.ENOENT:
                raise self._error("batch lookup", code)
            vsize = self._stride * self.ncpus
            # one copy of each buffer per batch: `.raw` copies the whole buffer,
            # so taking it per entry was quadratic (4096 entries × 64 CPUs: seconds)
            key_bytes = ctypes.string_at(keys, count.value * self.key_size)
            value_bytes = ctypes.string_at(values, count.value * vsize)
            for i in range(count.value):
                key = key_bytes[i * self.key_size : (i + 1) * self.key_size]
                result.append((self._unpack(self.key_codec, key),
                               self._unpack_value(value_bytes[i * vsize : (i + 1) * vsize])))
            if err:  # ENOENT: that was the last batch
                return result
            in_batch = ctypes.create_string_buffer(out_batch.raw, len(out_batch))


class _BatchUnsupported(Exception):
    pass
