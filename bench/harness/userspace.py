"""User-space throughput, measured in this process on real records.

1. Capture: a TraceSession (exec, file, net; scope = the loop container)
   runs while paced storms make events; a hook on the session's record
   handler keeps a copy of every raw ring-buffer record.
2. Replay: the records are laid out, back to back with their 8-byte
   headers, in a memory buffer shaped like the mmapped ring, and drained by
   eunomia's own RingBuffer.drain (the batch reader) N times over:
     drain only                  the reader alone (a no-op handler)
     drain + unpack              + each record's one precompiled struct (from its BTF
                                   layout) to a tuple, as emitters start (strings and
                                   paths still bytes: emitters decode those they place)
     drain + dict decode         + the object's RecordDecoder (a dict of dotted keys:
                                   the generic path the emitters are tested against)
     drain + decode + enrich     + the session's handler (counting, Enricher,
       + JSONL                     container and process lookup) and
                                   JsonLinesSink writing to /dev/null
     rules                       the enriched events through Falco's stable rules and
                                   Eunomia's default rules (RulesEngine.evaluate; µs per event)
   Rates are records/s of one CPU.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .util import log
from .workloads import Testbed, start_storm

CAPTURE = (("file", 20000), ("exec", 500), ("net", 10000))  # storm kind, events/s (0.5 s each)
_HEADER = struct.Struct("<II")


def _replay_ring(records: list[bytes], count: int) -> Any:
    """A RingBuffer whose 'mapping' is a bytearray holding `count` records."""
    from eunomia.bpf.ringbuf import HEADER_SIZE, RingBuffer

    class ReplayRing(RingBuffer):
        def __init__(self) -> None:  # no map: fill the buffer ourselves
            chunks = []
            for i in range(count):
                rec = records[i % len(records)]
                pad = (-(len(rec) + HEADER_SIZE)) % 8
                chunks.append(_HEADER.pack(len(rec), 0) + rec + b"\0" * pad)
            data = b"".join(chunks)
            size = 1 << max(12, (len(data) - 1).bit_length())
            self.name, self.fd, self.size, self.mask = "replay", -1, size, size - 1
            self._buffer = bytearray(size)
            self._buffer[: len(data)] = data
            self._consumer = bytearray(8)  # type: ignore[assignment]  # drain() only needs the buffer protocol
            self._producer = bytearray(struct.pack("<Q", len(data)))  # type: ignore[assignment]
            self._view(self._consumer, self._producer, memoryview(self._buffer))
            self.records = 0

        def rewind(self) -> None:
            self._consumer[:] = bytes(8)

        def close(self) -> None:
            for view in (self._headers, self._consumer_pos, self._producer_pos, self._data):
                view.release()

    return ReplayRing()


POLL_BATCH = 1024  # records per drain call: about what one 100 ms poll reads at 10k events/s


def _rate(ring: Any, handle: Callable[[memoryview], object], count: int) -> float:
    """Records/s through handle, drained a poll's worth at a time."""
    ring.rewind()
    t0 = time.perf_counter()
    done = 0
    while True:
        n = ring.drain(handle, max_records=POLL_BATCH)
        if n == 0:
            break
        done += n
    elapsed = time.perf_counter() - t0
    if done != count:
        raise RuntimeError(f"replay drained {done} records of {count}")
    return done / elapsed


def _unpacker(decoder: Any) -> Callable[[memoryview], object]:
    """record → tuple through its layout's struct, chosen by the record's type (as emitters do)."""
    structs = {etype: layout._struct.unpack_from for etype, (_kind, layout) in decoder.layouts.items()}
    record_type = struct.Struct("<I").unpack_from

    def unpack(record: memoryview) -> object:
        return structs[record_type(record, 0)[0]](record, 0)
    return unpack


def _rules_cost(events: list[dict[str, Any]], session: Any) -> float | None:
    """µs per event for Falco's stable rules (../shared/reference) after Eunomia's defaults, or None
    without them."""
    from eunomia.rules.engine import FieldContext, RulesEngine
    from eunomia.rules.ruleset import load_rule_set

    path = Path(__file__).resolve().parents[3] / "shared" / "reference" / "falco_rules.yaml"
    if not path.is_file() or not events:
        return None
    engine = RulesEngine(load_rule_set([path], defaults=True).rules,
                         FieldContext(session.ctx.processes, session.clock.wall_ns),
                         rate=1e9, burst=1e9)
    for event in events:  # the first event of each kind generates its function: once per agent, not timed
        engine.evaluate(event)
    t0 = time.perf_counter()
    for event in events:
        engine.evaluate(event)
    return round(1e6 * (time.perf_counter() - t0) / len(events), 2)


def measure(bed: Testbed, count: int) -> dict[str, Any]:
    from eunomia import trackers as registry
    from eunomia.cli.context import build_context
    from eunomia.pipeline.scope import Scope
    from eunomia.pipeline.session import TraceSession
    from eunomia.sinks.jsonl import JsonLinesSink

    captured: dict[str, list[bytes]] = {}

    class CapturingSession(TraceSession):
        capturing = True

        def _handler(self, running: Any) -> Callable[[memoryview], None]:
            inner = super()._handler(running)
            if not self.capturing:
                return inner
            keep = captured.setdefault(running.tracker.name, [])

            def handle(record: memoryview) -> None:
                keep.append(bytes(record))
                inner(record)
            return handle

    chosen = registry.select(["exec", "file", "net"])
    context = build_context()
    session = CapturingSession(chosen, Scope(containers=(bed.loop,)), context)
    results: dict[str, Any] = {}
    with session, contextlib.closing(context):
        def ignore(tracker: Any, event: Any) -> None:
            pass
        for kind, rate in CAPTURE:
            proc = start_storm(bed, kind, rate, 0.5)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                session.poll(ignore, timeout=0.05)
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)
        session.drain(ignore)
        session.capturing = False  # handlers made from now on are the session's own
        lost = session.summary()["lost"]
        with open("/dev/null", "wb") as devnull:
            sink = JsonLinesSink(devnull)
            for running in session._running:
                name = running.tracker.name
                records = captured.get(name) or []
                if name == "cgroup" or not records:
                    continue
                ring = _replay_ring(records, count)
                decoder = running.obj.decoder
                printed = set(running.tracker.printed_kinds or ())

                def emit(tracker: Any, event: dict[str, Any], printed: set[str] = printed) -> None:
                    if not printed or event["type"] in printed:
                        sink.write(event)
                pipeline = session._handler(running)
                kept: list[dict[str, Any]] = []
                collect = session._handler(running)
                try:
                    row = {
                        "captured_records": len(records), "replayed_records": count,
                        "mean_record_bytes": round(sum(map(len, records)) / len(records)),
                        "drain_only_per_s": round(_rate(ring, lambda r: None, count)),
                        "drain_unpack_per_s": round(_rate(ring, _unpacker(decoder), count)),
                        "drain_decode_per_s": round(_rate(ring, decoder.decode, count)),
                    }
                    # one tracker's ring: nothing to merge by time, events go straight through (routing.py)
                    session.router.begin(emit, rings_with_records=1)
                    row["drain_decode_enrich_jsonl_per_s"] = round(_rate(ring, pipeline, count))
                    session.router.begin(lambda tracker, event: kept.append(event), rings_with_records=1)
                    _rate(ring, collect, count)
                    row["rules_us_per_event"] = _rules_cost(kept, session)
                finally:
                    ring.close()
                results[name] = row
                log(f"  {name}: unpack {row['drain_unpack_per_s']:,}/s, dict decode {row['drain_decode_per_s']:,}/s, "
                    f"decode+enrich+JSONL {row['drain_decode_enrich_jsonl_per_s']:,}/s, "
                    f"Falco's and the default rules {row['rules_us_per_event']} µs/event "
                    f"({len(records)} captured records, {row['mean_record_bytes']} B each)")
    return {"per_tracker": results, "capture_lost": lost,
            "method": ("RingBuffer.drain over an in-memory ring of captured records, 1,024 per drain (a poll's worth "
                       "at 10k events/s); one tracker's ring, so nothing to merge by time; one CPU")}
