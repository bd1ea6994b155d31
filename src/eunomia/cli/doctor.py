"""`eunomia doctor`: what this machine offers and what it means for each tracker."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import trackers as tracker_registry
from ..bpf import features
from ..bpf.tracefs import mounted_by_us, tracefs_root
from ..context.docker import DockerResolver, DockerUnavailable
from ..context.mounts import find_cgroup_mounts
from ..context.oci import OciRoots
from . import app
from .errors import handle_errors

ESSENTIAL = ("btf", "ringbuf", "raw_tracepoint", "bpf_loop", "tp_btf")


@app.command(epilog="Example:\n\n  sudo eunomia doctor")
@handle_errors
def doctor(debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks.")) -> None:
    """Check kernel features, cgroups and container runtimes; exit 1 if tracing cannot work."""
    console = Console(highlight=False)
    problems: list[str] = []
    root = os.geteuid() == 0
    if not root:
        problems.append("not root: BPF programs cannot be loaded (run with sudo)")

    table = Table(title="Kernel features", title_justify="left")
    for column in ("feature", "status", "meaning / detail"):
        table.add_column(column)
    found: dict[str, features.Feature] = {}
    for name in features.DESCRIPTIONS:
        if name == "btf" or root:
            found[name] = features.probe(name)
            ok = found[name].available
            status = "[green]yes[/]" if ok else ("[red]NO[/]" if name in ESSENTIAL else "[yellow]no[/]")
            detail = features.DESCRIPTIONS[name] + ("" if ok else f" — {found[name].detail}")
        else:
            status, detail = "[yellow]?[/]", "needs root to probe"
        table.add_row(name, status, escape(detail))
        if name in ESSENTIAL and name in found and not found[name].available:
            problems.append(f"{name} unavailable: {found[name].detail}")
    tfs = tracefs_root()
    if tfs is not None and mounted_by_us() == tfs:
        tfs_status, tfs_detail = "[green]mounted by eunomia[/]", f"at {tfs} (it was not mounted)"
    elif tfs is not None:
        tfs_status, tfs_detail = "[green]mounted[/]", f"at {tfs}"
    else:
        tfs_status = "[yellow]not mounted[/]"
        tfs_detail = (found["tracepoint"].detail if "tracepoint" in found
                      else "tracing does not need it; doctor mounts it (as root) to probe classic tracepoints")
    table.add_row("tracefs", tfs_status, escape(tfs_detail))
    console.print(table)

    trackers = Table(title="Trackers", title_justify="left")
    for column in ("tracker", "usable", "what it traces"):
        trackers.add_column(column)
    for tracker in tracker_registry.discover().values():
        missing = [n for n in tracker.needs if n in found and not found[n].available]
        off = sorted({p for p, f in tracker.optional_programs.items() if f in found and not found[f].available})
        usable = "[red]no[/] (needs " + ", ".join(missing) + ")" if missing else (
            "[green]yes[/]" if root else "[yellow]?[/]")
        note = f"; off: {', '.join(off)}" if off else ""
        trackers.add_row(tracker.name + (" (internal)" if tracker.internal else ""), usable,
                         escape(tracker.summary + note))
    console.print(trackers)

    mounts = find_cgroup_mounts()
    console.print(f"[bold]cgroups[/]: {mounts.mode}" + (f", v2 at {mounts.unified}" if mounts.unified else ""))
    if mounts.unified is None:
        console.print("  no cgroup v2: containers are filtered in user space by /proc/<pid>/cgroup "
                      "(the kernel filter needs cgroup v2 ids)")
    console.print("[bold]container runtimes[/]:")
    docker = DockerResolver(timeout=2)
    try:
        docker.connect()
        console.print(f"  docker: [green]reachable[/], {len(docker.running())} running containers")
    except DockerUnavailable as exc:
        console.print(f"  docker: [yellow]not reachable[/] ({escape(str(exc))}): names and images will be missing")
    finally:
        docker.close()
    roots = OciRoots()
    for label, path in _runtime_dirs(roots):
        state = "[green]found[/]" if path.exists() else "not found"
        console.print(f"  {label}: {state} ({path})")

    if problems:
        for p in problems:
            console.print(f"[red]✗[/] {escape(p)}")
        console.print("[red]tracing cannot work on this machine as it is[/]")
        raise typer.Exit(1)
    console.print("[green]✓ tracing can work[/]")


def _runtime_dirs(roots: OciRoots) -> list[tuple[str, Path]]:
    return [("containerd state", state) for state in roots.containerd_states] + [
        ("cri-o / podman storage", root) for root in roots.storage_roots]
