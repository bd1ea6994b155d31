"""BPF objects: an opened spec to configure, then a live object to use.

    with ObjectSpec(path) as spec:          # opened, nothing in the kernel
        spec.set_knobs(filter_by_container=True)
        spec.programs["handle_fork"].autoload = False
        with spec.load() as obj:            # loaded: programs verified, maps created
            obj.attach_all()
            ...                             # leaving closes links, maps, programs
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Collection, Iterable, Iterator

from . import _libbpf
from ._libbpf import captured_messages, lib
from .btf import Btf, Kind
from .errors import BpfError, NotSupportedError, VerifierError, error_from_errno
from .layout import RecordDecoder, value_decoder
from .maps import LRU_TYPES, Map

_KNOB_CODES = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


def _iterate(first_arg: int, next_fn) -> Iterator[int]:
    item = next_fn(first_arg, None)
    while item:
        yield item
        item = next_fn(first_arg, item)


class ProgramSpec:
    """A program of an opened object: choose whether it loads."""

    def __init__(self, handle: int, obj_name: str) -> None:
        self._h = handle
        self.obj_name = obj_name
        self.name = lib().bpf_program__name(handle).decode()
        self.section = lib().bpf_program__section_name(handle).decode()

    @property
    def autoload(self) -> bool:
        return bool(lib().bpf_program__autoload(self._h))

    @autoload.setter
    def autoload(self, value: bool) -> None:
        err = lib().bpf_program__set_autoload(self._h, value)
        if err:
            raise error_from_errno("cannot change autoload", err, obj=self.obj_name, program=self.name)

    def __repr__(self) -> str:
        return f"<ProgramSpec {self.name} {self.section}>"


class MapSpec:
    """A map of an opened object: size it or share another map's fd."""

    def __init__(self, handle: int, obj_name: str) -> None:
        self._h = handle
        self.obj_name = obj_name
        self.name = lib().bpf_map__name(handle).decode()

    @property
    def max_entries(self) -> int:
        return int(lib().bpf_map__max_entries(self._h))

    @max_entries.setter
    def max_entries(self, value: int) -> None:
        err = lib().bpf_map__set_max_entries(self._h, value)
        if err:
            raise error_from_errno("cannot resize map", err, obj=self.obj_name, map=self.name)

    def reuse(self, live: Map) -> None:
        """Use an existing map (e.g. one shared by every tracker) instead of creating one."""
        err = lib().bpf_map__reuse_fd(self._h, live.fd)
        if err:
            raise error_from_errno("cannot reuse map", err, obj=self.obj_name, map=self.name)


class ObjectSpec:
    """An opened (not yet loaded) BPF object file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise BpfError(f"BPF object {self.path} not found; build it with 'make bpf'")
        handle = lib().bpf_object__open_file(str(self.path).encode(), None)
        if not handle:
            raise error_from_errno(f"cannot open {self.path}", _libbpf.errno(), obj=self.path.name)
        self._h: int | None = handle
        self.name = lib().bpf_object__name(handle).decode()
        self.btf = self._read_btf()
        self.programs = {p.name: p for p in (ProgramSpec(h, self.name) for h in
                                             _iterate(handle, lib().bpf_object__next_program))}
        self.maps = {m.name: m for m in (MapSpec(h, self.name) for h in
                                         _iterate(handle, lib().bpf_object__next_map))}
        self._loaded = False

    def _read_btf(self) -> Btf:
        btf = lib().bpf_object__btf(self._h)
        if not btf:
            raise BpfError("object has no BTF; compile with clang -g", obj=self.name)
        size = ctypes.c_uint32()
        data = lib().btf__raw_data(btf, ctypes.byref(size))
        if not data:
            raise BpfError("cannot read the object's BTF", obj=self.name)
        return Btf.from_bytes(ctypes.string_at(data, size.value))

    @property
    def handle(self) -> int:
        if self._h is None:
            raise BpfError("object is closed", obj=self.name)
        return self._h

    def share(self, maps: dict[str, Map]) -> None:
        """Use these live maps (by name) where the object has a map of that name."""
        for name, live in maps.items():
            if name in self.maps:
                self.maps[name].reuse(live)

    # -- knobs -------------------------------------------------------------
    def knob_names(self) -> list[str]:
        """The object's `const volatile` knobs (named targ_* or filter_*)."""
        return [name for name in self.btf.section_variables(".rodata") if name.startswith(("targ_", "filter_"))]

    def set_knobs(self, **values: int | bool | bytes) -> None:
        """Set ``const volatile`` globals (targ_*, filter_*) before load.
        An array knob takes bytes of exactly its size (packed by the caller)."""
        if self._loaded:
            raise BpfError("knobs can only be set before load", obj=self.name)
        variables = self.btf.section_variables(".rodata")
        rodata = next((m for m in self.maps.values() if m.name.endswith(".rodata")), None)
        knobs = self.knob_names()
        for knob, value in values.items():
            if knob not in knobs or rodata is None:
                raise BpfError(f"object has no knob {knob!r}", obj=self.name)
            _type_id, offset, size = variables[knob]
            base_size = ctypes.c_size_t()
            base = lib().bpf_map__initial_value(rodata._h, ctypes.byref(base_size))
            if not base or offset + size > base_size.value:
                raise BpfError(f"cannot set knob {knob!r}", obj=self.name)
            if isinstance(value, bytes):
                if len(value) != size:
                    raise BpfError(f"knob {knob!r} takes {size} bytes, not {len(value)}", obj=self.name)
                packed = value
            else:
                packed = struct.pack(_KNOB_CODES[size], int(value))
            ctypes.memmove(base + offset, packed, size)

    # -- load --------------------------------------------------------------
    def load(self) -> "Object":
        if self._loaded:
            raise BpfError("object is already loaded", obj=self.name)
        with captured_messages(quiet=True) as messages:
            err = lib().bpf_object__load(self.handle)
        if err:
            raise self._load_error(err, messages)
        self._loaded = True
        return Object(self)

    def _load_error(self, err: int, messages: list[str]) -> BpfError:
        text = "".join(messages)
        program = None
        for line in messages:
            if "prog '" in line and "failed to load" in line:
                program = line.split("prog '", 1)[1].split("'", 1)[0]
        if "BEGIN PROG LOAD LOG" in text:
            verifier_log = text.split("-- BEGIN PROG LOAD LOG --", 1)[1].split("-- END PROG LOAD LOG --", 1)[0]
            return VerifierError("the verifier rejected a program", verifier_log.strip(),
                                 errno=err, obj=self.name, program=program)
        if abs(err) in (errno_mod.EPERM, errno_mod.EACCES):
            if os.geteuid() != 0:
                return error_from_errno("not allowed to load BPF programs (needs root or CAP_BPF+CAP_PERFMON)",
                                        err, obj=self.name)
            return BpfError("the kernel refused the program (hook disabled or locked down)",
                            errno=err, obj=self.name, program=program)
        last = messages[-1].strip() if messages else ""
        return error_from_errno(f"cannot load ({last})" if last else "cannot load", err,
                                obj=self.name, program=program)

    def close(self) -> None:
        if self._h is not None:
            lib().bpf_object__close(self._h)
            self._h = None

    def __enter__(self) -> "ObjectSpec":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._loaded:
            self.close()


class Link:
    """An attachment of a program; destroying it detaches."""

    def __init__(self, handle: int, program: str) -> None:
        self._h: int | None = handle
        self.program = program

    def destroy(self) -> None:
        if self._h is not None:
            lib().bpf_link__destroy(self._h)
            self._h = None


def destroy_links(links: Iterable[Link]) -> None:
    """Detach many links at once.

    Detaching waits for the kernel: a perf-event tracepoint's release waits
    for an RCU grace period (tracepoint_synchronize_unregister), about 50 ms
    each on this kernel, so 50 links one by one take seconds.  Waited for
    together, from threads (ctypes releases the GIL during the call), the
    waits overlap and cost about one grace period."""
    alive = [link for link in links if link._h is not None]
    if len(alive) <= 1:
        for link in alive:
            link.destroy()
        return
    with ThreadPoolExecutor(max_workers=min(64, len(alive)), thread_name_prefix="detach") as pool:
        for future in [pool.submit(link.destroy) for link in alive]:
            future.result()


class Program:
    """A loaded program."""

    def __init__(self, spec: ProgramSpec) -> None:
        self._h = spec._h
        self.name = spec.name
        self.section = spec.section
        self.obj_name = spec.obj_name
        self.loaded = spec.autoload

    @property
    def fd(self) -> int:
        return int(lib().bpf_program__fd(self._h))

    def _link(self, handle: int, what: str) -> Link:
        if not handle:
            err = _libbpf.errno()
            if err in (errno_mod.ENOENT, errno_mod.EOPNOTSUPP, errno_mod.ENOTSUP):
                raise NotSupportedError(what, f"cannot attach {self.section}: {what} not available",
                                        errno=err, obj=self.obj_name, program=self.name)
            raise error_from_errno(f"cannot attach {self.section}", err, obj=self.obj_name, program=self.name)
        return Link(handle, self.name)

    def attach(self) -> Link:
        """Attach where the SEC() name says (tracepoint/…, raw_tp/…, …)."""
        return self._link(lib().bpf_program__attach(self._h), self.section)

    def attach_tracepoint(self, category: str, name: str) -> Link:
        return self._link(lib().bpf_program__attach_tracepoint(self._h, category.encode(), name.encode()),
                          f"tracepoint {category}:{name}")

    def attach_raw_tracepoint(self, name: str) -> Link:
        return self._link(lib().bpf_program__attach_raw_tracepoint(self._h, name.encode()),
                          f"raw tracepoint {name}")

    def attach_uprobe(self, binary: str, offset: int = 0, *, pid: int = -1,
                      retprobe: bool = False, function: str | None = None) -> Link:
        opts = _libbpf.BpfUprobeOpts(sz=ctypes.sizeof(_libbpf.BpfUprobeOpts), retprobe=retprobe,
                                     func_name=function.encode() if function else None)
        return self._link(lib().bpf_program__attach_uprobe_opts(self._h, pid, binary.encode(), offset,
                                                                 ctypes.byref(opts)), f"uprobe {binary}")

    def attach_perf_event(self, perf_fd: int) -> Link:
        return self._link(lib().bpf_program__attach_perf_event(self._h, perf_fd), "perf event")


def _starts_with_cgroup_id(btf: Btf, key_id: int) -> bool:
    """Is a map's key a cgroup id (an eun_cgroup_id, or a struct whose first
    member is one): per-container data, dropped when the container is forgotten?"""
    t, semantic = btf.resolve(key_id)
    if semantic == "eun_cgroup_id":
        return True
    if t.kind != Kind.STRUCT or not t.members:
        return False
    first = t.members[0]
    return first.bit_offset == 0 and btf.resolve(first.type_id)[1] == "eun_cgroup_id"


class Object:
    """A loaded object: live programs and maps; a context manager."""

    def __init__(self, spec: ObjectSpec) -> None:
        self._spec = spec
        self.name = spec.name
        self.btf = spec.btf
        self.programs = {name: Program(p) for name, p in spec.programs.items()}
        self.maps = {name: Map.from_libbpf(m._h, self.name) for name, m in spec.maps.items()
                     if not name.startswith(".") and "." not in name}
        for name, live in self.maps.items():
            key_id = lib().bpf_map__btf_key_type_id(spec.maps[name]._h)
            value_id = lib().bpf_map__btf_value_type_id(spec.maps[name]._h)
            if key_id and value_id:
                live.btf_key = value_decoder(self.btf, key_id)
                live.btf_value = value_decoder(self.btf, value_id)
                # (LRU maps age out by themselves, and walking one that evicts restarts the walk)
                live.keyed_by_cgroup = live.type not in LRU_TYPES and _starts_with_cgroup_id(self.btf, key_id)
        self.links: list[Link] = []
        self.decoder = RecordDecoder(self.btf)

    def attach_all(self, skip: Collection[str] = ()) -> list[Link]:
        """Attach every loaded program by its section name, but those in
        `skip` (e.g. programs only ever tail-called)."""
        for program in self.programs.values():
            if program.loaded and program.name not in skip:
                self.links.append(program.attach())
        return self.links

    def enum(self, name: str) -> dict[str, int]:
        return self.btf.enum(name)

    def has_struct(self, name: str) -> bool:
        return self.btf.find(name, Kind.STRUCT) is not None

    def close(self) -> None:
        destroy_links(self.links)
        self.links.clear()
        self._spec.close()

    def __enter__(self) -> "Object":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
