"""A rule set from files: loaded, compiled, ready for an engine (one call for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .compile import CompiledRule, RuleCompileError, compile_rules
from .loader import RuleFiles, RuleLoadError, load_rule_files


class RuleSetError(ValueError):
    """A rules file cannot be used: one line, FILE:LINE:COLUMN first."""


@dataclass
class RuleSet:
    files: RuleFiles
    rules: list[CompiledRule]

    @property
    def enabled(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.test is not None]

    @property
    def disabled(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.test is None]


def load_rule_set(paths: list[Path]) -> RuleSet:
    try:
        files = load_rule_files(paths)
        return RuleSet(files, compile_rules(files))
    except (RuleLoadError, RuleCompileError) as exc:
        raise RuleSetError(str(exc)) from None
