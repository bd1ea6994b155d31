"""The syscall dispatcher: the one program on sys_enter and on sys_exit
(trackers/syscall/dispatch.bpf.c), tail-calling the trackers' handlers.

    routes = Routes.of(trackers)              # which numbers go where: no kernel
    dispatcher = Dispatcher.load(routes, knobs, shared=..., counting=True, failures=False)
    load each tracker with dispatcher.knobs_for(t) and dispatcher.maps_for(t), then
    dispatcher.register(t, obj)               # its handlers into the program arrays
    dispatcher.attach()                       # after every handler is in place
    dispatcher.close()

Each handler program has a slot in its direction's program array,
numbered from 1 in the trackers' order.  The dispatcher's slot table names
a number's first handler; each object's next-slot tables the handler after
its own for the same number (the chain, for a syscall two trackers handle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import syscalls
from ..bpf.maps import Map
from ..bpf.object import Link, Object, ObjectSpec
from ..trackers import TrackerDef

OBJECT_PATH = Path(__file__).parent.parent / "trackers" / "syscall" / "dispatch.bpf.o"
NR_MAX = 512             # EUN_SYSCALL_NR_MAX
HANDLER_SLOTS = 64       # EUN_HANDLER_SLOTS: per direction, slot 0 unused
ROUTE_MONITORED = 1      # dispatch.bpf.c: a handler for monitored tasks' calls
ROUTE_EVERY_TASK = 2     # … for every task's
ROUTE_COUNT_FILTERED = 4  # count the calls the filter discards (filtered_calls)
DIRECTIONS = {"tp_btf/sys_enter": "enter", "tp_btf/sys_exit": "exit"}
PROGRAM_ARRAYS = {"enter": "sys_enter_handlers", "exit": "sys_exit_handlers"}
# counting.h's maps: the dispatcher writes them, the syscall tracker reads them
COUNTING_MAPS = ("slot_counts", "cgroup_slots", "syscall_counts", "runtime_syscall_counts",
                 "unfiltered_runtime_calls", "eperm_counts")
COUNTING_TRACKER = "syscall"
RING_BYTES = 4096        # the dispatcher streams nothing: the smallest ring


def direction_of(program_name: str) -> str:
    """enter__<name> / exit__<name>: the convention of EUN_SYSCALL_ENTER/EXIT."""
    way = program_name.split("__", 1)[0]
    if way not in PROGRAM_ARRAYS or "__" not in program_name:
        raise ValueError(f"syscall handler {program_name!r} is not named enter__… or exit__…")
    return way


@dataclass
class Routes:
    """Per direction and number: which handlers serve it, in which slots, and for whom."""

    trackers: list[str] = field(default_factory=list)              # with handlers, in order
    numbers: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)  # (tracker, program) → its numbers
    slots: dict[tuple[str, str], int] = field(default_factory=dict)  # (tracker, program) → slot
    flags: dict[str, bytearray] = field(default_factory=lambda: {d: bytearray(NR_MAX) for d in PROGRAM_ARRAYS})
    # (direction, number) → the slots of its handlers, in the trackers' order
    chains: dict[tuple[str, int], list[tuple[str, int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, trackers: list[TrackerDef]) -> "Routes":
        routes = cls()
        used = {way: 0 for way in PROGRAM_ARRAYS}
        for tracker in trackers:
            if not tracker.syscall_handlers:
                continue
            routes.trackers.append(tracker.name)
            for program, handles in tracker.syscall_handlers.items():
                way = direction_of(program)
                used[way] += 1
                if used[way] >= HANDLER_SLOTS:
                    raise ValueError(f"more than {HANDLER_SLOTS - 1} syscall {way} handlers")
                routes.slots[(tracker.name, program)] = used[way]
                found = syscalls.numbers_of(*handles.syscalls)
                numbers = tuple(sorted(nr for nr in found.values() if 0 <= nr < NR_MAX))
                routes.numbers[(tracker.name, program)] = numbers
                for nr in numbers:
                    chain = routes.chains.setdefault((way, nr), [])
                    if any(name == tracker.name for name, _ in chain):
                        raise ValueError(f"{tracker.name}: two {way} handlers for syscall {nr}")
                    chain.append((tracker.name, used[way]))
                    routes.flags[way][nr] |= ROUTE_EVERY_TASK if handles.every_task else ROUTE_MONITORED
                    if handles.count_filtered:
                        routes.flags[way][nr] |= ROUTE_COUNT_FILTERED
        for way, flags in routes.flags.items():
            for nr, flag in enumerate(flags):
                if flag & ROUTE_COUNT_FILTERED and flag & ROUTE_EVERY_TASK:
                    # the every-task handler would see, and might count, the same calls
                    raise ValueError(f"syscall {nr} ({way}): a handler counted as filtered by the dispatcher "
                                     "and one for every task")
        return routes

    def any(self, way: str) -> bool:
        return any(self.flags[way])

    def first_slots(self, way: str) -> bytes:
        """The dispatcher's table: per number, the slot of its first handler (0: none)."""
        out = bytearray(NR_MAX)
        for (direction, nr), chain in self.chains.items():
            if direction == way:
                out[nr] = chain[0][1]
        return bytes(out)

    def next_slots(self, tracker: str, way: str) -> bytes:
        """Per number, the slot of the handler after the tracker's own (0: none)."""
        out = bytearray(NR_MAX)
        for (direction, nr), chain in self.chains.items():
            names = [name for name, _ in chain]
            if direction == way and tracker in names and names.index(tracker) + 1 < len(chain):
                out[nr] = chain[names.index(tracker) + 1][1]
        return bytes(out)


class Dispatcher:
    """The loaded dispatcher: its program arrays, its links."""

    def __init__(self, obj: Object, routes: Routes, counting: bool) -> None:
        self.obj = obj
        self.routes = routes
        self.counting = counting
        self._arrays = {way: obj.maps[name].typed("<I", "<I") for way, name in PROGRAM_ARRAYS.items()}

    @classmethod
    def load(cls, routes: Routes, knobs: dict[str, Any], *, shared: dict[str, Map],
             counting: bool, failures: bool) -> "Dispatcher":
        """`knobs` are the session's (the container filter); `counting` and
        `failures` turn on the syscall tracker's counts at entry and of
        -EPERM at exit."""
        with ObjectSpec(OBJECT_PATH) as spec:
            spec.maps["events"].max_entries = RING_BYTES
            if not counting:
                for name in COUNTING_MAPS:
                    spec.maps[name].max_entries = 1
            spec.share(shared)
            known = spec.knob_names()
            spec.set_knobs(**{k: v for k, v in knobs.items() if k in known},
                           targ_enter_routes=bytes(routes.flags["enter"]),
                           targ_exit_routes=bytes(routes.flags["exit"]),
                           targ_enter_slots=routes.first_slots("enter"),
                           targ_exit_slots=routes.first_slots("exit"),
                           targ_count_syscalls=counting, targ_failures=counting and failures)
            spec.programs["dispatch_sys_enter"].autoload = counting or routes.any("enter")
            spec.programs["dispatch_sys_exit"].autoload = (counting and failures) or routes.any("exit")
            obj = spec.load()
        return cls(obj, routes, counting)

    def knobs_for(self, tracker: TrackerDef) -> dict[str, bytes]:
        if tracker.name not in self.routes.trackers:
            return {}
        return {"targ_enter_next_slots": self.routes.next_slots(tracker.name, "enter"),
                "targ_exit_next_slots": self.routes.next_slots(tracker.name, "exit")}

    def maps_for(self, tracker: TrackerDef) -> dict[str, Map]:
        """The dispatcher's maps the tracker's object shares: the program
        arrays; for the syscall tracker, also the counts and statistics."""
        maps = {name: self.obj.maps[name] for name in PROGRAM_ARRAYS.values()}
        if tracker.name == COUNTING_TRACKER and self.counting:
            maps.update({name: self.obj.maps[name] for name in (*COUNTING_MAPS, "tracker_stats")})
        return maps

    def register(self, tracker: TrackerDef, obj: Object) -> None:
        """Put the tracker's loaded handlers in their slots."""
        for program_name in tracker.syscall_handlers:
            program = obj.programs[program_name]
            way = DIRECTIONS.get(program.section)
            if way is None or way != direction_of(program_name):
                raise ValueError(f"{tracker.name}: {program_name} is in {program.section!r}, "
                                 f"not tp_btf/sys_{direction_of(program_name)}")
            if not program.loaded:  # its slot would end the chain of every number it serves
                raise ValueError(f"{tracker.name}: syscall handler {program_name} is not loaded")
            self._arrays[way][self.routes.slots[(tracker.name, program_name)]] = program.fd

    def filtered_of(self, tracker: TrackerDef) -> int:
        """The calls the filter discarded that the tracker's handlers would
        have seen (those declared count_filtered), counted by the dispatcher."""
        keys = [(NR_MAX if direction_of(program) == "exit" else 0) + nr
                for program, handles in tracker.syscall_handlers.items() if handles.count_filtered
                for nr in self.routes.numbers.get((tracker.name, program), ())]
        counts = self.obj.maps["filtered_calls"].typed("<I", "<Q")
        return sum(sum(counts[key]) for key in keys)

    def attach(self) -> list[Link]:
        return self.obj.attach_all()

    @property
    def links(self) -> list[Link]:
        return self.obj.links

    def close(self) -> None:
        self.obj.close()

