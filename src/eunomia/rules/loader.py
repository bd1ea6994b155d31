"""Falco rule files → lists, macros and rules, with Falco's override semantics.

A file is a YAML sequence of items: `list` (items), `macro` (condition),
`rule` (condition, output, priority, desc, tags, enabled, exceptions, …),
`required_engine_version`, `required_plugin_versions`.  A later item of
the same name replaces the earlier one, unless it says `append: true`
(items, condition and exceptions are appended) or `override:` (per key:
`append` or `replace`).  A rule item with only `enabled` switches an
existing rule on or off.  Files are loaded in order; every item keeps its
file:line for errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..inputs import read_small_file, why_unreadable
from .syntax import Node, RuleSyntaxError, parse

ENGINE_VERSION = (0, 57, 0)  # the Falco engine version whose rule syntax is understood (fields: fields.py)
PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
_PRIORITY_ALIASES = {"info": "informational", "warn": "warning", "err": "error", "crit": "critical",
                     "emerg": "emergency"}
MAX_BYTES = 8 << 20


class RuleLoadError(ValueError):
    """One line: FILE:LINE:COLUMN: the item, what is wrong, the fix."""


@dataclass(frozen=True)
class Where:
    path: Path
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass
class ListDef:
    name: str
    items: list[str]
    where: Where


@dataclass
class MacroDef:
    name: str
    text: str            # as written (appends extend the text, as in Falco)
    condition: Node
    where: Where


@dataclass
class RuleDef:
    name: str
    text: str
    condition: Node
    output: str
    priority: str
    where: Where
    desc: str = ""
    tags: tuple[str, ...] = ()
    enabled: bool = True
    source: str = "syscall"
    exceptions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RuleFiles:
    lists: dict[str, ListDef] = field(default_factory=dict)
    macros: dict[str, MacroDef] = field(default_factory=dict)
    rules: dict[str, RuleDef] = field(default_factory=dict)
    required_engine_version: str | None = None
    notes: list[str] = field(default_factory=list)   # what was read but not used (plugin versions)


def load_rule_files(paths: list[Path], into: RuleFiles | None = None) -> RuleFiles:
    files = into or RuleFiles()
    for path in paths:
        _load_file(path, files)
    return files


def _load_file(path: Path, files: RuleFiles) -> None:
    try:
        text = read_small_file(path, MAX_BYTES)
    except OSError as exc:
        raise RuleLoadError(f"{path}: {why_unreadable(exc)}; give a readable rules file") from None
    try:
        root = yaml.compose(text.decode("utf-8", "replace"), Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise RuleLoadError(f"{where}: {getattr(exc, 'problem', None) or 'not valid YAML'}; fix the YAML there") from None
    except RecursionError:
        raise RuleLoadError(f"{path}: nested too deeply; a rules file is a list of flat items") from None
    if root is None:
        return
    if not isinstance(root, yaml.SequenceNode):
        raise RuleLoadError(f"{_where(path, root)}: a rules file is a YAML list of items (- rule: …, - macro: …)")
    for node in root.value:
        _load_item(path, node, files)


def _where(path: Path, node: yaml.Node) -> Where:
    return Where(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _item(path: Path, node: yaml.Node) -> tuple[dict[str, Any], dict[str, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise RuleLoadError(f"{_where(path, node)}: an item is a mapping (- rule: NAME …)")
    values: dict[str, Any] = {}
    nodes: dict[str, yaml.Node] = {}
    constructor = yaml.SafeLoader("")
    for key_node, value_node in node.value:
        key = str(key_node.value)
        nodes[key] = value_node
        values[key] = constructor.construct_object(value_node, deep=True)
    return values, nodes


def _condition(path: Path, what: str, node: yaml.Node, text: Any) -> Node:
    if not isinstance(text, str) or not text.strip():
        raise RuleLoadError(f"{_where(path, node)}: {what}: the condition is empty; give a condition")
    try:
        return parse(text)
    except RuleSyntaxError as exc:
        # a block scalar (>, |) starts on the next line; a plain or quoted one where its node starts
        first = node.start_mark.line + (2 if getattr(node, "style", None) in (">", "|") else 1)
        column = exc.column + (node.start_mark.column if exc.line == 1 and node.style not in (">", "|") else 0)
        raise RuleLoadError(f"{path}:{first + exc.line - 1}:{column}: {what}: {exc.message}; "
                            "fix the condition there") from None


def _load_item(path: Path, node: yaml.Node, files: RuleFiles) -> None:
    item, nodes = _item(path, node)
    where = _where(path, node)
    if "required_engine_version" in item:
        files.required_engine_version = str(item["required_engine_version"])
        if _version(files.required_engine_version) > ENGINE_VERSION:
            raise RuleLoadError(f"{where}: requires Falco engine version {files.required_engine_version}, newer "
                                f"than {'.'.join(map(str, ENGINE_VERSION))}, the syntax understood here")
        return
    if "required_plugin_versions" in item:
        files.notes.append(f"{where}: required_plugin_versions read, not used (no plugins here)")
        return
    kind = next((k for k in ("list", "macro", "rule") if k in item), None)
    if kind is None:
        raise RuleLoadError(f"{where}: an item is a list, a macro or a rule; this one has {', '.join(item) or 'nothing'}")
    name = item[kind]
    if not isinstance(name, str) or not name.strip():
        raise RuleLoadError(f"{where}: a {kind} needs a name")
    label = f"{kind} {name!r}"
    modes = _override_modes(where, label, item)
    if kind == "list":
        _load_list(files, name, item, modes, where, label)
    elif kind == "macro":
        _load_macro(path, files, name, item, nodes, modes, where, label)
    else:
        _load_rule(path, files, name, item, nodes, modes, where, label)


def _override_modes(where: Where, label: str, item: dict[str, Any]) -> dict[str, str]:
    """key → "append" or "replace" for an item that changes an earlier one."""
    if item.get("append") is True:
        return {key: "append" for key in ("items", "condition", "exceptions", "output", "desc", "tags")
                if key in item}
    override = item.get("override")
    if override is None:
        return {}
    if not isinstance(override, dict) or not all(v in ("append", "replace") for v in override.values()):
        raise RuleLoadError(f"{where}: {label}: override maps keys to append or replace")
    return dict(override)


def _load_list(files: RuleFiles, name: str, item: dict[str, Any], modes: dict[str, str], where: Where,
               label: str) -> None:
    items = item.get("items")
    if not isinstance(items, list):
        raise RuleLoadError(f"{where}: {label}: items must be a list (items: [a, b])")
    items = [str(i) for i in items]
    known = files.lists.get(name)
    if modes.get("items") == "append":
        if known is None:
            raise RuleLoadError(f"{where}: {label}: appends to a list that is not defined before it")
        known.items.extend(items)
    else:
        files.lists[name] = ListDef(name, items, where)


def _load_macro(path: Path, files: RuleFiles, name: str, item: dict[str, Any], nodes: dict[str, yaml.Node],
                modes: dict[str, str], where: Where, label: str) -> None:
    known = files.macros.get(name)
    node = nodes.get("condition", nodes["macro"])
    if modes.get("condition") == "append":
        if known is None:
            raise RuleLoadError(f"{where}: {label}: appends to a macro that is not defined before it")
        text = f"{known.text} {item.get('condition') or ''}"
        files.macros[name] = replace(known, text=text, condition=_condition(path, label, node, text))
        return
    text = item.get("condition")
    files.macros[name] = MacroDef(name, str(text), _condition(path, label, node, text), where)


def _load_rule(path: Path, files: RuleFiles, name: str, item: dict[str, Any], nodes: dict[str, yaml.Node],
               modes: dict[str, str], where: Where, label: str) -> None:
    known = files.rules.get(name)
    if known is not None and (modes or set(item) <= {"rule", "enabled", "override", "append"}):
        _change_rule(path, known, item, nodes, modes, where, label)
        return
    if modes:
        raise RuleLoadError(f"{where}: {label}: changes a rule that is not defined before it")
    missing = [key for key in ("condition", "output", "priority") if key not in item]
    if missing:
        raise RuleLoadError(f"{where}: {label}: needs {', '.join(missing)}")
    files.rules[name] = RuleDef(
        name=name, text=str(item["condition"]),
        condition=_condition(path, label, nodes["condition"], item["condition"]),
        output=str(item["output"]).strip(), priority=_priority(where, label, item["priority"]), where=where,
        desc=str(item.get("desc") or "").strip(), tags=tuple(str(t) for t in item.get("tags") or ()),
        enabled=bool(item.get("enabled", True)), source=str(item.get("source") or "syscall"),
        exceptions=_exceptions(where, label, item.get("exceptions")))


def _change_rule(path: Path, rule: RuleDef, item: dict[str, Any], nodes: dict[str, yaml.Node],
                 modes: dict[str, str], where: Where, label: str) -> None:
    if "enabled" in item:
        rule.enabled = bool(item["enabled"])
    for key, mode in modes.items():
        if key == "condition":
            text = f"{rule.text} {item['condition']}" if mode == "append" else str(item["condition"])
            rule.condition, rule.text = _condition(path, label, nodes["condition"], text), text
        elif key == "exceptions":
            new = _exceptions(where, label, item.get("exceptions"))
            rule.exceptions = _merge_exceptions(rule.exceptions, new) if mode == "append" else new
        elif key == "output":
            rule.output = f"{rule.output} {item['output']}".strip() if mode == "append" else str(item["output"])
        elif key == "priority":
            rule.priority = _priority(where, label, item["priority"])
        elif key == "tags":
            tags = tuple(str(t) for t in item.get("tags") or ())
            rule.tags = rule.tags + tags if mode == "append" else tags
        elif key == "desc":
            rule.desc = f"{rule.desc} {item['desc']}".strip() if mode == "append" else str(item["desc"])
        elif key == "enabled":
            rule.enabled = bool(item["enabled"])


def _merge_exceptions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Falco: an appended exception of a known name adds its values to it; a new name is added."""
    merged = [dict(e) for e in old]
    by_name = {e["name"]: e for e in merged}
    for exception in new:
        known = by_name.get(exception["name"])
        if known is not None and "fields" not in exception:
            known["values"] = list(known.get("values") or []) + list(exception.get("values") or [])
        else:
            merged.append(dict(exception))
            by_name[exception["name"]] = merged[-1]
    return merged


def _priority(where: Where, label: str, value: Any) -> str:
    text = str(value).strip().lower()
    text = _PRIORITY_ALIASES.get(text, text)
    if text not in PRIORITIES:
        raise RuleLoadError(f"{where}: {label}: priority {value!r} is not one of {', '.join(p.upper() for p in PRIORITIES)}")
    return text


def _exceptions(where: Where, label: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(e, dict) and "name" in e for e in value):
        raise RuleLoadError(f"{where}: {label}: exceptions is a list of {{name, fields, comps, values}}")
    return [dict(e) for e in value]


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in str(text).split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    if len(parts) == 1:  # an old-style integer engine version (e.g. 13)
        return (0, parts[0], 0)
    return tuple(parts)
