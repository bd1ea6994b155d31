"""The syscall dispatcher's routes and the handlers every tracker declares,
checked against the built objects (opened, not loaded: no root needed)."""

from __future__ import annotations

import pytest

from eunomia import syscalls
from eunomia.bpf.object import ObjectSpec
from eunomia.pipeline.dispatch import (
    HANDLER_SLOTS,
    OBJECT_PATH,
    ROUTE_COUNT_FILTERED,
    ROUTE_EVERY_TASK,
    ROUTE_MONITORED,
    Routes,
    direction_of,
)
from eunomia.trackers import Handles, TrackerDef, discover

TRACKERS = discover()
NR = syscalls.number_of


def test_routes_say_who_handles_each_number_and_for_whom():
    routes = Routes.of([TRACKERS[name] for name in ("file", "exec", "net", "signal", "syscall")])
    assert routes.trackers == ["file", "exec", "net", "signal", "syscall"]
    enter, exit_ = routes.flags["enter"], routes.flags["exit"]
    assert exit_[NR("read")] == ROUTE_MONITORED and enter[NR("read")] == 0
    # the filtered ones are counted by the dispatcher: no handler called for them
    assert exit_[NR("openat")] == ROUTE_MONITORED | ROUTE_COUNT_FILTERED
    assert enter[NR("kill")] == ROUTE_EVERY_TASK          # a host process signalling a container
    assert enter[NR("sendto")] == ROUTE_MONITORED
    assert exit_[NR("connect")] == ROUTE_EVERY_TASK       # net's and signal's
    assert enter[NR("mount")] == ROUTE_MONITORED
    assert exit_[NR("execveat")] == ROUTE_EVERY_TASK
    # the common case leaves at once: no handler for getppid, either way
    assert enter[NR("getppid")] == 0 and exit_[NR("getppid")] == 0
    assert routes.numbers[("file", "exit__read")] == tuple(sorted(NR(n) for n in ("read", "pread64", "readv",
                                                                                 "preadv", "preadv2")))


def test_routes_give_each_handler_a_slot_and_chain_a_number_through_them():
    """The dispatcher's table names a number's first handler's slot; each
    object's table the slot of the handler after its own."""
    routes = Routes.of([TRACKERS[name] for name in ("file", "exec", "net", "signal")])
    connect, read, kill = NR("connect"), NR("read"), NR("kill")
    exit_slots = {routes.slots[key] for key in routes.slots if key[1].startswith("exit__")}
    assert sorted(exit_slots) == list(range(1, len(exit_slots) + 1))  # distinct, from 1
    assert routes.first_slots("exit")[connect] == routes.slots[("net", "exit__connect")]
    assert routes.next_slots("net", "exit")[connect] == routes.slots[("signal", "exit__connect")]
    assert routes.next_slots("signal", "exit")[connect] == 0          # the last: no next
    assert routes.first_slots("exit")[read] == routes.slots[("file", "exit__read")]
    assert routes.next_slots("file", "exit")[read] == 0
    assert routes.first_slots("enter")[kill] == routes.slots[("signal", "enter__kill")]
    assert routes.next_slots("file", "enter")[kill] == 0              # file does not handle kill
    assert routes.first_slots("enter")[NR("getppid")] == 0


def test_routes_leave_out_trackers_without_handlers_and_numbers_this_arch_lacks():
    routes = Routes.of([TRACKERS["cap"], TRACKERS["signal"]])
    assert routes.trackers == ["signal"]
    fake = TrackerDef(name="fake", summary="", needs=(),
                      syscall_handlers={"exit__nothing": Handles(("no_such_syscall",))})
    assert Routes.of([fake]).numbers[("fake", "exit__nothing")] == ()


def test_more_handlers_than_slots_is_an_error():
    many = [TrackerDef(name=f"t{i}", summary="", needs=(), syscall_handlers={"exit__read": Handles(("read",))})
            for i in range(HANDLER_SLOTS)]
    with pytest.raises(ValueError, match="more than"):
        Routes.of(many)


def test_handler_names_follow_the_convention():
    assert direction_of("enter__connect") == "enter"
    assert direction_of("exit__file_op") == "exit"
    for bad in ("handle_sys_exit", "enter_connect", "exit"):
        with pytest.raises(ValueError, match="not named"):
            direction_of(bad)


def _programs(tracker: TrackerDef) -> dict[str, str]:
    with ObjectSpec(tracker.object_path) as spec:
        return {name: p.section for name, p in spec.programs.items()}


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_objects_declare_exactly_the_handlers_they_have(name: str):
    tracker = TRACKERS[name]
    programs = _programs(tracker)
    handlers = {p for p, section in programs.items() if section in ("tp_btf/sys_enter", "tp_btf/sys_exit")}
    assert handlers == set(tracker.syscall_handlers)
    for program in handlers:
        assert programs[program] == f"tp_btf/sys_{direction_of(program)}"
    # nothing else on the syscall tracepoints: no perf syscalls:*, no raw sys_enter/sys_exit
    assert not [p for p, s in programs.items() if s.startswith("tracepoint/syscalls/")
                or s in ("raw_tp/sys_enter", "raw_tp/sys_exit", "raw_tracepoint/sys_enter")]


@pytest.mark.parametrize("name", sorted(t.name for t in TRACKERS.values() if t.syscall_handlers))
def test_every_handled_syscall_is_known(name: str):
    legacy = {"open", "creat", "unlink", "rmdir", "rename", "chmod", "chown", "lchown", "mkdir",
              "symlink", "link", "truncate", "sendfile"}  # absent on some architectures
    for handles in TRACKERS[name].syscall_handlers.values():
        missing = set(handles.syscalls) - set(syscalls.numbers_of(*handles.syscalls)) - legacy
        assert not missing, f"{name}: unknown syscalls {missing}"


def test_the_dispatcher_is_the_only_object_on_sys_enter_and_sys_exit():
    with ObjectSpec(OBJECT_PATH) as spec:
        sections = {name: p.section for name, p in spec.programs.items()}
        knobs = set(spec.knob_names())
    assert sections == {"dispatch_sys_enter": "tp_btf/sys_enter", "dispatch_sys_exit": "tp_btf/sys_exit"}
    assert {"targ_enter_routes", "targ_exit_routes", "targ_count_syscalls", "targ_failures",
            "targ_enter_slots", "targ_exit_slots", "filter_by_container"} <= knobs


def test_a_number_is_not_both_counted_as_filtered_and_handled_for_every_task():
    counted = TrackerDef(name="a", summary="", needs=(),
                         syscall_handlers={"exit__openat": Handles(("openat",), count_filtered=True)})
    every = TrackerDef(name="b", summary="", needs=(),
                       syscall_handlers={"exit__openat": Handles(("openat",), every_task=True)})
    with pytest.raises(ValueError, match="counted as filtered"):
        Routes.of([counted, every])


def test_the_filter_knobs_are_the_sessions_not_one_trackers():
    """Every object shares one cache of the filter's answers: one tracker may
    not filter differently (refused before anything is loaded)."""
    from eunomia.pipeline.loading import load_tracker
    with pytest.raises(ValueError, match="filter_keep_host is the session's"):
        load_tracker(TRACKERS["cap"], {}, shared={}, overrides={"filter_keep_host": True},
                     drain_on_clock=False, registry=None)
