"""Falco's condition language, parsed with lark into a small tree.

    parse("spawned_process and proc.name in (shell_binaries, bash)")
    → And(MacroRef('spawned_process'), Check('proc.name', 'in', List(['shell_binaries', 'bash'])))

The grammar is Falco's: `and`/`or`/`not`, parentheses, a field check
`FIELD OP VALUE` (= == != < <= > >= contains icontains bcontains
startswith bstartswith endswith glob iglob pmatch regex), `FIELD in|
intersects|pmatch (LIST)`, `FIELD exists`, and a bare name: a macro.  A
value is a quoted string ('…' or "…") or a bare word (anything up to a
space, a comma or a parenthesis: /etc/shadow, O_CREAT, -1).  List items
that name a list are expanded later (compile.py), as Falco does.

A syntax error is a RuleSyntaxError with the line and column inside the
condition; the loader adds the file's own position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Union

from lark import Lark, Token, Transformer, UnexpectedEOF, UnexpectedInput, v_args

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> not_
         | atom
?atom: "(" or_expr ")"
     | check
     | MACRO -> macro
check: FIELD UNARY_OP                 -> unary
     | FIELD BINARY_OP value          -> binary
     | FIELD LIST_OP list             -> listed
     | FIELD PMATCH (list | value)    -> listed
list: "(" [item ("," item)*] ")"
?item: value
value: STRING | BARE
_OR.4: /or\b/
_AND.4: /and\b/
_NOT.4: /not\b/
UNARY_OP.3: /exists\b/
BINARY_OP.3: "==" | "=" | "!=" | "<=" | ">=" | "<" | ">"
           | /(contains|icontains|bcontains|startswith|bstartswith|endswith|glob|iglob|regex)\b/
LIST_OP.3: /(in|intersects)\b/
PMATCH.3: /pmatch\b/
FIELD.2: /[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)+(\[[^\]]*\])?/
MACRO.1: /[a-zA-Z_][a-zA-Z0-9_]*/
STRING: /"(\\.|[^"\\])*"/ | /'(\\.|[^'\\])*'/
BARE: /[^\s(),"']+/
%import common.WS
%ignore WS
"""


class RuleSyntaxError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


@dataclass(frozen=True)
class Check:
    field: str           # e.g. "proc.aname[2]"
    op: str              # "=", "in", "exists", …
    value: "Value | List | None"


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool


@dataclass(frozen=True)
class List:
    items: tuple[Value, ...]


@dataclass(frozen=True)
class And:
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    part: "Node"


@dataclass(frozen=True)
class MacroRef:
    name: str


Node = Union[Check, And, Or, Not, MacroRef]


def _unquote(text: str) -> str:
    body = text[1:-1]
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


@v_args(inline=True)
class _ToTree(Transformer):  # type: ignore[type-arg]
    def or_expr(self, *parts: Node) -> Node:
        return Or(tuple(parts))

    def and_expr(self, *parts: Node) -> Node:
        return And(tuple(parts))

    def not_(self, part: Node) -> Node:
        return Not(part)

    def macro(self, name: Token) -> Node:
        return MacroRef(str(name))

    def unary(self, field: Token, op: Token) -> Node:
        return Check(str(field), str(op), None)

    def binary(self, field: Token, op: Token, value: Value) -> Node:
        return Check(str(field), "=" if str(op) == "==" else str(op), value)

    def listed(self, field: Token, op: Token, items: "List | Value") -> Node:
        return Check(str(field), str(op), items)

    def list(self, *items: Value | None) -> List:
        return List(tuple(i for i in items if i is not None))

    def value(self, token: Token) -> Value:
        text = str(token)
        if token.type == "STRING":
            return Value(_unquote(text), True)
        return Value(text, False)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)


def parse(condition: str) -> Node:
    try:
        tree = _parser().parse(condition)
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        if isinstance(exc, UnexpectedEOF) or (token is not None and token.type == "$END"):
            lines = condition.rstrip().split("\n")
            raise RuleSyntaxError("the condition ends too early", len(lines), len(lines[-1]) + 1) from None
        if token is not None:
            what = f"unexpected {str(token)!r}"
        else:
            what = f"unexpected {condition[exc.pos_in_stream:][:20].split(chr(10))[0]!r}"
        raise RuleSyntaxError(what, max(exc.line, 1), max(exc.column, 1)) from None
    result: Node = _ToTree().transform(tree)
    return result
