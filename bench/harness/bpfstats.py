"""BPF run time per program (kernel.bpf_stats_enabled) and the agent's
kernel counters, read from outside the agent.

A process's BPF programs and maps are found through its file descriptors
(/proc/<pid>/fdinfo has prog_id + run_time_ns + run_cnt, or map_id); names
come from `bpftool prog show` / `bpftool map show`.  The stats clock reads
themselves cost time, so empty tp_btf programs on sys_enter and sys_exit
(bench/harness/empty.bpf.c; the dispatcher's kind of program) are loaded
beside the agent as the baselines: the dispatcher's ns per run minus its
hook's baseline is what it adds to an empty program, per syscall.
The raw_tp empty programs of the same file, attached alone, are the
matrix's "hook floor" conditions.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from .util import BENCH, BUILD, BenchError, sh

SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")


@contextlib.contextmanager
def stats_enabled() -> Iterator[None]:
    """kernel.bpf_stats_enabled=1 inside, the previous value restored after."""
    before = SYSCTL.read_text().strip()
    SYSCTL.write_text("1")
    try:
        yield
    finally:
        SYSCTL.write_text(before)


def _fdinfos(pid: int | str, kind: str) -> Iterator[dict[str, str]]:
    """fdinfo of every fd of `pid` that is an anon_inode:bpf-<kind>."""
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(fd_dir / fd) != f"anon_inode:bpf-{kind}":
                continue
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        yield dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def prog_counters(pid: int | str = "self") -> dict[int, tuple[int, int]]:
    """prog id → (run_time_ns, run_cnt) for the programs `pid` holds."""
    out: dict[int, tuple[int, int]] = {}
    for info in _fdinfos(pid, "prog"):
        if "prog_id" in info:
            out[int(info["prog_id"])] = (int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0)))
    return out


def prog_names() -> dict[int, dict[str, Any]]:
    """prog id → name, type and object: libbpf names an object's .rodata map
    "<object name, cut>.rodata" (file_bpf.rodata), which tells the tracker."""
    progs = json.loads(sh(["bpftool", "prog", "show", "-j"]).stdout)
    maps = {m["id"]: m.get("name", "") for m in json.loads(sh(["bpftool", "map", "show", "-j"]).stdout)}
    out = {}
    for p in progs:
        rodata = [maps.get(i, "") for i in p.get("map_ids", []) if maps.get(i, "").endswith(".rodata")]
        obj = rodata[0].split(".")[0].split("_")[0] if rodata else ""
        out[p["id"]] = {"name": p.get("name", "?"), "type": p.get("type", "?"), "object": obj}
    return out


def per_run(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]],
            names: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Programs that ran between two snapshots: ns per run, runs."""
    rows = []
    for pid, (t1, n1) in after.items():
        t0, n0 = before.get(pid, (0, 0))
        if n1 > n0:
            info = names.get(pid, {"name": f"prog {pid}", "type": "?"})
            rows.append({"id": pid, "name": info["name"], "type": info["type"], "object": info.get("object", ""),
                         "runs": n1 - n0,
                         "ns_per_run": round((t1 - t0) / (n1 - n0), 1)})
    return sorted(rows, key=lambda r: -r["runs"])


class EmptyProgram:
    """An empty program on raw_tp/sys_enter or raw_tp/sys_exit (or, btf-*,
    tp_btf), loaded in this process (bench/harness/empty.bpf.c)."""

    source = BENCH / "harness" / "empty.bpf.c"
    obj_path = BUILD / "empty.bpf.o"
    PROGRAMS: ClassVar[dict[str, str]] = {"sys_enter": "bench_empty_enter", "sys_exit": "bench_empty_exit",
                                          "btf-sys_enter": "bench_btf_enter", "btf-sys_exit": "bench_btf_exit"}

    def __init__(self, hook: str = "sys_enter") -> None:
        self.program = self.PROGRAMS[hook]
        self.prog_id = -1

    def __enter__(self) -> EmptyProgram:
        if not self.obj_path.exists() or self.obj_path.stat().st_mtime < self.source.stat().st_mtime:
            self.obj_path.parent.mkdir(parents=True, exist_ok=True)
            sh(["clang", "-target", "bpf", "-O2", "-g", "-c", str(self.source), "-o", str(self.obj_path)])
        from eunomia.bpf.object import ObjectSpec
        spec = ObjectSpec(self.obj_path)
        try:
            for name, program in spec.programs.items():
                program.autoload = name == self.program
            self.obj = spec.load()
            self.obj.attach_all()
        except BaseException:
            spec.close()
            raise
        self.prog_id = self._own_prog_id()
        return self

    def _own_prog_id(self) -> int:
        fd = self.obj.programs[self.program].fd
        info = Path(f"/proc/self/fdinfo/{fd}").read_text()
        for line in info.splitlines():
            if line.startswith("prog_id:"):
                return int(line.split()[1])
        raise BenchError("cannot find the empty program's id")

    def counters(self) -> dict[int, tuple[int, int]]:
        return {k: v for k, v in prog_counters("self").items() if k == self.prog_id}

    def __exit__(self, *exc: object) -> None:
        self.obj.close()


# -- the agent's kernel counters (enum eun_stat in every tracker's tracker_stats map)
def _stat_names() -> dict[int, str]:
    from eunomia.bpf.layout import enum_short_names
    from eunomia.bpf.object import ObjectSpec
    from eunomia.trackers import discover
    with ObjectSpec(discover()["cgroup"].object_path) as spec:
        values = tuple(spec.btf.enum("eun_stat").items())
    return {v: n for v, n in enum_short_names(values).items() if n != "max"}


class AgentCounters:
    """Sums of the agent's tracker_stats counters (submitted, lost, …), live."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.names = _stat_names()
        ids = {int(i["map_id"]) for i in _fdinfos(pid, "map") if "map_id" in i}
        maps = json.loads(sh(["bpftool", "map", "show", "-j"]).stdout)
        self.map_ids = [m["id"] for m in maps if m["id"] in ids and m.get("name") == "tracker_stats"]
        if not self.map_ids:
            raise BenchError(f"no tracker_stats map in process {pid}")

    def read(self) -> dict[str, int]:
        totals = {name: 0 for name in self.names.values()}
        for map_id in self.map_ids:
            for entry in json.loads(sh(["bpftool", "map", "dump", "id", str(map_id), "-j"]).stdout):
                formatted = entry.get("formatted", {})
                key = formatted.get("key")
                if key is None:  # no BTF: little-endian bytes
                    key = int.from_bytes(bytes(int(b, 16) for b in entry["key"]), "little")
                    values = [int.from_bytes(bytes(int(b, 16) for b in v["value"]), "little") for v in entry["values"]]
                else:
                    values = [v["value"] for v in formatted["values"]]
                if key in self.names:
                    totals[self.names[key]] += sum(values)
        return totals


# the dispatcher's programs, by the hook they are on
DISPATCHER = {"dispatch_sys_enter": "sys_enter", "dispatch_sys_exit": "sys_exit"}


def profile_windows(agent_pid: int, baselines: dict[str, EmptyProgram],
                    windows: dict[str, Callable[[], object]]) -> dict[str, Any]:
    """BPF ns per run of the agent's programs (and the empty baselines, by
    hook) during each window (a workload run).  Call with stats enabled."""
    names = prog_names()
    ours = {b.prog_id for b in baselines.values()}
    out: dict[str, Any] = {}
    for label, run in windows.items():
        before = {**prog_counters(agent_pid), **{k: v for b in baselines.values() for k, v in b.counters().items()}}
        run()
        after = {**prog_counters(agent_pid), **{k: v for b in baselines.values() for k, v in b.counters().items()}}
        rows = per_run(before, after, names)
        base = {hook: next((r["ns_per_run"] for r in rows if r["id"] == b.prog_id), None)
                for hook, b in baselines.items()}
        programs = [r for r in rows if r["id"] not in ours]
        above = [r["ns_per_run"] - base[DISPATCHER[r["name"]]] for r in programs
                 if r["name"] in DISPATCHER and base.get(DISPATCHER[r["name"]]) is not None]
        out[label] = {"baseline_ns_per_run": base.get("sys_enter"), "baselines_ns_per_run": base,
                      # each runs once per syscall: the sum is per syscall
                      "dispatcher_above_floor_ns": round(sum(above), 1) if above else None,
                      "programs": programs}
    return out
