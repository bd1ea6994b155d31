"""Compiled emitters: one function per (tracker, event kind), made at load
time, that turns a ring-buffer record straight into its event.

The generic path decodes a record into a dict of dotted keys and then
places each field where the tracker says (enrich.py).  Here the layout is
known in advance, so the emitter unpacks the record into a tuple with the
layout's one precompiled struct.Struct and builds the event dict from
tuple positions, formatters bound as constants: no dict of dotted keys, no
per-field lookups of where a value goes.  It yields exactly the event the
generic path yields (tests/integration/test_emitters.py compares the two on
real records of every tracker).

Process lifecycle kinds (exec, fork, exit) also update the process table:
their emitter hands the handler the few record fields it reads.  Other
kinds take their `process` object from a cache keyed by the record's raw
task fields (pid, tid, comm, capabilities, parent), emptied whenever the
process table changes: one dict shared by the events of a process, which
no consumer changes (events are read, not edited, once emitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..bpf.layout import REF_ABSENT, REF_DECODERS, RecordLayout, decode_str
from ..context.model import container_fields, is_runtime_process
from .formats import cap_set

if TYPE_CHECKING:
    from ..trackers import Composer, TrackerDef

Event = dict[str, Any]
Emitter = Callable[[memoryview], "tuple[str, Event]"]
# (record field, parent keys, leaf key, formatter): where a field goes (enrich.FieldPlan)
Placement = tuple[str, tuple[str, ...], str, "Callable[[Any], Any] | None"]


@dataclass(frozen=True)
class EmitterContext:
    """What an emitter calls, bound once: the enricher's lookups and handlers."""

    container_of: Callable[[int, int, int], Any]        # (cgroup id, pid, mntns) → Container
    known_cgroups: Any                                  # cgroup id → named Container, or None
    processes_get: Callable[[int], Any]                 # pid → Process | None
    process_table: Any                                  # its `version` changes with its content
    process_blocks: dict[tuple[Any, ...], Event]        # raw task fields → `process` object (shared)
    process_blocks_seen: list[int]                      # [the table's version the blocks are of]
    rfc3339: Callable[[int], str]                       # boot-clock ns → RFC 3339 text
    add_known_process: Callable[[Event, int], None]     # what the process table knows of pid
    registry: Any                                       # handed to the tracker's post_enrich
    lifecycle_of: Callable[[str], Any]                  # kind → process-table handler, or None
    owner: Any                                          # the handler's first argument (the enricher)

FLAG_TRUNCATED, FLAG_PATH_PARTIAL = 1, 2  # enum eun_event_flags
PROCESS_BLOCKS_MAX = 2048  # cached `process` objects: emptied when full
# what the process table's lifecycle handlers read of a record (enrich.py)
LIFECYCLE_FIELDS = ("result", "child_pid", "task.pid", "task.ppid", "task.comm", "task.uid", "task.ts",
                    "task.cgroup_id", "tty", "exe_flags")


class _Source:
    """Python expressions for the record's fields, from the unpacked tuple `v`."""

    def __init__(self, layout: RecordLayout, namespace: dict[str, Any]) -> None:
        self.layout = layout
        self.namespace = namespace
        self.index = {f.name: i for i, f in enumerate(layout.fields)}
        self.fields = {f.name: f for f in layout.fields}
        self.refs = dict(layout.refs)

    def expr(self, name: str) -> str:
        """The decoded value of a plain field (text and enums converted as decode() does)."""
        f = self.fields[name]
        raw = f"v[{self.index[name]}]"
        if f.is_text:
            return f"decode_str({raw})"
        if f.enum_names is not None and name != "type":
            table = f"enum_{self.index[name]}"
            self.namespace[table] = f.enum_names
            return f"{table}.get({raw}, {raw})"
        return raw

    def ref_expr(self, name: str, formatter: str | None = None) -> str:
        """A tail-referenced value as one expression (formatted when present): None when absent."""
        off, length = self.index[f"{name}.off"], self.index[f"{name}.len"]
        decoder = f"ref_{off}"
        self.namespace[decoder] = REF_DECODERS[self.refs[name]]
        start = f"{self.layout.tail_offset} + v[{off}]"
        value = f"{decoder}(buf[{start}:{start} + v[{length}]].tobytes())"
        return f"(None if v[{off}] == {REF_ABSENT} else {f'{formatter}({value})' if formatter else value})"



def compile_emitter(ctx: EmitterContext, tracker: "TrackerDef", kind: str, layout: RecordLayout,
                    placed: list[Placement]) -> Emitter | None:
    """The emitter of one (tracker, kind), or None where the generic path must serve."""
    if layout.tail_offset is None and layout.refs:
        return None
    needed = ("task.pid", "task.tid", "task.ppid", "task.comm", "task.uid", "task.gid", "task.ts",
              "task.cgroup_id", "task.mntns", "task.flags")
    if not set(needed) <= {f.name for f in layout.fields}:
        return None
    namespace: dict[str, Any] = {
        "unpack_from": layout._struct.unpack_from, "decode_str": decode_str,
        "container_of": ctx.container_of, "container_fields": container_fields,
        "processes_get": ctx.processes_get, "rfc3339": ctx.rfc3339,
        "add_known_process": ctx.add_known_process, "registry": ctx.registry,
        "post_enrich": tracker.post_enrich, "KIND": kind,
    }
    src = _Source(layout, namespace)
    i = src.index
    lines = ["def emit(buf):", "    v = unpack_from(buf, 0)"]
    op = src.expr("op") if "op" in src.fields and src.fields["op"].enum_names is not None else "KIND"
    lines += [
        f"    op = {op}",
        f"    pid = v[{i['task.pid']}]",
        f"    ppid = v[{i['task.ppid']}]",
    ]
    full_lookup = f"container_of(v[{i['task.cgroup_id']}], pid, v[{i['task.mntns']}])"
    if ctx.known_cgroups is None:
        lines.append(f"    container = {full_lookup}")
    else:  # a container cgroup whose name is known: a dict lookup (else the enricher's full path)
        namespace["known_cgroup"] = ctx.known_cgroups.get
        lines += [f"    container = known_cgroup(v[{i['task.cgroup_id']}])",
                  "    if container is None or container.name is None:",
                  f"        container = {full_lookup}"]
    lifecycle = ctx.lifecycle_of(kind)
    cached = lifecycle is None and not any(parents[:1] == ("process",) for _, parents, _, _ in placed)
    process_lines = [
        "parent_block = {'pid': ppid}",
        f"process = {{'pid': pid, 'tid': v[{i['task.tid']}], 'parent': parent_block, "
        f"'name': {src.expr('task.comm')}}}",
    ]
    if "task.cap_effective" in src.fields:
        namespace["cap_set"] = cap_set
        process_lines.append(f"process['cap_effective'] = cap_set(v[{i['task.cap_effective']}])")
    namespace["is_runtime_process"] = is_runtime_process
    process_lines += [
        "if is_runtime_process(process['name']):  # the container runtime setting the container up",
        "    process['runtime_setup'] = True",
        "parent = processes_get(ppid)",
        "if parent is not None:",
        "    parent_block['name'] = parent.name",
        "    parent_block['executable'] = parent.executable",
    ]
    if cached:  # what add_known_process adds, in the block itself
        namespace.update(table=ctx.process_table, blocks=ctx.process_blocks, seen=ctx.process_blocks_seen,
                         BLOCKS_MAX=PROCESS_BLOCKS_MAX)
        key = ", ".join(["pid", f"v[{i['task.tid']}]", f"v[{i['task.comm']}]", "ppid"]
                        + ([f"v[{i['task.cap_effective']}]"] if "task.cap_effective" in src.fields else []))
        process_lines += [
            "known = processes_get(pid)",
            "process['executable'] = known.executable if known else None",
            "process['args'] = known.args if known else []",
            "process['working_directory'] = known.cwd if known else None",
            "if len(blocks) >= BLOCKS_MAX:",
            "    blocks.clear()",
            "blocks[key] = process",
        ]
        lines += [f"    key = ({key})",
                  "    if seen[0] != table.version:  # the table changed: what the blocks say may be stale",
                  "        blocks.clear()",
                  "        seen[0] = table.version",
                  "    process = blocks.get(key)",
                  "    if process is None:"]
        lines += ["        " + line for line in process_lines]
    else:
        lines += ["    " + line for line in process_lines]
    lines += [
        f"    event = {{'time': rfc3339(v[{i['task.ts']}]), 'type': op, "
        f"'container': container_fields(container), 'process': process, "
        f"'user': {{'id': v[{i['task.uid']}]}}, 'group': {{'id': v[{i['task.gid']}]}}}}",
        f"    flags = v[{i['task.flags']}]",
        f"    if flags & {FLAG_TRUNCATED}:",
        "        event['truncated'] = True",
        f"    if flags & {FLAG_PATH_PARTIAL}:",
        "        event['path_partial'] = True",
    ]
    lines += _placements(src, placed, namespace, tracker.composer)
    if lifecycle is None:
        if not cached:
            lines.append("    add_known_process(event, pid)")
    else:
        # the process table learns from these kinds: hand it the fields it reads
        namespace["lifecycle"], namespace["enricher"] = lifecycle, ctx.owner
        wanted = [name for name in LIFECYCLE_FIELDS if name in src.fields]
        lines.append("    rec = {" + ", ".join(f"{name!r}: {src.expr(name)}" for name in wanted) + "}")
        lines.append("    lifecycle(enricher, rec, event, container)")
    if tracker.post_enrich is not None:
        lines.append("    post_enrich(event, registry)")
    lines.append("    return op, event")
    code = compile("\n".join(lines) + "\n", f"<emitter {tracker.name}.{kind}>", "exec")
    exec(code, namespace)  # noqa: S102 - text generated above from the object's own BTF layout
    return namespace["emit"]


# dicts every event starts with, by path, and the local variable holding each
_BASE_NODES = {(): "event", ("process",): "process", ("process", "parent"): "parent_block",
               ("user",): "event['user']", ("group",): "event['group']", ("container",): "event['container']"}


def _placements(src: _Source, placed: list[Placement], namespace: dict[str, Any],
                composer: "Composer | None" = None) -> list[str]:
    """The plan's fields put in place.  A parent dict is made the first time a
    value goes under it (as the generic path does) and kept in a local; a
    formatted value that is a dict is merged into a dict already at its place.
    A dict of leaves only is built in one literal where that yields the same
    event (_literal_nodes); a tracker's private node with a Composer is shaped
    at once from the values, by the shaper of the event's kind (`op`)."""
    lines: list[str] = []
    nodes = dict(_BASE_NODES)           # path → local variable, known to exist when reached
    lazy: dict[tuple[str, ...], str] = {}  # path → local variable, None until first made
    literal = _literal_nodes(src, placed)
    for n, (name, parents, leaf, formatter) in enumerate(placed):
        if parents[:1] in literal:
            members = literal[parents[:1]]
            if members[0][0] != n:
                continue
            # its first field: the whole dict, here (keys keep their order)
            values = [_value_expr(src, m, m_name, m_fmt, namespace) for m, (m_name, _, _, m_fmt) in members]
            leaves = tuple(m_leaf for _, (_, _, m_leaf, _) in members)
            if composer is not None and parents[0] == composer.node:
                namespace.update(compose_make=composer.make, compose_shapers={}, compose_pieces=leaves)
                lines += ["    shape = compose_shapers.get(op)",
                          "    if shape is None:",
                          "        shape = compose_shapers[op] = compose_make(op, compose_pieces)",
                          f"    event[{composer.key!r}] = shape({', '.join(values)})"]
            else:
                items = ", ".join(f"{leaf!r}: {value}" for leaf, value in zip(leaves, values))
                lines.append(f"    event[{parents[0]!r}] = {{{items}}}")
            continue
        if name in src.refs:
            lines += [f"    x = {src.ref_expr(name)}", "    if x is not None:"]
            indent = "        "
        elif name in src.fields:
            lines.append(f"    x = {src.expr(name)}")
            indent = "    "
        else:
            continue
        if formatter is not None:
            namespace[f"fmt_{n}"] = formatter
            lines.append(f"{indent}x = fmt_{n}(x)")
        node = "event"
        for depth in range(1, len(parents) + 1):
            path = parents[:depth]
            if path in nodes:
                node = nodes[path]
                continue
            var = lazy.get(path)
            if var is None:
                var = lazy[path] = f"node_{len(lazy)}"
                lines.insert(0, f"    {var} = None")
            key = parents[depth - 1]
            lines += [f"{indent}if {var} is None:",   # made by an earlier value, or made now
                      f"{indent}    {var} = {node}.get({key!r})",
                      f"{indent}    if {var} is None:",
                      f"{indent}        {var} = {node}[{key!r}] = {{}}"]
            node = var
        target = parents + (leaf,)
        if formatter is not None and (target in nodes or target in lazy):
            lines += [f"{indent}old = {node}.get({leaf!r})",
                      f"{indent}if isinstance(x, dict) and isinstance(old, dict):",
                      f"{indent}    old.update(x)",
                      f"{indent}else:",
                      f"{indent}    {node}[{leaf!r}] = x"]
        else:
            lines.append(f"{indent}{node}[{leaf!r}] = x")
    return lines


def _literal_nodes(src: _Source, placed: list[Placement]) -> dict[tuple[str, ...], list[tuple[int, Placement]]]:
    """Top-level dicts (not one of every event's) that hold leaves only and
    can be built in one literal: those whose every value is always there (no
    tail reference: the generic path leaves an absent one out), and private
    ones ("_file": pieces a tracker's post_enrich consumes, where an absent
    piece is None by contract).  Path → its placements, in order."""
    groups: dict[tuple[str, ...], list[tuple[int, Placement]]] = {}
    for n, placement in enumerate(placed):
        name, parents = placement[0], placement[1]
        if parents and parents[:1] not in _BASE_NODES and (name in src.refs or name in src.fields):
            groups.setdefault(parents[:1], []).append((n, placement))
    # a dict that a value's formatter merges into, or with dicts below it, keeps the general path
    deeper = {p[1][:1] for p in placed if len(p[1]) > 1} | {p[1] + (p[2],) for p in placed}
    return {path: members for path, members in groups.items()
            if path not in deeper and all(len(p[1]) == 1 for _, p in members)
            and (path[0].startswith("_") or not any(p[0] in src.refs for _, p in members))}


def _value_expr(src: _Source, n: int, name: str, formatter: Callable[[Any], Any] | None,
                namespace: dict[str, Any]) -> str:
    """One value of a literal dict, as an expression (an absent reference is None)."""
    wrap = None
    if formatter is not None:
        namespace[f"fmt_{n}"] = formatter
        wrap = f"fmt_{n}"
    if name in src.refs:
        return src.ref_expr(name, wrap)
    return f"{wrap}({src.expr(name)})" if wrap else src.expr(name)
