"""The `eunomia` command line."""

from __future__ import annotations

import gc

import typer

from .. import __version__

app = typer.Typer(
    name="eunomia",
    help="eBPF monitor for containers: what each container really does, and the least privilege it needs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"eunomia {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """eBPF monitor for containers."""


from . import doctor as _doctor  # noqa: E402,F401  (registers commands)
from . import trace as _trace  # noqa: E402,F401
from . import report as _report  # noqa: E402,F401
from . import record as _record  # noqa: E402,F401
from . import advise as _advise  # noqa: E402,F401
from . import run as _run_command  # noqa: E402,F401
from . import rules as _rules  # noqa: E402,F401


def main() -> None:
    try:
        app()
    finally:
        # The collector would otherwise walk every object of every module as
        # the interpreter ends: 0.4 s with the API's web stack loaded, for
        # memory the process is giving back anyway.
        gc.freeze()
