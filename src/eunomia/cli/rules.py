"""`eunomia rules check`: load and compile Falco-syntax rule files, say what runs."""

from __future__ import annotations

from pathlib import Path

import typer

from ..rules.ruleset import RuleSetError, load_rule_set
from ..sinks.escape import escape_text
from . import app
from .errors import UsageError, handle_errors

rules_app = typer.Typer(help="Falco-syntax runtime security rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

EXAMPLES = """
Examples:

  eunomia rules check falco_rules.yaml                 # what compiles, what is disabled and why

  eunomia rules check falco_rules.yaml my_rules.yaml   # files in order: later ones append and override
"""


@rules_app.command("check", epilog=EXAMPLES)
@handle_errors
def check(files: list[Path] = typer.Argument(..., metavar="FILE...", help="Rule files (YAML, Falco's syntax)."),
          debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks.")) -> None:
    """Load and compile rule files: lists, macros and rules, then every rule
    that cannot run here (a field or event type this kernel side does not
    give yet, or `enabled: false`) with the reason.  Exit 0 when every file
    compiled; 2 with one line FILE:LINE:COLUMN naming what is wrong."""
    try:
        rule_set = load_rule_set(files)
    except RuleSetError as exc:
        raise UsageError(str(exc)) from None
    loaded = rule_set.files
    where = ", ".join(escape_text(str(f)) for f in files)
    typer.echo(f"{where}: compiled {len(loaded.lists)} lists, {len(loaded.macros)} macros, "
               f"{len(rule_set.rules)} rules: {len(rule_set.enabled)} run, {len(rule_set.disabled)} disabled")
    for rule in rule_set.disabled:
        typer.echo(f"  disabled: {escape_text(rule.rule.name)} ({rule.rule.where.line}): {escape_text(rule.disabled or '')}")
