"""Rules → conditions compiled once: macros and lists expanded, fields bound.

Each condition becomes a small tree (codegen.py): `and`, `or`, `not` and
checks, each check bound to its field's getter and its already converted
value (an int, a set, a compiled pattern); codegen renders the trees as
generated Python.  A rule that needs a field this side cannot give
(fields.UNAVAILABLE) is kept and reported disabled with the reason.  Each
rule also gets the Eunomia event types it can match, from its `evt.type`
checks, so the engine tests an event only against the rules that can
match it.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Callable

from .codegen import IR, Leaf, predicate
from .evttypes import EUNOMIA_TYPES
from .fields import FIELDS, NAME_FIELDS, UNAVAILABLE, split_field
from .loader import RuleDef, RuleFiles, Where
from .syntax import And, Check, List, MacroRef, Node, Not, Or, Value, _unquote

Event = dict[str, Any]
Predicate = Callable[[Event, Any], bool]
Compiled = tuple[IR, "set[str] | None"]   # the condition's tree, the Falco event types it can match


class RuleCompileError(ValueError):
    """The rule cannot be compiled (an unknown macro, a loop, a bad value): FILE:LINE: why."""


class _Disabled(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class CompiledRule:
    rule: RuleDef
    test: Predicate | None         # None: disabled (see `disabled`)
    kinds: frozenset[str] | None   # Eunomia event types it can match; None: any
    disabled: str | None = None    # why it does not run (its `enabled: false`, an unavailable field, …)
    ir: IR = False                 # the condition's tree, for codegen.build


def compile_rules(files: RuleFiles) -> list[CompiledRule]:
    compiler = _Compiler(files)
    out = []
    for rule in files.rules.values():
        condition = compiler.with_exceptions(rule)
        try:
            ir, falco_types = compiler.node(condition, ())
        except _Disabled as why:
            out.append(CompiledRule(rule, None, None, why.reason))
            continue
        except RuleCompileError as exc:
            raise RuleCompileError(f"{rule.where}: rule {rule.name!r}: {exc}") from None
        kinds = None if falco_types is None else frozenset(k for t in falco_types for k in EUNOMIA_TYPES.get(t, ()))
        disabled = None
        if not rule.enabled:
            disabled = "enabled: false"
        elif kinds is not None and not kinds:
            disabled = (f"it matches only event types that Eunomia does not produce: "
                        f"{', '.join(sorted(falco_types or ()))}")
        test = predicate(ir, f"rule {rule.name!r}") if disabled is None else None
        out.append(CompiledRule(rule, test, kinds, disabled, ir))
    return out


class _Compiler:
    def __init__(self, files: RuleFiles) -> None:
        self.files = files
        self._lists: dict[str, list[str]] = {}
        self._macros: dict[str, Compiled] = {}

    # -- lists ---------------------------------------------------------------
    def list_items(self, name: str, stack: tuple[str, ...] = ()) -> list[str]:
        if name in self._lists:
            return self._lists[name]
        if name in stack:
            raise RuleCompileError(f"list {name!r} contains itself ({' → '.join((*stack, name))})")
        items: list[str] = []
        for item in self.files.lists[name].items:
            if len(item) >= 2 and item[0] in "\"'" and item[-1] == item[0]:
                items.append(_unquote(item))  # Falco pastes items into the condition: quotes are syntax
            elif item in self.files.lists:
                items.extend(self.list_items(item, (*stack, name)))
            else:
                items.append(item)
        self._lists[name] = items
        return items

    def values(self, value: Value | List) -> list[str]:
        """A check's right side as strings, list names expanded."""
        items = value.items if isinstance(value, List) else (value,)
        out: list[str] = []
        for item in items:
            if not item.quoted and item.text in self.files.lists:
                out.extend(self.list_items(item.text))
            else:
                out.append(item.text)
        return out

    # -- exceptions ------------------------------------------------------------
    def with_exceptions(self, rule: RuleDef) -> Node:
        alternatives: list[Node] = []
        for exception in rule.exceptions:
            fields, comps, values = exception.get("fields"), exception.get("comps"), exception.get("values") or []
            if isinstance(fields, str):  # one field: values are its values
                comp = comps if isinstance(comps, str) else "in"
                if values:
                    alternatives.append(Check(fields, comp, List(tuple(Value(str(v), " " in str(v)) for v in values))
                                              if comp in ("in", "intersects", "pmatch") else Value(str(values[0]), True)))
                continue
            fields = list(fields or [])
            comps = list(comps or ["="] * len(fields))
            for row in values:
                parts: list[Node] = []
                for name, comp, value in zip(fields, comps, row):
                    if isinstance(value, list):
                        parts.append(Check(name, comp, List(tuple(Value(str(v), False) for v in value))))
                    else:
                        parts.append(Check(name, comp, Value(str(value), False)))
                if parts:
                    alternatives.append(And(tuple(parts)))
        if not alternatives:
            return rule.condition
        return And((rule.condition, Not(Or(tuple(alternatives)))))

    # -- conditions ------------------------------------------------------------
    def node(self, node: Node, stack: tuple[str, ...]) -> Compiled:
        if isinstance(node, And):
            compiled, unavailable = [], None
            for part in node.parts:
                try:
                    compiled.append(self.node(part, stack))
                except _Disabled as why:
                    unavailable = unavailable or why
            constrained = [k for _, k in compiled if k is not None]
            kinds = set.intersection(*constrained) if constrained else None
            if kinds is not None and not _produced(kinds):
                # only for event types Eunomia never emits (sendto, …): never true,
                # whatever else it asks for
                return False, kinds
            if unavailable is not None:
                raise unavailable
            return ("and", tuple(t for t, _ in compiled)), kinds
        if isinstance(node, Or):
            compiled = [self.node(p, stack) for p in node.parts]
            possible = [(t, k) for t, k in compiled if k is None or _produced(k)]
            compiled = possible or compiled[:1]  # a branch for events Eunomia never emits cannot match
            kinds = None if any(k is None for _, k in compiled) else set().union(*(k for _, k in compiled if k))
            return ("or", tuple(t for t, _ in compiled)), kinds
        if isinstance(node, Not):
            inner, _ = self.node(node.part, stack)
            return ("not", inner), None
        if isinstance(node, MacroRef):
            macro = self.files.macros.get(node.name)
            if macro is None:
                raise RuleCompileError(f"no macro or list {node.name!r} (a misspelt name, or a field without its "
                                       "class, e.g. proc.name)")
            if node.name in stack:
                raise RuleCompileError(f"macro {node.name!r} uses itself ({' → '.join((*stack, node.name))})")
            # one tree per macro, whoever uses it: the generated code evaluates it once per event
            compiled = self._macros.get(node.name)
            if compiled is None:
                compiled = self._macros[node.name] = self.node(macro.condition, (*stack, node.name))
            return compiled
        return self.check(node)

    def check(self, check: Check) -> Compiled:
        base, arg = split_field(check.field)
        if base in UNAVAILABLE or check.field in UNAVAILABLE:
            raise _Disabled(f"needs {check.field}: {UNAVAILABLE.get(check.field) or UNAVAILABLE[base]}")
        definition = FIELDS.get(base)
        if definition is None:
            raise _Disabled(f"needs {check.field}, a field Eunomia does not support")
        get, kind = definition.get, definition.kind
        kinds: set[str] | None = None
        if base == "evt.type" and check.op in ("=", "in") and check.value is not None:
            kinds = set(self.values(check.value))
        compare = self.comparison(check, kind)
        if kinds is not None:  # evt.type = / in: which Eunomia event types match is known now
            ok = frozenset(k for name in kinds for k in EUNOMIA_TYPES.get(name, ()))
            return Leaf(get, arg, "evt_type", compare, ok=ok, field=check.field), kinds
        dear = kind in ("ip", "strs") or check.op in ("regex", "glob", "iglob")
        if kind == "strs":  # several values (proc.aname, evt.type's names): true when one of them matches
            if check.op == "exists":
                return Leaf(get, arg, "strs_exists", dear=dear, field=check.field), kinds
            if check.op == "!=":  # … and != when none of them is the value
                equal = self.comparison(Check(check.field, "=", check.value), kind)
                return Leaf(get, arg, "strs_ne", equal, dear=dear, field=check.field), kinds
            watch = tuple(self.values(check.value)) if base in NAME_FIELDS and check.value is not None else ()
            return Leaf(get, arg, "strs_any", compare, dear=dear, field=check.field, watch=watch), kinds
        return Leaf(get, arg, "value", compare, self._inline(check, kind), expr=definition.expr,
                    kind_value=definition.kind_value, dear=dear, field=check.field, op=check.op,
                    constant=self._constant(check, kind), decide=definition.decide), kinds

    def _constant(self, check: Check, kind: str) -> Any:
        """The check's one value, converted (None: none, or several)."""
        if check.value is None or check.op in ("in", "intersects", "pmatch", "exists"):
            return None
        items = self.values(check.value)
        return _convert(kind, items[0], check) if len(items) == 1 else None

    def _inline(self, check: Check, kind: str) -> tuple[str, Any] | None:
        """= != in on plain values, written into the generated code as constants."""
        if check.value is None or kind == "ip" or check.op not in ("=", "!=", "in"):
            return None
        items = self.values(check.value)
        if check.op == "in":
            return "in", frozenset(_convert(kind, i, check) for i in items)
        if len(items) != 1:
            return None
        return ("==" if check.op == "=" else "!="), _convert(kind, items[0], check)

    def comparison(self, check: Check, kind: str) -> Callable[[Any], bool]:
        op, value = check.op, check.value
        if op == "exists":
            return lambda v: v is not None
        assert value is not None
        items = self.values(value)
        if op in ("in", "intersects", "pmatch"):
            if kind == "ip":
                networks = [_network(i) for i in items if "/" in i]
                exact = {i for i in items if "/" not in i}
                return lambda v: str(v) in exact or _inside(v, networks)
            if op == "pmatch":
                exact = frozenset(p.rstrip("/") for p in items)
                below = tuple(p + "/" for p in exact)
                return lambda v: v in exact or str(v).startswith(below)
            wanted = {_convert(kind, i, check) for i in items}
            return lambda v: v in wanted
        if len(items) != 1:
            raise RuleCompileError(f"{check.field} {op} takes one value, not a list")
        want = _convert(kind, items[0], check)
        text = str(want)
        if kind == "ip" and op in ("=", "!=") and "/" in text:  # an address against a network
            inside, networks = op == "=", [_network(text)]
            return lambda v: _inside(v, networks) == inside
        ops: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: v == want, "!=": lambda v: v != want,
            "<": lambda v: v < want, "<=": lambda v: v <= want, ">": lambda v: v > want, ">=": lambda v: v >= want,
            "contains": lambda v: text in str(v), "icontains": lambda v: text.lower() in str(v).lower(),
            "startswith": lambda v: str(v).startswith(text), "endswith": lambda v: str(v).endswith(text),
            "glob": lambda v: fnmatch.fnmatchcase(str(v), text),
            "iglob": lambda v: fnmatch.fnmatchcase(str(v).lower(), text.lower()),
        }
        if op in ("bcontains", "bstartswith"):
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raise RuleCompileError(f"{check.field} {op} takes hex bytes, not {text!r}") from None
            if op == "bcontains":
                return lambda v: raw in str(v).encode()
            return lambda v: str(v).encode().startswith(raw)
        if op == "regex":
            try:
                pattern = re.compile(text)
            except re.error as exc:
                raise RuleCompileError(f"{check.field} regex {text!r}: {exc}") from None
            return lambda v: pattern.fullmatch(str(v)) is not None
        if op in ("<", "<=", ">", ">=") and kind not in ("int",):
            raise RuleCompileError(f"{check.field} is not a number: {op} does not apply")
        return ops[op]


def _network(cidr: str) -> Any:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise RuleCompileError(f"{cidr!r} is not a network (a CIDR such as 10.0.0.0/8)") from None


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> Any:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _inside(value: Any, networks: list[Any]) -> bool:
    address = _address(str(value))
    return address is not None and any(address.version == n.version and address in n for n in networks)


def _produced(falco_types: set[str]) -> bool:
    """Does Eunomia emit any event of these Falco event types?"""
    return any(EUNOMIA_TYPES.get(t) for t in falco_types)


def _convert(kind: str, text: str, check: Check) -> Any:
    if kind == "int":
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise RuleCompileError(f"{check.field} is a number, not {text!r}") from None
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise RuleCompileError(f"{check.field} is true or false, not {text!r}")
        return text.lower() == "true"
    return text


__all__ = ["CompiledRule", "RuleCompileError", "Where", "compile_rules"]
