"""The syscall dispatcher: the one program on sys_enter and on sys_exit
(trackers/syscall/dispatch.bpf.c), tail-calling the trackers' handlers.

    routes = Routes.of(trackers)              # which numbers go where: no kernel
    dispatcher = Dispatcher.load(routes, knobs, shared=..., counting=True, failures=False)
    load each tracker with dispatcher.knobs_for(t) and dispatcher.maps_for(t), then
    dispatcher.register(t, obj)               # its handlers into the program arrays
    dispatcher.attach()                       # after every handler is in place
    dispatcher.close()

A tracker's row in the program arrays is its place among the trackers with
handlers.  The dispatcher's route of a number names the first row with a
handler for it; each object's next-row tables the row after its own (so a
handler chains with one tail call).
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
CHAIN_LEVELS = 8         # EUN_CHAIN_LEVELS
ROUTE_MONITORED = 1      # dispatch.bpf.c: a handler for monitored tasks' calls
ROUTE_EVERY_TASK = 2     # … for every task's
ROUTE_COUNT_FILTERED = 4  # count the calls the filter discards (filtered_calls)
ROUTE_ROW_SHIFT = 3      # the route's high bits: the first row with a handler
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
    """Per direction and number: which rows hold a handler, and for whom."""

    levels: dict[str, int] = field(default_factory=dict)           # tracker → row
    numbers: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)  # (tracker, program) → its numbers
    flags: dict[str, bytearray] = field(default_factory=lambda: {d: bytearray(NR_MAX) for d in PROGRAM_ARRAYS})

    @classmethod
    def of(cls, trackers: list[TrackerDef]) -> "Routes":
        routes = cls()
        for tracker in trackers:
            if not tracker.syscall_handlers:
                continue
            if len(routes.levels) >= CHAIN_LEVELS:
                raise ValueError(f"more than {CHAIN_LEVELS} trackers with syscall handlers")
            routes.levels[tracker.name] = len(routes.levels)
            for program, handles in tracker.syscall_handlers.items():
                way = direction_of(program)
                found = syscalls.numbers_of(*handles.syscalls)
                numbers = tuple(sorted(nr for nr in found.values() if 0 <= nr < NR_MAX))
                routes.numbers[(tracker.name, program)] = numbers
                for nr in numbers:
                    routes.flags[way][nr] |= ROUTE_EVERY_TASK if handles.every_task else ROUTE_MONITORED
                    if handles.count_filtered:
                        routes.flags[way][nr] |= ROUTE_COUNT_FILTERED
        return routes

    def any(self, way: str) -> bool:
        return any(self.flags[way])

    def rows(self, way: str, nr: int) -> list[int]:
        """The rows with a handler of this number, in order."""
        return sorted(self.levels[tracker] for (tracker, program), numbers in self.numbers.items()
                      if direction_of(program) == way and nr in numbers)

    def table(self, way: str) -> bytes:
        """The dispatcher's route table: flags, and the first row above them."""
        out = bytearray(self.flags[way])
        for nr, flags in enumerate(self.flags[way]):
            if flags:
                out[nr] |= self.rows(way, nr)[0] << ROUTE_ROW_SHIFT
        return bytes(out)

    def next_rows(self, tracker: str, way: str) -> bytes:
        """Per number, the next row after the tracker's with a handler (0: none)."""
        own = self.levels[tracker]
        out = bytearray(NR_MAX)
        for nr, flags in enumerate(self.flags[way]):
            if flags:
                out[nr] = next((row for row in self.rows(way, nr) if row > own), 0)
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
                           targ_enter_routes=routes.table("enter"),
                           targ_exit_routes=routes.table("exit"),
                           targ_chain_levels=len(routes.levels),
                           targ_count_syscalls=counting, targ_failures=counting and failures)
            spec.programs["dispatch_sys_enter"].autoload = counting or routes.any("enter")
            spec.programs["dispatch_sys_exit"].autoload = (counting and failures) or routes.any("exit")
            obj = spec.load()
        return cls(obj, routes, counting)

    def knobs_for(self, tracker: TrackerDef) -> dict[str, int]:
        if tracker.name not in self.routes.levels:
            return {}
        return {"targ_chain_levels": len(self.routes.levels),
                "targ_enter_next_rows": self.routes.next_rows(tracker.name, "enter"),
                "targ_exit_next_rows": self.routes.next_rows(tracker.name, "exit")}

    def maps_for(self, tracker: TrackerDef) -> dict[str, Map]:
        """The dispatcher's maps the tracker's object shares: the program
        arrays; for the syscall tracker, also the counts and statistics."""
        maps = {name: self.obj.maps[name] for name in PROGRAM_ARRAYS.values()}
        if tracker.name == COUNTING_TRACKER and self.counting:
            maps.update({name: self.obj.maps[name] for name in (*COUNTING_MAPS, "tracker_stats")})
        return maps

    def register(self, tracker: TrackerDef, obj: Object) -> None:
        """Put the tracker's loaded handlers in their slots."""
        level = self.routes.levels[tracker.name] if tracker.syscall_handlers else 0
        for program_name in tracker.syscall_handlers:
            program = obj.programs[program_name]
            if not program.loaded:
                continue
            way = DIRECTIONS.get(program.section)
            if way is None or way != direction_of(program_name):
                raise ValueError(f"{tracker.name}: {program_name} is in {program.section!r}, "
                                 f"not tp_btf/sys_{direction_of(program_name)}")
            for nr in self.routes.numbers[(tracker.name, program_name)]:
                self._arrays[way][level * NR_MAX + nr] = program.fd

    def filtered_of(self, tracker: TrackerDef) -> int:
        """The calls the filter discarded that the tracker's handlers would
        have seen (those declared count_filtered), counted by the dispatcher."""
        slots = {(NR_MAX if direction_of(program) == "exit" else 0) + nr
                 for program, handles in tracker.syscall_handlers.items() if handles.count_filtered
                 for nr in self.routes.numbers.get((tracker.name, program), ())}
        if not slots:
            return 0
        counts = self.obj.maps["filtered_calls"]
        return sum(sum(per_cpu) for slot, per_cpu in counts.records() if slot in slots)

    def attach(self) -> list[Link]:
        return self.obj.attach_all()

    @property
    def links(self) -> list[Link]:
        return self.obj.links

    def close(self) -> None:
        self.obj.close()

