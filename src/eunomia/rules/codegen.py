"""Rules as generated Python: a condition becomes one expression, and the
rules an event kind can match become one function for that kind.

    evaluate = build([(rule, rule.ir), …], "open")    # → [rules that matched]

The compiler (compile.py) turns a condition into a small tree: `and`,
`or`, `not`, True/False, and leaves (one check of one field).  Here the
tree is folded for the event kind — an `evt.type` check is decided once,
when the function is made, so whole rules drop out — and rendered as
source in which each field is read at most once per event, however many
rules ask for it: the first use stores it in a local (`:=`), later ones
read the local.  `and`/`or` keep Python's short-circuit, so a field no
rule gets to is never read.  A check on a field the event does not have
(None) is false, `!=` too, as in Falco.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

from .evttypes import DYNAMIC_TYPE_KINDS
from .fields import EXPR_NAMESPACE

Event = dict[str, Any]


@dataclass(frozen=True, eq=False)
class Leaf:
    """One check: field getter (and its [arg]), how its value is tested."""

    getter: Callable[[Event, Any, str | None], Any]
    arg: str | None
    mode: str                      # value | strs_any | strs_exists | strs_ne | evt_type
    compare: Callable[[Any], bool] | None = None
    inline: tuple[str, Any] | None = None     # ("==", constant), ("!=", constant), ("in", frozenset)
    ok: frozenset[str] | None = None          # evt_type: the Eunomia kinds it can be true for
    expr: str | None = None                   # the field as an expression of `e` (FieldDef.expr)
    kind_value: Callable[[str], Any] | None = None  # the field's value from the kind alone (evt.dir)
    dear: bool = False                        # costly to evaluate: tried after the other checks
    field: str = ""                           # the field's name, as the rule wrote it
    watch: tuple[str, ...] = ()               # fd.*.name: the host names it compares with (to resolve)
    op: str = ""                              # the check's operator and its one constant (else None)
    constant: Any = None
    decide: Callable[..., "bool | None"] | None = None  # FieldDef.decide: settled by kind and outcome


def leaves(ir: IR) -> list[Leaf]:
    """The checks of a condition."""
    if isinstance(ir, bool):
        return []
    if isinstance(ir, Leaf):
        return [ir]
    op, parts = ir
    return leaves(parts) if op == "not" else [leaf for p in parts for leaf in leaves(p)]


def names_of(ir: IR) -> set[str]:
    """The host names a condition compares addresses with (fd.sip.name = …)."""
    return {name for leaf in leaves(ir) for name in leaf.watch}


def fields_of(ir: IR) -> set[str]:
    """The fields a condition reads."""
    return {leaf.field for leaf in leaves(ir)}


IR = Union[bool, Leaf, tuple]   # ("and", (IR, …)), ("or", (IR, …)), ("not", IR)


def any_of(values: Any, compare: Callable[[Any], bool]) -> bool:
    """A field of several values (proc.aname, evt.type's names): true when one matches."""
    if values is None:
        return False
    if isinstance(values, list):
        return any(v is not None and compare(v) for v in values)
    return compare(values)


UNKNOWN = object()  # an outcome not known when the function is made


def fold(ir: IR, kind: str | None, memo: dict[int, IR] | None = None, outcome: Any = UNKNOWN) -> IR:
    """Constants folded; with a kind, its `evt.type` checks decided, and with
    an outcome (the event worked, failed, has no result) the checks it
    settles.  A tree shared by several rules (a macro) folds to one shared
    tree (memo)."""
    if isinstance(ir, bool):
        return ir
    return _fold(ir, kind, {} if memo is None else memo, outcome)


def _fold(ir: IR, kind: str | None, memo: dict[int, IR], outcome: Any) -> IR:
    if isinstance(ir, bool):
        return ir
    done = memo.get(id(ir))
    if done is None:
        done = memo[id(ir)] = _fold_one(ir, kind, memo, outcome)
    return done


def _fold_one(ir: IR, kind: str | None, memo: dict[int, IR], outcome: Any) -> IR:
    if isinstance(ir, Leaf):
        if ir.decide is not None and kind is not None and outcome is not UNKNOWN and ir.mode == "value":
            decided = ir.decide(kind, outcome, ir.op, ir.constant, ir.compare)
            if decided is not None:
                return bool(decided)
        if ir.kind_value is not None and kind is not None and ir.mode == "value":
            value = ir.kind_value(kind)
            return value is not None and bool(ir.compare is not None and ir.compare(value))
        if ir.mode == "evt_type" and kind is not None:
            assert ir.ok is not None
            if kind not in ir.ok:
                return False
            return ir if kind in DYNAMIC_TYPE_KINDS else True
        return ir
    op, parts = ir
    if op == "not":
        inner = _fold(parts, kind, memo, outcome)
        return (not inner) if isinstance(inner, bool) else ("not", inner)
    folded = [_fold(p, kind, memo, outcome) for p in parts]
    absorbing = op == "or"   # True absorbs an or, False an and
    if any(p is absorbing for p in folded):
        return absorbing
    left = tuple(p for p in folded if not isinstance(p, bool))
    if not left:
        return not absorbing
    # checks are pure: the cheap ones go first, so the short-circuit skips the dear ones
    # (an address against networks, a process's ancestors) on most events
    left = tuple(sorted(left, key=cost))
    return left[0] if len(left) == 1 else (op, left)


def cost(ir: IR) -> int:
    """0 for most checks, 1 for the dear ones (an address against networks, a field of several
    values such as the ancestors, a pattern) and the trees holding one: they go last, the
    rules' own order kept otherwise (it tends to put the selective checks first)."""
    if isinstance(ir, bool):
        return 0
    if isinstance(ir, Leaf):
        return int(ir.dear)
    op, parts = ir
    return cost(parts) if op == "not" else max((cost(p) for p in parts), default=0)


class _Source:
    """Renders folded trees; names the constants and getters it binds."""

    def __init__(self, kind: str | None, shared: set[int] | None = None) -> None:
        self.kind = kind
        self.namespace: dict[str, Any] = {"_U": _UNSET, "any_of": any_of, **EXPR_NAMESPACE}
        self.fields: dict[tuple[int, str | None], str] = {}
        self.shared = shared or set()           # ids of subtrees more than one rule holds
        self.subtrees: dict[int, str] = {}      # id → the local keeping its value
        self.n = 0

    def bind(self, value: Any) -> str:
        self.n += 1
        name = f"k{self.n}"
        self.namespace[name] = value
        return name

    def value(self, leaf: Leaf) -> str:
        key = (id(leaf.getter), leaf.arg)
        var = self.fields.get(key)
        if var is None:
            var = self.fields[key] = f"f{len(self.fields)}"
            self.namespace[f"g_{var}"], self.namespace[f"a_{var}"] = leaf.getter, leaf.arg
        read = f"({leaf.expr})" if leaf.expr is not None else f"g_{var}(e, c, a_{var})"
        return f"({var} if {var} is not _U else ({var} := {read}))"

    def render(self, ir: IR) -> str:
        if isinstance(ir, bool):
            return repr(ir)
        if isinstance(ir, Leaf):
            return self.leaf(ir)
        op, parts = ir
        if op == "not":
            text = f"(not {self.render(parts)})"
        else:
            text = "(" + f" {op} ".join(self.render(p) for p in parts) + ")"
        if id(ir) not in self.shared:
            return text
        var = self.subtrees.get(id(ir))  # a macro several rules use: its value once per event
        if var is None:
            var = self.subtrees[id(ir)] = f"m{len(self.subtrees)}"
        return f"({var} if {var} is not _U else ({var} := {text}))"

    def leaf(self, leaf: Leaf) -> str:
        value = self.value(leaf)
        if leaf.mode == "evt_type":  # generic (no kind): the kind first, then the names
            prefix = "" if self.kind is not None else f"e.get('type') in {self.bind(leaf.ok)} and "
            return f"({prefix}any_of({value}, {self.bind(leaf.compare)}))"
        if leaf.mode == "strs_any":
            return f"any_of({value}, {self.bind(leaf.compare)})"
        if leaf.mode == "strs_exists":
            return f"bool({value})"
        if leaf.mode == "strs_ne":
            return f"((_t := {value}) is not None and not any_of(_t, {self.bind(leaf.compare)}))"
        if leaf.inline is not None:
            op, constant = leaf.inline
            if op == "==":
                return f"({value} == {self.bind(constant)})"
            if op == "in":
                return f"({value} in {self.bind(constant)})"
            return f"((_t := {value}) is not None and _t != {self.bind(constant)})"
        return f"((_t := {value}) is not None and {self.bind(leaf.compare)}(_t))"


_UNSET = object()


def build(rules: list[tuple[Any, IR]], kind: str | None, name: str = "rules",
          outcome: Any = UNKNOWN) -> Callable[[Event, Any], list[Any]]:
    """One function (event, context) → the rules (first items) whose condition holds, for events of
    this kind (None: any) and, when given, this outcome (True worked, False failed, None no result)."""
    memo: dict[int, IR] = {}
    folded = [(n, rule, fold(ir, kind, memo, outcome)) for n, (rule, ir) in enumerate(rules)]
    folded = [(n, rule, ir) for n, rule, ir in folded if ir is not False]
    if not folded:
        return _nothing
    source = _Source(kind, _shared([ir for _, _, ir in folded]))
    tests = []
    for n, rule, ir in folded:
        source.namespace[f"r{n}"] = rule
        tests.append((n, source.render(ir)))
    lines = ["def evaluate(e, c):"]
    local = [*source.fields.values(), *source.subtrees.values()]
    if local:
        lines.append("    " + " = ".join(local) + " = _U")
    lines.append("    out = []")
    for n, expression in tests:
        lines += [f"    if {expression}:", f"        out.append(r{n})"]
    lines.append("    return out")
    state = "" if outcome is UNKNOWN else f", {'no result' if outcome is None else ('worked' if outcome else 'failed')}"
    code = compile("\n".join(lines) + "\n", f"<{name} for {kind or 'any event'}{state}>", "exec")
    exec(code, source.namespace)  # noqa: S102 - source generated above from the compiled rules
    evaluate: Callable[[Event, Any], list[Any]] = source.namespace["evaluate"]
    return evaluate


def _nothing(e: Event, c: Any) -> list[Any]:
    return []


def _shared(trees: list[IR]) -> set[int]:
    """Ids of the and/or/not subtrees met more than once (by identity: a macro's one tree)."""
    seen: set[int] = set()
    shared: set[int] = set()
    stack = list(trees)
    while stack:
        ir = stack.pop()
        if not isinstance(ir, tuple):
            continue
        if id(ir) in seen:
            shared.add(id(ir))
            continue  # its parts were counted the first time
        seen.add(id(ir))
        op, parts = ir
        stack.extend([parts] if op == "not" else parts)
    return shared


def predicate(ir: IR, name: str) -> Callable[[Event, Any], bool]:
    """One rule's condition as a function (event, context) → bool, for any kind."""
    marker = object()
    evaluate = build([(marker, ir)], None, name)
    return lambda e, c: bool(evaluate(e, c))
