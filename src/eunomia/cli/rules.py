"""`eunomia rules check`: load and compile Falco-syntax rule files, say what runs."""

from __future__ import annotations

from pathlib import Path

import typer

from ..sinks.escape import escape_text
from . import app
from .errors import UsageError, handle_errors

rules_app = typer.Typer(help="Falco-syntax runtime security rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

EXAMPLES = """
Examples:

  eunomia rules check                                  # Eunomia's default rules

  eunomia rules check falco_rules.yaml                 # the defaults, then this file: what runs, what cannot

  eunomia rules check --no-default-rules a.yaml b.yaml # only these, in order: later ones append and override
"""


@rules_app.command("check", epilog=EXAMPLES)
@handle_errors
def check(files: list[Path] = typer.Argument(None, metavar="[FILE]...", show_default=False,
                                             help="Rule files (YAML, Falco's syntax), loaded after the defaults."),
          no_default_rules: bool = typer.Option(False, "--no-default-rules",
                                                help="Leave Eunomia's default rules out, as `run` would."),
          debug: bool = typer.Option(False, "--debug", help="Verbose logs and tracebacks.")) -> None:
    """Load and compile rule files as `eunomia run` would: per file, its
    lists, macros and rules, then every rule that cannot run here (a field
    or event type this kernel side does not give yet, or `enabled: false`)
    with the reason.  Exit 0 when every file compiled; 2 with one line
    FILE:LINE:COLUMN naming what is wrong."""
    from ..rules.ruleset import DEFAULT_RULES, RuleSetError, load_rule_set  # lark: with this command only

    files = list(files or [])
    if no_default_rules and not files:
        raise UsageError("--no-default-rules leaves nothing to check: give rule files too")
    try:
        rule_set = load_rule_set(files, defaults=not no_default_rules)
    except RuleSetError as exc:
        raise UsageError(str(exc)) from None
    for counts in rule_set.by_file():
        name = "default rules" if counts.path == DEFAULT_RULES else escape_text(str(counts.path))
        typer.echo(f"{name}: compiled {counts.lists} lists, {counts.macros} macros, {len(counts.rules)} rules: "
                   f"{len(counts.enabled)} run, {len(counts.disabled)} disabled")
        for rule in counts.disabled:
            typer.echo(f"  disabled: {escape_text(rule.rule.name)} ({rule.rule.where.line}): "
                       f"{escape_text(rule.disabled or '')}")
