"""`eunomia run`: the always-on monitor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..bpf import features
from ..api import DEFAULT_API_ADDRESS
from ..api.access import TOKEN_ENV
from ..metrics import DEFAULT_ADDRESS
from . import app
from .errors import RuntimeFailure, UsageError, check_seconds, handle_errors, require_root
from .ready import check_ready_file

if TYPE_CHECKING:
    from ..api.service import ApiService
    from .settings import Settings

EXAMPLES = f"""
Examples:

  eunomia run                                  # every container; metrics on {DEFAULT_ADDRESS}

  eunomia run -c web --metrics 0.0.0.0:9464    # one container, metrics for a remote Prometheus

  eunomia run --sink jsonl:/var/log/eunomia/events.jsonl     # keep every event, rotated by size

  eunomia record -d rec -- docker run --name web nginx   # then: alerts on what web never did in rec/
  eunomia run --baseline rec -c web

  eunomia run --rules falco_rules.yaml         # Falco's rules after Eunomia's defaults (--no-default-rules: only them)

  eunomia run --config /etc/eunomia/config.yaml              # the same from a file; SIGHUP re-reads it

  eunomia run -f json --events -T 60 | jq .type              # every event as JSON, for a minute

  eunomia run --api on                         # the live page and the API on http://127.0.0.1:8527/

  eunomia run --api 0.0.0.0:8527 --api-token-file /etc/eunomia/api-token   # reachable from elsewhere
"""



@app.command(epilog=EXAMPLES)
@handle_errors
def run(
    container: list[str] = typer.Option([], "-c", "--container", metavar="NAME|ID",
                                         help="Only this container (name, id or id prefix, also one that "
                                              "starts later); repeat for more. Default: every container."),
    host: Optional[bool] = typer.Option(None, "--host/--no-host", show_default=False,
                                        help="Include processes that run outside containers (default: no)."),
    tracker: list[str] = typer.Option([], "-t", "--tracker", metavar="NAME",
                                       help="Run this tracker (repeat); default: every streaming one."),
    metrics: Optional[str] = typer.Option(None, "--metrics", metavar="HOST:PORT|off",
                                          help=f"Serve Prometheus metrics at http://HOST:PORT/metrics "
                                               f"[default: {DEFAULT_ADDRESS}]; off: none.", show_default=False),
    sink: list[str] = typer.Option([], "--sink", metavar="KIND:TARGET",
                                   help="Send every event to this sink too (repeat), e.g. jsonl:PATH."),
    rules: list[Path] = typer.Option([], "--rules", metavar="FILE",
                                     help="Raise alerts from this rules file in Falco's syntax (repeat: loaded in "
                                          "order); see `eunomia rules check`."),
    no_default_rules: bool = typer.Option(False, "--no-default-rules",
                                          help="Only the --rules files: leave Eunomia's default rules out "
                                               "(docs/rules.md)."),
    baseline: list[Path] = typer.Option([], "--baseline", metavar="DIR",
                                        help="Alert when a container does what its recording in DIR (made by "
                                             "`eunomia record`; matched by name, else image) never did: a new "
                                             "program, directory written, peer or syscall. Repeat to merge."),
    resolve: Optional[str] = typer.Option(None, "--resolve", metavar="hosts|dns",
                                          help="How rules' fd.sip.name and the like name addresses: the host's "
                                               "/etc/hosts (default, no query leaves the machine) or dns (the "
                                               "system resolver, in the background)."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="FILE",
                                          help="Read these settings from a YAML file (docs/config.md); the "
                                               "options given here win. SIGHUP re-reads it."),
    timeout: Optional[float] = typer.Option(None, "-T", "--timeout", metavar="SECONDS",
                                            help="Stop after this many seconds (default: run until stopped)."),
    fmt: Optional[str] = typer.Option(None, "-f", "--format", metavar="table|json",
                                      help="table: a live view per container (default on a terminal); "
                                           "json: JSON lines on standard output (default when piped)."),
    events: Optional[bool] = typer.Option(None, "--events/--no-events", show_default=False,
                                          help="With -f json: write every event as a JSON line "
                                               "(default: only the summary line at the end)."),
    api: Optional[str] = typer.Option(None, "--api", metavar="HOST:PORT|on|off",
                                      help=f"Serve the HTTP API (REST, GraphQL, a stream) and a live page at "
                                           f"http://HOST:PORT/ (on: {DEFAULT_API_ADDRESS}) [default: off]; "
                                           "docs/api.md.", show_default=False),
    api_token_file: Optional[Path] = typer.Option(
        None, "--api-token-file", metavar="FILE",
        help=f"Every API request must carry this file's token (Authorization: Bearer); also from "
             f"${TOKEN_ENV}. Needed to serve on an address other than loopback."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", metavar="DIR",
                                            help="Where the agent keeps the recordings the API makes "
                                                 "[default: /var/lib/eunomia].", show_default=False),
    ready_file: Optional[Path] = typer.Option(
        None, "--ready-file", metavar="FILE",
        help="Create FILE (holding eunomia's pid) once every probe is attached and metrics are served."),
    debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks."),
) -> None:
    """Watch containers all the time: a live view, Prometheus metrics, sinks.

    SIGTERM or Ctrl-C flushes every sink and exits 0.  Counts the kernel
    keeps (bytes per file, syscalls) are read from its maps when Prometheus
    scrapes; the summary line at the end says what was received and lost.
    """
    # the monitor's modules (rules, metrics, drift) load with this command, not with every one
    from .monitor import Monitor
    from .settings import Settings, load_drift, load_rules, read_config

    check_seconds(timeout)
    cli = {"trackers": tracker, "containers": container, "host": host, "metrics": metrics, "sinks": sink,
           "rules": [str(r) for r in rules], "no_default_rules": no_default_rules, "baselines": [str(b) for b in baseline], "resolve": resolve, "format": fmt,
           "events": events, "api": api, "api_token_file": str(api_token_file) if api_token_file else None,
           "data_dir": str(data_dir) if data_dir else None}
    settings = Settings.merge(cli, read_config(config))
    chosen, address = settings.check()
    service = _api_service(settings)
    engine = load_rules(settings.rules, settings.default_rules)
    drift = load_drift(settings.baselines)
    check_ready_file(ready_file)
    require_root("eunomia run")
    btf = features.probe("btf")
    if not btf.available:
        raise RuntimeFailure(f"no kernel BTF: {btf.detail}")
    monitor = Monitor(settings, cli, config, engine, drift, api=service)
    try:
        monitor.run(chosen, address, timeout, ready_file)
    finally:
        monitor.close_sinks(None)


def _api_service(settings: "Settings") -> "ApiService | None":
    """The API as the settings ask (None: off); bad input is a UsageError naming the fix."""
    address = settings.api_address()
    if address is None:
        return None
    from ..api.access import AccessError, read_token
    from ..api.service import ApiService
    try:
        token = read_token(Path(settings.api_token_file) if settings.api_token_file else None, os.environ)
        return ApiService(address, token)
    except AccessError as exc:
        raise UsageError(str(exc)) from None

