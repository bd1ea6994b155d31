"""The loader against the real kernel: maps as mappings, knobs, errors."""

from __future__ import annotations

import select
import subprocess
import time
from pathlib import Path

import pytest

from eunomia.bpf import _libbpf
from eunomia.bpf.errors import BpfError, VerifierError
from eunomia.bpf.object import ObjectSpec
from eunomia.bpf.ringbuf import RingBuffer, RingPoller
from eunomia.trackers import discover

from .conftest import ROOT

# the exec tracker's syscall handlers are tail-called by the dispatcher, never attached
EXEC_HANDLERS = discover()["exec"].syscall_handlers

BAD_PROGRAM = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
SEC("raw_tp/sys_enter")
int unchecked_lookup(void *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&counts, &key);
	return *value; /* no NULL check: the verifier must refuse this */
}
"""


def test_verifier_error_names_program_and_carries_log(tmp_path: Path):
    src, obj = tmp_path / "bad.bpf.c", tmp_path / "bad.bpf.o"
    src.write_text(BAD_PROGRAM)
    subprocess.run(["clang", "-target", "bpf", "-g", "-O2", f"-I{ROOT / 'build' / 'vmlinux'}",
                    "-c", str(src), "-o", str(obj)], check=True)
    with ObjectSpec(obj) as spec:
        with pytest.raises(VerifierError) as caught:
            spec.load()
    assert caught.value.program == "unchecked_lookup"
    assert caught.value.obj == "bad"
    assert "map_value_or_null" in caught.value.log
    assert "unchecked_lookup" in str(caught.value)


def test_maps_behave_as_mappings():
    with ObjectSpec(discover()["cgroup"].object_path) as spec:
        with spec.load() as obj:
            verdicts = obj.maps["container_verdicts"].typed("<Q", "<B")
            assert len(verdicts) == 0
            verdicts[11] = 2
            verdicts[12] = 1
            assert verdicts[11] == 2
            assert sorted(verdicts) == [11, 12]
            assert sorted(verdicts.items_batch()) == [(11, 2), (12, 1)]
            del verdicts[11]
            with pytest.raises(KeyError):
                verdicts[11]
            with pytest.raises(KeyError):
                del verdicts[99]
            assert dict(verdicts.items()) == {12: 1}

            stats = obj.maps["tracker_stats"].typed("<I", "<Q")
            per_cpu = dict(stats.items_batch())
            assert sorted(per_cpu) == [0, 1, 2, 3, 4]  # enum eun_stat
            assert all(len(v) == _libbpf.num_possible_cpus() for v in per_cpu.values())
            stats[2] = [5] * _libbpf.num_possible_cpus()
            assert sum(stats[2]) == 5 * _libbpf.num_possible_cpus()


def test_knobs_set_before_load_only():
    with ObjectSpec(discover()["exec"].object_path) as spec:
        with pytest.raises(BpfError, match="no knob 'targ_nonexistent'"):
            spec.set_knobs(targ_nonexistent=True)
        spec.set_knobs(filter_by_container=False)
        obj = spec.load()
        with obj:
            with pytest.raises(BpfError, match="only be set before load"):
                spec.set_knobs(filter_keep_host=True)


def test_ring_buffer_delivers_an_exec_of_the_host_with_filter_off():
    with ObjectSpec(discover()["exec"].object_path) as spec:
        for name, program in spec.programs.items():
            program.autoload = name == "handle_exec"
        with spec.load() as obj:
            obj.attach_all(skip=EXEC_HANDLERS)  # no dispatcher here: its failed execs are off
            ring = RingBuffer(obj.maps["events"])
            subprocess.run(["/bin/echo", "ring-buffer-check"], check=True, capture_output=True)
            seen = []
            ring.drain(lambda record: seen.append(obj.decoder.decode(record)))
            ring.close()
    execs = [rec for kind, rec in seen if kind == "exec" and rec["args"] == ["/bin/echo", "ring-buffer-check"]]
    assert len(execs) == 1
    assert execs[0]["executable"] in ("/bin/echo", "/usr/bin/echo")
    assert execs[0]["task.comm"] == "echo"


@pytest.mark.parametrize("wakeup_bytes, woken", [(0, True), (1, True), (1 << 20, False)],
                         ids=["every record wakes", "past the threshold wakes", "below it stays quiet"])
def test_the_kernel_wakes_the_reader_only_past_targ_wakeup_bytes(wakeup_bytes: int, woken: bool):
    """common.h: with targ_wakeup_bytes set, records are committed without a
    wakeup until that many bytes wait unread; they are in the ring all the same."""
    with ObjectSpec(discover()["exec"].object_path) as spec:
        spec.set_knobs(filter_by_container=False, targ_wakeup_bytes=wakeup_bytes)
        with spec.load() as obj:
            obj.attach_all(skip=EXEC_HANDLERS)  # no dispatcher here: its failed execs are off
            ring = RingBuffer(obj.maps["events"])
            epoll = select.epoll()
            try:
                ring.drain(lambda record: None)  # whatever the host ran since the attach
                epoll.register(ring.fd, select.EPOLLIN)
                # one process: its exec and its exit are two records
                subprocess.run(["/bin/echo", "wakeup-check"], check=True, capture_output=True)
                ready = epoll.poll(0.5)
                seen = []
                ring.drain(lambda record: seen.append(obj.decoder.decode(record)))
            finally:
                epoll.close()
                ring.close()
    assert bool(ready) is woken
    assert [rec["args"] for kind, rec in seen if kind == "exec" and rec["task.comm"] == "echo"
            and rec["args"] == ["/bin/echo", "wakeup-check"]] == [["/bin/echo", "wakeup-check"]]


def test_a_poller_woken_once_waits_again_for_records_committed_quietly():
    """Level-triggered epoll would report a ring it reported before as ready
    while any record waits, also one committed without a wakeup: the pump
    would spin.  The poller waits its whole timeout and then drains."""
    with ObjectSpec(discover()["exec"].object_path) as spec:
        spec.set_knobs(filter_by_container=False, targ_wakeup_bytes=1 << 20)
        with spec.load() as obj:
            obj.attach_all(skip=EXEC_HANDLERS)  # no dispatcher here: its failed execs are off
            ring = RingBuffer(obj.maps["events"])
            subprocess.run(["/bin/echo", "first"], check=True, capture_output=True)
            poller = RingPoller([ring], batch_delay=0)  # records wait: reported at once
            try:
                seen: list[list[str]] = []

                def keep(record: memoryview) -> None:
                    decoded = obj.decoder.decode(record)
                    if decoded and decoded[0] == "exec" and decoded[1]["task.comm"] == "echo":
                        seen.append(decoded[1]["args"])
                t0 = time.monotonic()
                poller.poll([keep], timeout=5)
                first_wait = time.monotonic() - t0
                subprocess.run(["/bin/echo", "second"], check=True, capture_output=True)
                t0 = time.monotonic()
                poller.poll([keep], timeout=0.6)
                second_wait = time.monotonic() - t0
            finally:
                poller.close()
                ring.close()
    assert first_wait < 1
    assert second_wait >= 0.5  # no wakeup, no spurious readiness: the whole timeout
    assert seen == [["/bin/echo", "first"], ["/bin/echo", "second"]]


def test_a_session_is_woken_by_the_kernel_only_when_a_quarter_of_a_ring_waits():
    """The session sets targ_wakeup_bytes of every tracker to a quarter of its
    ring, and then drains on its own clock (no batching delay after a wakeup)."""
    import contextlib

    from eunomia.cli.context import build_context
    from eunomia.pipeline.scope import Scope
    from eunomia.pipeline.session import TraceSession
    from eunomia.trackers import select as select_trackers

    context = build_context()
    with contextlib.closing(context), TraceSession(select_trackers(["exec", "file"]), Scope(), context) as session:
        assert session._poller is not None and session._poller.batch_delay == 0
        set_to = {r.tracker.name: (r.knobs["targ_wakeup_bytes"], r.tracker.ringbuf_bytes) for r in session._running}
    assert set(set_to) == {"cgroup", "exec", "file"}
    assert all(knob == ring // 4 for knob, ring in set_to.values()), set_to


def test_records_that_wrap_around_the_end_of_a_ring_read_whole():
    """The ring's data is mapped once (not twice in a row), so a record
    crossing the end is copied from its two parts."""
    with ObjectSpec(discover()["exec"].object_path) as spec:
        spec.maps["events"].max_entries = 16 << 10  # wraps every few dozen execs
        spec.set_knobs(filter_by_container=False)
        with spec.load() as obj:
            obj.attach_all(skip=EXEC_HANDLERS)  # no dispatcher here: its failed execs are off
            ring = RingBuffer(obj.maps["events"])
            seen: list[list[str]] = []

            def keep(record: memoryview) -> None:
                kind, rec = obj.decoder.decode(record) or ("", {})
                if kind == "exec" and rec["args"][:2] == ["/bin/echo", "wrap-check"]:
                    seen.append(rec["args"])
            try:
                for n in range(300):
                    # a different length each time, so records end at every alignment
                    subprocess.run(["/bin/echo", "wrap-check", str(n), "x" * (n % 97)], check=True,
                                   capture_output=True)
                    ring.drain(keep)
            finally:
                ring.close()
    assert seen == [["/bin/echo", "wrap-check", str(n), "x" * (n % 97)] for n in range(300)]


def test_batch_lookup_reads_every_entry_across_batches():
    """More entries than one batch (4096): every key once, with its value."""
    with ObjectSpec(discover()["cgroup"].object_path) as spec:
        with spec.load() as obj:
            verdicts = obj.maps["container_verdicts"].typed("<Q", "<B")
            written = {1000 + i: i % 3 for i in range(5000)}
            for key, value in written.items():
                verdicts[key] = value
            assert dict(verdicts.items_batch()) == written
            assert len(verdicts.items_batch()) == 5000
