"""A rule set from files: loaded, compiled, ready for an engine (one call for the CLI).

    rule_set = load_rule_set([Path("falco_rules.yaml")], defaults=True)   # Eunomia's first, then the files

Eunomia's default rules (default_rules.yaml, beside this module) come first
when asked for, so the files after them can append to their lists and
macros or switch one of them off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .compile import CompiledRule, RuleCompileError, compile_rules
from .loader import RuleFiles, RuleLoadError, load_rule_files

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")


class RuleSetError(ValueError):
    """A rules file cannot be used: one line, FILE:LINE:COLUMN first."""


class _Split:
    """Rules that run here, and rules that cannot (with why)."""

    rules: list[CompiledRule]

    @property
    def enabled(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.test is not None]

    @property
    def disabled(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.test is None]


@dataclass(frozen=True)
class FileCounts(_Split):
    """What one file of a set defined (as it stands after every file loaded)."""

    path: Path
    lists: int
    macros: int
    rules: list[CompiledRule]


@dataclass
class RuleSet(_Split):
    files: RuleFiles
    rules: list[CompiledRule]
    paths: tuple[Path, ...] = ()

    def by_file(self) -> list[FileCounts]:
        """Per file, in load order: the lists, macros and rules it defined."""
        return [FileCounts(path,
                           sum(1 for d in self.files.lists.values() if d.where.path == path),
                           sum(1 for d in self.files.macros.values() if d.where.path == path),
                           [r for r in self.rules if r.rule.where.path == path])
                for path in self.paths]


def load_rule_set(paths: list[Path], *, defaults: bool = False) -> RuleSet:
    chosen = ([DEFAULT_RULES] if defaults else []) + list(paths)
    try:
        files = load_rule_files(chosen)
        return RuleSet(files, compile_rules(files), tuple(chosen))
    except (RuleLoadError, RuleCompileError) as exc:
        raise RuleSetError(str(exc)) from None
