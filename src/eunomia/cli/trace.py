"""`eunomia trace`: stream events of containers live."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .. import outputs
from .. import trackers as tracker_registry
from ..bpf import features
from ..pipeline.runner import Runner, Signals
from ..pipeline.scope import Scope
from ..sinks import FORMATS, make_sink
from ..sinks.escape import escape_text
from . import app
from .context import build_context
from .errors import RuntimeFailure, UsageError, check_seconds, handle_errors, require_root
from .ready import announce_ready, check_ready_file

EXAMPLES = """
Examples:

  eunomia trace                          # every tracker, every container, until Ctrl-C

  eunomia trace exec -c web -T 30        # processes of container "web" for 30 s

  eunomia trace exec --host -f json | jq .process.args    # host processes too, as JSON

  eunomia trace exec -c web -c db -o events.jsonl         # two containers into a file

  eunomia trace -c web --show-runtime    # the table with runc's set-up of web too
"""


@app.command(epilog=EXAMPLES)
@handle_errors
def trace(
    trackers: Optional[list[str]] = typer.Argument(
        None, help="Trackers to run (default: every streaming one). Known: "
        + ", ".join(f"{t.name}{'' if t.streaming else ' (aggregates, printed at the end)'}"
                    for t in tracker_registry.selectable().values()),
        show_default=False),
    container: list[str] = typer.Option([], "-c", "--container", metavar="NAME|ID",
                                         help="Only this container (name, id or id prefix); repeat for more."),
    host: bool = typer.Option(False, "--host", help="Include processes that run outside containers."),
    timeout: Optional[float] = typer.Option(None, "-T", "--timeout", metavar="SECONDS",
                                            help="Stop after this many seconds."),
    fmt: Optional[str] = typer.Option(None, "-f", "--format", metavar="table|json|csv",
                                      help="Output format (default: table on a terminal, json otherwise)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE",
                                          help="Write events to FILE (a regular file is replaced; /dev/null, "
                                               "/dev/stdout or a pipe are written to; other links are refused)."),
    ready_file: Optional[Path] = typer.Option(
        None, "--ready-file", metavar="FILE",
        help="Create FILE (holding eunomia's pid) once every probe is attached: scripts wait for it."),
    show_runtime: bool = typer.Option(
        False, "--show-runtime",
        help="In the table, also show the container runtime's set-up (runc's stages) and capability checks "
             "that only probe; JSON and CSV always carry them (process.runtime_setup, capability.probe)."),
    verbose: bool = typer.Option(False, "-v", "--verbose",
                                 help="In the table, every field of each event after its phrase (lines are not cut)."),
    debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks."),
) -> None:
    """Stream what containers do, live: one event per line.

    Filtering by container happens in the kernel: events of other
    containers and of the host never reach user space.  When tracing ends
    (timeout, Ctrl-C, SIGTERM) a summary with the counts of events received,
    filtered and lost is printed (a final "summary" line in JSON).
    """
    chosen = tracker_registry.select(trackers or [])
    check_seconds(timeout)
    for selector in container:
        if not selector.strip():
            raise UsageError(f"-c {selector!r} names no container; give a container name, id or id prefix")
    if output is not None:
        outputs.check(output, "-o")
    if fmt is None:
        fmt = "table" if output is None and sys.stdout.isatty() else "json"
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    check_ready_file(ready_file)
    require_root("eunomia trace")
    btf = features.probe("btf")
    if not btf.available:
        raise RuntimeFailure(f"no kernel BTF: {btf.detail}")

    out = _open_output(output)
    scope = Scope(containers=tuple(container), host=host)
    sink = make_sink(fmt, out, stderr=sys.stderr, show_runtime=show_runtime, verbose=verbose)
    signals = Signals.install()
    try:
        _run(chosen, scope, sink, signals, timeout, ready_file)
    finally:
        out.close()


def _open_output(output: Path | None) -> outputs.Guarded:
    """Standard output, or FILE by the rules of eunomia.outputs; a failed
    write is one line naming the fix (a closed pipe ends quietly)."""
    if output is None:
        return outputs.stdout("-o")
    return outputs.open_stream(output, "-o")


def _run(chosen: list[tracker_registry.TrackerDef], scope: Scope, sink: Any,
         signals: Signals, timeout: float | None, ready_file: Path | None = None) -> dict[str, Any]:
    printed = {t.name: set(t.printed_kinds) if t.printed_kinds else None for t in chosen}

    def emit(tracker: tracker_registry.TrackerDef, event: dict[str, Any]) -> None:
        kinds = printed.get(tracker.name)
        if kinds is None or event["type"] in kinds:
            sink.write(event)

    with Runner(chosen, scope, build_context, signals=signals, timeout=timeout) as runner:
        typer.echo(f"eunomia: tracing {', '.join(t.name for t in chosen)} in {describe_scope(scope)} "
                   f"(probes attached in {runner.attached_s:.2f}s); Ctrl-C to stop", err=True)
        announce_ready(ready_file)
        runner.pump(emit, after_poll=sink.flush)
        summary = runner.finish(emit)
        for record in runner.aggregates():
            sink.write(record)
    sink.close(summary)
    return summary


def describe_scope(scope: Scope) -> str:
    where = ", ".join(map(escape_text, scope.containers)) if scope.containers else "all containers"
    return where + " and the host" if scope.host else where
