"""`eunomia report`: show a recording on the terminal, or write it as one HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .. import outputs
from ..report import RecordingError, load_recording, select_containers
from ..report import console as console_view
from ..report import html as html_view
from ..sinks.escape import escape_text
from . import app
from .errors import UsageError, handle_errors, warn

EXAMPLES = """
Examples:

  eunomia report rec/                      # every container of the recording, on the terminal

  eunomia report rec/ -c web -c db         # only these containers

  eunomia report rec/ --html rec.html      # one self-contained page (no script, nothing fetched)

  eunomia report rec/ --top 50 | less -R   # longer tables
"""


@app.command(epilog=EXAMPLES)
@handle_errors
def report(
    directory: Path = typer.Argument(..., metavar="DIR", show_default=False,
                                     help="A recording directory (written by 'eunomia record')."),
    html: Optional[Path] = typer.Option(None, "--html", metavar="FILE",
                                        help="Write the report as one HTML page to FILE and print its path "
                                             "(a regular file is replaced whole; /dev/stdout or a pipe "
                                             "is written to; other links are refused)."),
    container: list[str] = typer.Option([], "-c", "--container", metavar="NAME|ID",
                                         help="Only this container (name, folder, id or id prefix); repeat for more."),
    top: int = typer.Option(15, "--top", metavar="N", min=1, help="Rows of each terminal table."),
    debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks."),
) -> None:
    """Show what each container of a recording did: processes, files, network, signals,
    capabilities, syscalls.

    Works on a recording that is still being written, or whose recorder was
    killed: what is missing is named in a warning.  Needs no root.
    """
    try:
        recording = load_recording(directory)
        chosen = select_containers(recording, container)
    except RecordingError as exc:
        raise UsageError(str(exc)) from None
    if html is None:
        out = outputs.stdout_text()  # a closed pipe ends quietly, a full disk in one line
        console_view.render(Console(file=out, highlight=False, emoji=False), recording, chosen, rows=top)
        return
    for warning in recording.warnings:
        warn(warning)
    # whole or not at all; a device, a pipe or /dev/stdout is written to, never replaced
    if not outputs.write_file(html, html_view.render(recording, chosen).encode("utf-8"), "--html"):
        typer.echo(escape_text(str(html)))
