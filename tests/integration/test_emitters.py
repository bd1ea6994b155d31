"""The compiled emitters yield exactly the generic path's events.

Real records of every streaming tracker, captured from the kernel while a
container opens, renames, links, chmods and chowns files, listens, connects
and accepts on loopback, and signals a child, are turned into events twice:
by the generic path (RecordDecoder.decode into a dict, then
Enricher.enrich) and by the (tracker, kind)'s compiled emitter, each from
the same process table.  The JSON must be byte for byte the same, key
order included, and so must the process table each leaves behind.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable

import orjson

from eunomia import trackers as tracker_registry
from eunomia.cli.context import build_context
from eunomia.pipeline.scope import Scope
from eunomia.pipeline.session import TraceSession

from .conftest import unique

WORKLOAD = (
    "cd /tmp && echo data > a && cat a >/dev/null && mv a b && ln b c && ln -s b d && chmod 600 b "
    "&& chown 1:1 b && truncate -s 1 b && mkdir e && rmdir e && rm b c d; cat /nonexistent 2>/dev/null; "
    "nc -l -p 9100 >/dev/null & sleep 0.3; echo hi | nc -w 1 127.0.0.1 9100; nc -w 1 127.0.0.1 9101; "
    "sleep 30 & kill -TERM $!; kill -0 1; wait; exit 0"
)


class CapturingSession(TraceSession):
    """Keeps a copy of every raw record each tracker's handler is given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.captured: dict[str, list[bytes]] = {}

    def _handler(self, running: Any) -> Callable[[memoryview], None]:
        inner = super()._handler(running)
        keep = self.captured.setdefault(running.tracker.name, [])

        def handle(record: memoryview) -> None:
            keep.append(bytes(record))
            inner(record)
        return handle


def test_compiled_emitters_match_the_generic_path(containers):
    chosen = tracker_registry.select(["exec", "file", "net", "signal", "cap"])
    name = unique("emit")
    context = build_context()
    session = CapturingSession(chosen, Scope(containers=(name,), allow_pending=True), context)
    compared: dict[tuple[str, str], int] = {}
    with session, contextlib.closing(context):
        ignore: Callable[..., None] = lambda tracker, event: None  # noqa: E731
        result = containers.run(name, "sh", "-c", WORKLOAD)
        assert result.returncode == 0, result.stderr
        session.drain(ignore)
        for running in session._running:
            tracker, decoder = running.tracker, running.obj.decoder
            for record in session.captured.get(tracker.name, []):
                decoded = decoder.decode(record)
                assert decoded is not None
                kind, rec = decoded
                emitter = session.enricher.emitter(tracker, kind)
                if emitter is None:
                    continue
                # both paths start from the same process table (exec, fork and exit change it)
                table = session.enricher.processes
                before = copy.deepcopy(table.__dict__)
                generic = session.enricher.enrich(tracker, kind, rec)
                after_generic = copy.deepcopy(table.__dict__)
                table.__dict__.update(copy.deepcopy(before))
                op, compiled = emitter(memoryview(record))
                assert table.__dict__ == after_generic, (tracker.name, kind, "process table")
                assert op == rec.get("op", kind)
                assert orjson.dumps(compiled) == orjson.dumps(generic), (tracker.name, kind)
                compared[(tracker.name, compiled["type"])] = compared.get((tracker.name, compiled["type"]), 0) + 1
                if tracker.name == "file":
                    last_file = (emitter, record)
        # the cached `process` object of a file event follows the process table (an exec, say)
        emitter, record = last_file
        before = emitter(memoryview(record))[1]["process"]
        session.enricher.processes.on_exec(before["pid"], before["parent"]["pid"], name=before["name"],
                                           executable="/changed/program", args=["program", "--new"],
                                           cwd="/changed", uid=0, ts=0, cgroup_id=None)
        after = emitter(memoryview(record))[1]["process"]
        assert (after["executable"], after["args"], after["working_directory"]) == (
            "/changed/program", ["program", "--new"], "/changed")
        assert before["executable"] != "/changed/program"
    for expected in (("file", "open"), ("file", "rename"), ("file", "link"), ("file", "symlink"),
                     ("file", "chmod"), ("file", "chown"), ("file", "truncate"), ("file", "mkdir"),
                     ("file", "rmdir"), ("file", "unlink"), ("net", "listen"), ("net", "connect"),
                     ("net", "accept"), ("net", "close"), ("signal", "signal"), ("cap", "capability"),
                     ("exec", "exec"), ("exec", "fork"), ("exec", "exit")):
        assert compared.get(expected, 0) >= 1, f"no {expected} record compared: {sorted(compared)}"
