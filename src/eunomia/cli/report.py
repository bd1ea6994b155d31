"""`eunomia report`: show a recording on the terminal, or write it as one HTML page."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

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
                                        help="Write the report as one HTML page to FILE and print its path."),
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
        console_view.render(Console(highlight=False, emoji=False), recording, chosen, rows=top)
        return
    for warning in recording.warnings:
        warn(warning)
    _write(html, html_view.render(recording, chosen))
    typer.echo(escape_text(str(html)))


def _write(path: Path, page: str) -> None:
    """Write the page whole or not at all (a temporary file renamed over FILE)."""
    where = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=where)
    except OSError as exc:
        raise UsageError(f"cannot write {escape_text(str(path))}: {exc.strerror}; "
                         "choose a writable path for --html") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write {escape_text(str(path))}: {exc.strerror}; "
                         "choose a writable path for --html") from None
